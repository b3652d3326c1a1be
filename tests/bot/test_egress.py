"""Where webhooks may go, as a table."""

from __future__ import annotations

import pytest

from bot.egress import DEFAULT_EGRESS, Egress

PRIVATE = Egress.parse(["default", "private"])


@pytest.mark.parametrize(
    ("url", "default_refuses", "private_refuses"),
    [
        ("https://agent.example.com/hook", False, False),  # names are checked when resolved
        ("http://169.254.169.254/latest/meta-data/", True, True),
        ("http://[fd00:ec2::254]/", True, True),
        ("http://[::ffff:169.254.169.254]/", True, True),  # IPv4 hidden in IPv6
        ("http://100.100.100.200/", True, True),
        ("http://[fe80::1%25eth0]/", True, True),
        ("http://127.0.0.1:8080/hook", False, True),
        ("http://[::1]/hook", False, True),
        ("http://10.2.3.4/hook", False, True),
        ("http://172.20.0.1/hook", False, True),
        ("http://192.168.1.1/hook", False, True),
        ("http://8.8.8.8/hook", False, False),
    ],
)
def test_refusals(url: str, default_refuses: bool, private_refuses: bool) -> None:
    assert (DEFAULT_EGRESS.refusal(url) is not None) is default_refuses
    assert (PRIVATE.refusal(url) is not None) is private_refuses


def test_a_typo_in_the_deny_list_is_an_error_that_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match="'privat' is not a network"):
        Egress.parse(["privat"])
    assert (
        Egress.parse([]).refusal("http://169.254.169.254/") is None
    )  # an empty list denies nothing
