"""What an alert can be about: one enum, and one table that says everything about each kind.

Adding a kind is one member and one line of KINDS: the health flag it sets on the run while it
holds (if any), whether the scanner raises and clears it, its headline, and what its message
says when it clears. Keys are spelled in `bot.alerts.keys`, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from opslayer.bot.runs.model import Health, Run


class AlertKind(StrEnum):
    """What an alert is about: a finding of the scanner, or an event that needs a person."""

    STUCK = "stuck"  # queued or running, but no heartbeat within heartbeat_timeout_s
    APPROVAL_OVERDUE = "approval_overdue"  # an approval pending past approval_reminder_s
    STALE = "stale"  # waiting or paused for longer than stale_after_s
    AUTH_EXPIRED = "auth_expired"  # credentials expired, or the run is waiting_auth
    AUTH_EXPIRING = "auth_expiring"  # credentials expire within the hour
    UNDELIVERED = "undelivered"  # a command to the agent exhausted its retries
    UNOWNED = "unowned"  # the owner is unknown or was removed
    UNACTED = "unacted"  # a decision reached the agent, and the run has not moved since
    FAILED = "failed"  # the run failed: the owner is told at once, with the error
    APPROVAL = "approval"  # an approval request: the owner is told at once
    HANDOFF = "handoff"  # a reassigned run waits for its new owner to accept
    DIGEST = "digest"  # a channel's daily summary


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Everything about one kind of alert."""

    # The message's first line, carrying the one fact it is about: {title} and {status} are
    # the run's; {since} when it took that status, {last_seen} its last sign of life,
    # {auth_expires} when its credentials expire (UTC, to the minute).
    headline: str
    health: Health | None = None  # the flag the run carries while the alert holds
    scanned: bool = False  # raised and cleared by the scanner (detect)
    cleared: str = "cleared"  # what the message says when it resolves


KINDS: dict[AlertKind, KindSpec] = {
    AlertKind.STUCK: KindSpec(
        "No sign of life from {title} since {last_seen}",
        Health.STUCK,
        True,
        "the agent is alive again",
    ),
    AlertKind.APPROVAL_OVERDUE: KindSpec(
        "{title} is still waiting for a decision", Health.APPROVAL_OVERDUE, True, "decided"
    ),
    AlertKind.STALE: KindSpec(
        "{title} has been {status} since {since}", Health.STALE, True, "the run is {status} again"
    ),
    AlertKind.AUTH_EXPIRED: KindSpec(
        "{title} is blocked on expired credentials",
        Health.AUTH_EXPIRED,
        True,
        "credentials renewed",
    ),
    AlertKind.AUTH_EXPIRING: KindSpec(
        "{title}: credentials expire at {auth_expires}", None, True, "credentials renewed"
    ),
    AlertKind.UNDELIVERED: KindSpec(
        "A command to {title} could not be delivered",
        Health.UNDELIVERED,
        True,
        "the command was delivered",
    ),
    AlertKind.UNOWNED: KindSpec(
        "{title} has no owner", Health.UNOWNED, True, "the run has an owner"
    ),
    AlertKind.UNACTED: KindSpec(
        "{title} was decided at {decided}, and the agent has not acted on it",
        Health.UNACTED,
        True,
        "the agent acted on the decision",
    ),
    AlertKind.FAILED: KindSpec("{title} failed", cleared="retried"),
    AlertKind.APPROVAL: KindSpec("{title} asks for approval"),
    AlertKind.HANDOFF: KindSpec("{title} is being handed over to you"),
    AlertKind.DIGEST: KindSpec("Runs that need attention"),
}

SCANNED = frozenset(kind for kind, spec in KINDS.items() if spec.scanned)


def _minute(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%d %b %H:%M} UTC" if moment is not None else "an unknown time"


def headline(kind: AlertKind, run: Run) -> str:
    """The alert's first line for this run, with the fact it is about."""
    return KINDS[kind].headline.format(
        title=run.title,
        status=run.status.value,
        since=_minute(run.status_changed_at),
        last_seen=_minute(run.last_heartbeat_at or run.status_changed_at),
        auth_expires=_minute(run.auth_expires_at),
        decided=_minute(run.decided_at),
    )


def cleared(kind: AlertKind, run: Run) -> str:
    """What the message says once the situation cleared."""
    if run.status.terminal:
        return f"the run {run.status.value}"
    return KINDS[kind].cleared.format(title=run.title, status=run.status.value)
