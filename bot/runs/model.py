"""A run and what it carries: policy, channel, context, checkpoints with their side effects.

Plain frozen dataclasses the store fills and the core reads. The status and health enums are
the wire contract's (`opslayer_client.contract`), re-exported here with the core's groupings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from opslayer.bot.people.model import OwnerClaim, Person
from opslayer_client.contract import LIVE, TERMINAL, WAITING, Health, MemoryScope, RunStatus

__all__ = [
    "LIVE",
    "TERMINAL",
    "WAITING",
    "Channel",
    "Checkpoint",
    "Context",
    "Health",
    "MemoryRef",
    "MemoryScope",
    "Policy",
    "Run",
    "RunStatus",
    "SideEffect",
]

DEFAULT_HEARTBEAT_TIMEOUT_S = 300
DEFAULT_STALE_AFTER_S = 24 * 3600
DEFAULT_APPROVAL_REMINDER_S = 3600
DEFAULT_ESCALATE_AFTER_S = 4 * 3600
DEFAULT_DECISION_ACK_S = 300  # a decision the agent has not acted on after 5 min: told


@dataclass(frozen=True, slots=True)
class Policy:
    """How long a run may go quiet, wait or stay unanswered before someone is told."""

    heartbeat_timeout_s: int = DEFAULT_HEARTBEAT_TIMEOUT_S
    stale_after_s: int = DEFAULT_STALE_AFTER_S
    approval_reminder_s: int = DEFAULT_APPROVAL_REMINDER_S
    escalate_after_s: int = DEFAULT_ESCALATE_AFTER_S
    decision_ack_s: int = DEFAULT_DECISION_ACK_S


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
    # A decision went to the agent at this moment and the run has not moved since (cleared by
    # any status change, or a new approval asked): past the policy's decision_ack_s, an alert.
    decided_at: datetime | None = None
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
