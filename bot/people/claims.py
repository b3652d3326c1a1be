"""Owner claims (pure): what an agent says about who owns its run, reduced to what is verified.

Agents are semi-trusted: the identities they name route messages, but never link identities to
one another nor grant anyone a right. A chat identity becomes a person's only through a path an
admin or the platform verifies (`opslayer people add`, Slack's verified email, Teams' user
principal name). So a claim is matched identity by identity against the people opslayer knows:
- identities that all belong to one known person: that person owns the run;
- identities belonging to different people, or some to nobody: the run goes to the first known
  person (email, then Slack, then Teams) and the rest is *unverified*: audited, shown on the run,
  never linked;
- nobody known: a new person is made from ONE identity (the anchor: the email if claimed, since
  Slack and Teams can each verify an email; else the Slack id, else the Teams id), the others
  stay unverified. Whoever proves that one identity acts as that person, and nobody else.
  The person is named by that identity, not by the name the agent claimed (an agent could
  call anyone "Admin"): the claimed name stays on the run's claim, and a name comes from an
  admin (`opslayer people add`) or the platform that links them (Slack's or Teams' profile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opslayer.bot.people.model import Identity, Person

# The order in which claimed identities are trusted to name the owner.
IDENTITY_FIELDS = ("email", "slack_user_id", "teams_user_id")


def claimed_fields(identity: Identity) -> tuple[str, ...]:
    """The identity fields a claim sets, in trust order."""
    return tuple(f for f in IDENTITY_FIELDS if getattr(identity, f))


@dataclass(frozen=True, slots=True)
class ClaimResolution:
    """Who owns a run after its claim was checked against the people opslayer knows."""

    owner: Person | None  # a known person; None: make a new one from `anchor`
    anchor: Identity  # a single identity (never the claimed name) to make the new person of
    unverified: tuple[str, ...]  # claimed fields that are not the owner's own: never linked


def resolve_claim(claim: Identity, holders: Mapping[str, Person]) -> ClaimResolution:
    """Reduce `claim` to its verified part; `holders` maps each claimed field to the known
    person who holds that identity (fields nobody holds are absent)."""
    fields = claimed_fields(claim)
    if not fields:
        raise ValueError("an owner claim needs at least one identity")
    owner = next((holders[f] for f in fields if f in holders), None)
    if owner is not None:
        unverified = tuple(f for f in fields if f not in holders or holders[f].id != owner.id)
        return ClaimResolution(owner=owner, anchor=Identity(), unverified=unverified)
    first = fields[0]
    anchor = Identity(**{first: getattr(claim, first)})
    return ClaimResolution(owner=None, anchor=anchor, unverified=fields[1:])
