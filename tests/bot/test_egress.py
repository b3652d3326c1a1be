"""Where webhooks may go, as a table."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import HttpUrl, TypeAdapter

from opslayer.adapters.webhooks.resolver import GuardedResolver
from opslayer.bot.commands.egress import DEFAULT_EGRESS, Egress

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


# Every way to spell an address (as the agent wrote it; registration normalises it with the
# URL parser, as pydantic does), and whether it must be refused under `default` and under
# `default,private`. The unspecified addresses reach this host: refused always.
SPELLINGS = [
    # spelling, default refuses, default+private refuses
    ("http://0.0.0.0:9/", True, True),
    ("http://0:9/", True, True),
    ("http://0x0:9/", True, True),
    ("http://[::]:9/", True, True),
    ("http://[0:0:0:0:0:0:0:0]:9/", True, True),
    ("http://127.0.0.1:9/", False, True),
    ("http://2130706433:9/", False, True),  # decimal
    ("http://0x7f000001:9/", False, True),  # hex
    ("http://0x7f.1:9/", False, True),  # short, hex
    ("http://127.1:9/", False, True),  # short
    ("http://017700000001:9/", False, True),  # octal
    ("http://[::ffff:127.0.0.1]:9/", False, True),  # IPv4-mapped IPv6
    ("http://[::ffff:7f00:1]:9/", False, True),
    ("http://[::127.0.0.1]:9/", False, True),  # IPv4-compatible IPv6
    ("http://[64:ff9b::7f00:1]:9/", False, True),  # NAT64
    ("http://[2002:7f00:1::]:9/", False, True),  # 6to4
    ("http://[::1]:9/", False, True),
    ("http://2852039166/", True, True),  # 169.254.169.254, decimal
    ("http://0xa9fea9fe/", True, True),
    ("http://[::ffff:a9fe:a9fe]/", True, True),
    ("http://[64:ff9b::a9fe:a9fe]/", True, True),
    ("http://169.254.169.254./", True, True),  # a trailing dot
    ("http://10.1:9/", False, True),  # 10.0.0.1
    ("http://[::ffff:10.0.0.1]/", False, True),
    ("http://1.1.1.1/", False, False),
    ("http://[2606:4700:4700::1111]/", False, False),
]


@pytest.mark.parametrize(("spelling", "default_refuses", "private_refuses"), SPELLINGS)
def test_every_spelling_of_an_address_is_refused_at_registration(
    spelling: str, default_refuses: bool, private_refuses: bool
) -> None:
    stored = str(TypeAdapter(HttpUrl).validate_python(spelling))
    assert (DEFAULT_EGRESS.refusal(stored) is not None) is default_refuses, stored
    assert (PRIVATE.refusal(stored) is not None) is private_refuses, stored
    assert (Egress.parse([]).refusal(stored) is not None) is stored.startswith(
        ("http://0.0.0.0", "http://[::]")
    )


@pytest.mark.parametrize(("spelling", "default_refuses", "private_refuses"), SPELLINGS)
async def test_a_name_resolving_to_any_address_is_refused_at_delivery(
    spelling: str, default_refuses: bool, private_refuses: bool
) -> None:
    """The resolver of the delivery session: a name whose DNS answer is the address."""
    host = TypeAdapter(HttpUrl).validate_python(spelling).host
    assert host is not None
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    class Dns(AbstractResolver):
        async def resolve(
            self, name: str, port: int = 0, family_: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            return [
                {
                    "hostname": name,
                    "host": address,
                    "port": port,
                    "family": family,
                    "proto": 0,
                    "flags": 0,
                }
            ]

        async def close(self) -> None:
            return None

    for egress, refuses in ((DEFAULT_EGRESS, default_refuses), (PRIVATE, private_refuses)):
        resolver = GuardedResolver(egress, inner=Dns())
        if refuses:
            with pytest.raises(OSError, match="OPSLAYER_WEBHOOK_DENY"):
                await resolver.resolve("agent.example", 443)
        else:
            assert [r["host"] for r in await resolver.resolve("agent.example", 443)] == [address]
