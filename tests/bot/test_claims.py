"""Owner claims reduced to their verified part, as a table (pure)."""

from __future__ import annotations

import pytest

from opslayer.bot.people.claims import resolve_claim
from opslayer.bot.people.model import Identity, Person

DAVE = Person(id="per_dave", name="Dave", email="dave@corp.example", slack_user_id="UDAVE")
EVE = Person(id="per_eve", name="Eve", slack_user_id="UEVE")


@pytest.mark.parametrize(
    ("claim", "holders", "owner", "anchor", "unverified"),
    [
        # every claimed identity is Dave's: Dave, nothing unverified
        (Identity(email="dave@corp.example"), {"email": DAVE}, DAVE, None, ()),
        (
            Identity(email="dave@corp.example", slack_user_id="UDAVE"),
            {"email": DAVE, "slack_user_id": DAVE},
            DAVE,
            None,
            (),
        ),
        # Dave by email, a Slack id nobody holds: Dave, the Slack id is never linked
        (
            Identity(email="dave@corp.example", slack_user_id="UEVIL"),
            {"email": DAVE},
            DAVE,
            None,
            ("slack_user_id",),
        ),
        # two known people: the email wins, the other is unverified
        (
            Identity(email="dave@corp.example", slack_user_id="UEVE"),
            {"email": DAVE, "slack_user_id": EVE},
            DAVE,
            None,
            ("slack_user_id",),
        ),
        # only the Slack id is known: its holder, the unknown email is unverified
        (
            Identity(email="nobody@corp.example", slack_user_id="UEVE"),
            {"slack_user_id": EVE},
            EVE,
            None,
            ("email",),
        ),
        # nobody known: a new person of the email alone; chat ids stay unverified
        (
            Identity(email="root@corp.example", slack_user_id="UEVIL", name="Root"),
            {},
            None,
            Identity(email="root@corp.example"),  # the claimed name "Root" is not carried
            ("slack_user_id",),
        ),
        (
            Identity(slack_user_id="UNEW", teams_user_id="aad-new"),
            {},
            None,
            Identity(slack_user_id="UNEW"),
            ("teams_user_id",),
        ),
        (Identity(teams_user_id="aad-new"), {}, None, Identity(teams_user_id="aad-new"), ()),
    ],
)
def test_claim_resolves_to_its_verified_part(
    claim: Identity,
    holders: dict[str, Person],
    owner: Person | None,
    anchor: Identity | None,
    unverified: tuple[str, ...],
) -> None:
    resolution = resolve_claim(claim, holders)
    assert resolution.owner == owner
    assert resolution.unverified == unverified
    if anchor is not None:
        assert resolution.anchor == anchor


def test_claim_without_identity_is_refused() -> None:
    with pytest.raises(ValueError):
        resolve_claim(Identity(name="nobody"), {})
