"""The enumerations an operator sees: run status, health, approval and command states."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run stands, as its agent reported it."""

    QUEUED = "queued"  # registered, not started yet
    RUNNING = "running"  # working; heartbeats are expected
    WAITING_APPROVAL = "waiting_approval"  # blocked on a human decision
    WAITING_AUTH = "waiting_auth"  # blocked on expired or missing credentials
    PAUSED = "paused"  # stopped on purpose, can be resumed
    FAILED = "failed"  # ended with an error; a retry re-opens it
    CANCELED = "canceled"  # ended by a person or by the agent
    SUCCEEDED = "succeeded"  # done

    @property
    def terminal(self) -> bool:
        """True when the run has ended (failed, canceled, succeeded)."""
        return self in TERMINAL


TERMINAL = frozenset({RunStatus.FAILED, RunStatus.CANCELED, RunStatus.SUCCEEDED})
WAITING = frozenset({RunStatus.WAITING_APPROVAL, RunStatus.WAITING_AUTH, RunStatus.PAUSED})
LIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


class Health(StrEnum):
    """A problem the scanner found with a run; shown wherever its status is shown."""

    STUCK = "stuck"  # queued or running, but no heartbeat within heartbeat_timeout_s
    APPROVAL_OVERDUE = "approval_overdue"  # an approval pending past approval_reminder_s
    STALE = "stale"  # waiting or paused for longer than stale_after_s
    AUTH_EXPIRED = "auth_expired"  # credentials expired (or about to), or waiting_auth
    UNDELIVERED = "undelivered"  # a command to the agent exhausted its retries
    UNOWNED = "unowned"  # the owner is unknown or was removed


class ApprovalStatus(StrEnum):
    """Where a request for a human decision stands."""

    PENDING = "pending"  # nobody has decided yet
    APPROVED = "approved"  # a person said yes
    REJECTED = "rejected"  # a person said no
    EXPIRED = "expired"  # nobody decided before expires_at
    CANCELED = "canceled"  # the run ended before anyone decided


class CommandKind(StrEnum):
    """What an operator asks the agent to do."""

    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    REASSIGN = "reassign"


class CommandStatus(StrEnum):
    """Where a command to an agent stands in the outbox."""

    PENDING = "pending"  # waiting for (another) delivery attempt, or for the agent to poll
    DELIVERED = "delivered"  # the agent's webhook answered 2xx
    ACKED = "acked"  # the agent confirmed it acted on the command
    FAILED = "failed"  # the agent acknowledged that acting on it failed
    UNDELIVERED = "undelivered"  # every delivery attempt failed; the owner was told


class MemoryScope(StrEnum):
    """How far a long-term memory reference reaches."""

    THREAD = "thread"  # this conversation only
    USER = "user"  # everything for one user
    APP = "app"  # the whole application
    TEMPORARY = "temporary"  # scratch memory that may vanish


class Via(StrEnum):
    """The surface an action came through; kept in the audit trail."""

    SLACK = "slack"
    TEAMS = "teams"
    WEB = "web"
    CLI = "cli"
    API = "api"
