"""Who may do what: owners, an approval's approvers, and admins (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opslayer.bot.approvals.model import Approval
from opslayer.bot.people.model import Person
from opslayer.bot.runs.model import Run


@dataclass(frozen=True, slots=True)
class Admins:
    """People with every right, from `OPSLAYER_ADMINS` (`slack:U1,teams:<aad id>,email:a@b`)."""

    slack: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    email: frozenset[str] = frozenset()

    @staticmethod
    def parse(entries: Iterable[str]) -> Admins:
        """Read `kind:value` entries; an unknown kind is an error, not silently ignored."""
        found: dict[str, set[str]] = {"slack": set(), "teams": set(), "email": set()}
        for entry in entries:
            kind, _, value = entry.partition(":")
            if kind not in found or not value:
                raise ValueError(f"admin {entry!r}: expected slack:ID, teams:ID or email:ADDRESS")
            found[kind].add(value.lower() if kind == "email" else value)
        return Admins(
            frozenset(found["slack"]), frozenset(found["teams"]), frozenset(found["email"])
        )

    @property
    def configured(self) -> bool:
        """True when OPSLAYER_ADMINS names anyone."""
        return bool(self.slack or self.teams or self.email)

    def includes(self, person: Person) -> bool:
        """True when the person has the admin role or any of their identities is an admin's."""
        if person.removed:
            return False
        return (
            person.role == "admin"
            or (person.slack_user_id is not None and person.slack_user_id in self.slack)
            or (person.teams_user_id is not None and person.teams_user_id in self.teams)
            or (person.email is not None and person.email.lower() in self.email)
        )


GROUP_PREFIX = "group:"


def is_approver(person: Person, approval: Approval) -> bool:
    """True when the approval names the person (by id, email, Slack id or Teams id) or their
    group (`group:NAME`: any member may decide)."""
    names = {a.lower() for a in approval.approvers}
    identities = (person.id, person.email, person.slack_user_id, person.teams_user_id)
    if any(i is not None and i.lower() in names for i in identities):
        return True
    return person.group is not None and f"{GROUP_PREFIX}{person.group.lower()}" in names


def may_act(person: Person, run: Run, admins: Admins, approval: Approval | None = None) -> bool:
    """The owner, an admin, or (for an approval) one of its approvers."""
    if person.removed or person.is_viewer:
        return False
    if run.owner.id == person.id or admins.includes(person):
        return True
    return approval is not None and is_approver(person, approval)


def may_see(person: Person, run: Run, admins: Admins, group_members: frozenset[str]) -> bool:
    """Who may look at a run in the console: admins and viewers everything; a member what they
    own, are offered, or what someone of their group owns (`group_members`: their ids)."""
    if person.removed:
        return False
    if person.is_viewer or admins.includes(person):
        return True
    owners = {run.owner.id, run.pending_owner_id}
    return person.id in owners or bool(owners & group_members)
