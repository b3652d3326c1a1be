"""The records of the domain, as plain frozen dataclasses the store fills and the core reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opslayer.bot.domain.status import (
    ApprovalStatus,
    CommandKind,
    CommandStatus,
    Health,
    MemoryScope,
    RunStatus,
    Via,
)

DEFAULT_HEARTBEAT_TIMEOUT_S = 300
DEFAULT_STALE_AFTER_S = 24 * 3600
DEFAULT_APPROVAL_REMINDER_S = 3600
DEFAULT_ESCALATE_AFTER_S = 4 * 3600


@dataclass(frozen=True, slots=True)
class Policy:
    """How long a run may go quiet, wait or stay unanswered before someone is told."""

    heartbeat_timeout_s: int = DEFAULT_HEARTBEAT_TIMEOUT_S
    stale_after_s: int = DEFAULT_STALE_AFTER_S
    approval_reminder_s: int = DEFAULT_APPROVAL_REMINDER_S
    escalate_after_s: int = DEFAULT_ESCALATE_AFTER_S


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who can own runs and act on them, known by one or more platform identities."""

    id: str
    name: str
    email: str | None = None
    slack_user_id: str | None = None
    teams_user_id: str | None = None
    timezone: str = "UTC"
    group: str | None = None
    removed: bool = False
    slack_channel: str | None = None  # their own alert channel, before their group's
    teams_channel: str | None = None


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


@dataclass(frozen=True, slots=True)
class Channel:
    """Where a run's alerts go; unset means the owner's group channel, else a direct message."""

    slack: str | None = None
    teams: str | None = None


@dataclass(frozen=True, slots=True)
class MemoryRef:
    """A reference to the agent's long-term memory, scoped, so a resume can spot stale memory."""

    key: str
    scope: MemoryScope
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Context:
    """References into state the agent keeps itself: its conversation and its memory."""

    thread_id: str | None = None
    memory: tuple[MemoryRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    """One unit of an agent's work, as opslayer tracks it (the task state)."""

    id: str
    external_id: str
    agent: str
    title: str
    status: RunStatus
    owner: Person
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    channel: Channel = field(default_factory=Channel)
    webhook_url: str | None = None
    policy: Policy = field(default_factory=Policy)
    context: Context = field(default_factory=Context)
    labels: dict[str, str] = field(default_factory=dict)
    step: str | None = None
    progress: float | None = None
    message: str | None = None
    reason: str | None = None
    error: str | None = None
    attempt: int = 1
    last_heartbeat_at: datetime | None = None
    auth_expires_at: datetime | None = None
    health: tuple[Health, ...] = ()
    next_check_at: datetime | None = None
    version: int = 1
    pending_owner_id: str | None = None  # offered to this person; the owner stays responsible
    handoff_until: datetime | None = None  # unaccepted by then, the offer lapses
    owner_claim: OwnerClaim | None = None  # what the agent said at registration


@dataclass(frozen=True, slots=True)
class SideEffect:
    """Something the agent did to the outside world; replaying a non-idempotent one is unsafe."""

    key: str
    idempotent: bool
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A point the agent can resume from, with the side effects committed since the one before."""

    id: str
    run_id: str
    checkpoint_id: str
    step: str
    created_at: datetime
    seq: int
    summary: str | None = None
    resumable: bool = True
    side_effects: tuple[SideEffect, ...] = ()


@dataclass(frozen=True, slots=True)
class Approval:
    """A durable request for a human decision, with who may answer and state to hand back."""

    id: str
    run_id: str
    request_id: str
    title: str
    status: ApprovalStatus
    created_at: datetime
    details: str | None = None
    expires_at: datetime | None = None
    approvers: tuple[str, ...] = ()
    state: Any = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: a person (through a surface), an agent, or opslayer itself."""

    id: str
    name: str
    via: Via

    @staticmethod
    def agent(name: str) -> Actor:
        """The actor for changes an agent reports over the API."""
        return Actor(id=f"agent:{name}", name=name, via=Via.API)


SYSTEM = Actor(id="system", name="opslayer", via=Via.API)


@dataclass(frozen=True, slots=True)
class Command:
    """An operator's decision on its way to the agent (a row of the outbox)."""

    id: str
    run_id: str
    kind: CommandKind
    status: CommandStatus
    payload: dict[str, Any]
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    acked_at: datetime | None = None
    result_message: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A command claimed for one delivery attempt, with where and how to sign it."""

    command: Command
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of a run's history: who did what, through which surface, and why."""

    action: str
    at: datetime
    actor: Actor
    run_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    id: int | None = None
