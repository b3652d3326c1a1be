"""People, the identities they are known by, the groups they share channels with, and what an
agent claims about who owns a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# member: what they own, approve or their group's; admin: everything; viewer: sees, never acts.
Role = Literal["member", "admin", "viewer"]
ROLES: tuple[Role, ...] = ("member", "admin", "viewer")


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who can own runs and act on them, known by one or more platform identities."""

    id: str
    name: str
    email: str | None = None
    slack_user_id: str | None = None
    teams_user_id: str | None = None
    group: str | None = None
    removed: bool = False
    slack_channel: str | None = None  # their own alert channel, before their group's
    teams_channel: str | None = None
    role: Role = "member"

    @property
    def is_viewer(self) -> bool:
        """A viewer sees every run and acts on none."""
        return self.role == "viewer"


@dataclass(frozen=True, slots=True)
class Identity:
    """The ways a registration names an owner; any one of them finds or creates the person."""

    email: str | None = None
    slack_user_id: str | None = None
    teams_user_id: str | None = None
    name: str | None = None

    def display_name(self) -> str:
        """The best human name this identity offers."""
        return self.name or self.email or self.slack_user_id or self.teams_user_id or "unknown"


@dataclass(frozen=True, slots=True)
class OwnerClaim:
    """Who an agent said owns its run. It routes messages (a direct message to a claimed chat
    id the owner lacks); it never links identities or grants rights."""

    email: str | None = None
    slack_user_id: str | None = None
    teams_user_id: str | None = None
    name: str | None = None
    unverified: tuple[str, ...] = ()  # claimed identities that are not the owner's own


@dataclass(frozen=True, slots=True)
class Group:
    """A set of people sharing alert and escalation channels on each platform."""

    id: str
    name: str
    slack_channel: str | None = None
    teams_channel: str | None = None
    slack_escalation_channel: str | None = None
    teams_escalation_channel: str | None = None
    digest_cron: str | None = None  # this group's own digest time (crontab, day names)
    all_clear: bool = False  # post a digest even when nothing needs attention
