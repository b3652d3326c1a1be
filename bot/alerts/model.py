"""An alert (pure): the ledger's record, and when one is reminded, escalated or reopened."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.runs.model import Run
from opslayer.bot.views.model import AlertPayload, Note, Target

__all__ = [
    "ACK_TIMEOUT",
    "MAX_REMINDERS",
    "Alert",
    "AlertKind",
    "AlertStatus",
    "FollowUp",
    "acknowledge",
    "first_action_at",
    "follow_up",
    "resolve",
]

MAX_REMINDERS = 3
ACK_TIMEOUT = timedelta(hours=4)


class AlertStatus(StrEnum):
    """Where an alert stands."""

    OPEN = "open"  # nobody has taken it; reminders and escalation run
    ACKNOWLEDGED = "acknowledged"  # someone took it; escalation waits until the ack times out
    RESOLVED = "resolved"  # the situation cleared (or was decided); the message says so


@dataclass(frozen=True, slots=True)
class Alert:
    """One row of the notification ledger."""

    id: str
    key: str
    kind: AlertKind
    status: AlertStatus
    target: Target
    payload: AlertPayload
    created_at: datetime
    updated_at: datetime
    run_id: str | None = None
    # Per surface, where its message lives (the surface's own reference), and how many of the
    # alert's follow-ups it has sent.
    message_refs: dict[str, dict[str, str]] = field(default_factory=dict)
    pings_sent: dict[str, int] = field(default_factory=dict)
    reminders: int = 0
    next_action_at: datetime | None = None
    acked_by: str | None = None
    acked_until: datetime | None = None
    escalated_at: datetime | None = None
    needs_sync: bool = True
    resolved_at: datetime | None = None


def changed_at(alert: Alert, now: datetime) -> datetime:
    """When an alert changes: `now`, but always later than its last change, so the chat sync
    (which marks an alert in step only if it did not change since it was read) never takes a
    change made within the same clock tick for one it has already shown."""
    return max(now, alert.updated_at + timedelta(microseconds=1))


class FollowUp(StrEnum):
    """What an open alert needs now."""

    REMIND = "remind"
    ESCALATE = "escalate"
    REOPEN = "reopen"  # an acknowledgement timed out: it is open again


def first_action_at(run: Run, created: datetime) -> datetime:
    """When a fresh alert is first followed up: a reminder, or escalation if that is sooner."""
    remind = created + timedelta(seconds=run.policy.approval_reminder_s)
    escalate = created + timedelta(seconds=run.policy.escalate_after_s)
    return min(remind, escalate)


def follow_up(alert: Alert, run: Run, now: datetime) -> tuple[FollowUp | None, Alert]:
    """Decide the follow-up an alert is due for at `now`, and the alert after it."""
    if alert.status is AlertStatus.RESOLVED:
        return None, alert
    policy = run.policy
    if alert.status is AlertStatus.ACKNOWLEDGED:
        if alert.acked_until is not None and now >= alert.acked_until:
            reopened = dataclasses.replace(
                alert,
                status=AlertStatus.OPEN,
                acked_by=None,
                acked_until=None,
                next_action_at=now + timedelta(seconds=policy.escalate_after_s),
                updated_at=changed_at(alert, now),
                needs_sync=True,
            )
            return FollowUp.REOPEN, reopened
        return None, dataclasses.replace(alert, next_action_at=alert.acked_until)
    escalate_at = alert.created_at + timedelta(seconds=policy.escalate_after_s)
    if alert.escalated_at is None and now >= escalate_at:
        escalated = dataclasses.replace(
            alert,
            escalated_at=now,
            updated_at=changed_at(alert, now),
            needs_sync=True,
            next_action_at=_next_reminder(alert, run, now),
        )
        return FollowUp.ESCALATE, escalated
    if alert.reminders < MAX_REMINDERS:
        reminded = dataclasses.replace(
            alert, reminders=alert.reminders + 1, updated_at=changed_at(alert, now), needs_sync=True
        )
        return FollowUp.REMIND, dataclasses.replace(
            reminded, next_action_at=_next_reminder(reminded, run, now)
        )
    return None, dataclasses.replace(
        alert, next_action_at=None if alert.escalated_at else escalate_at
    )


def _next_reminder(alert: Alert, run: Run, now: datetime) -> datetime | None:
    moments = []
    if alert.reminders < MAX_REMINDERS:
        moments.append(now + timedelta(seconds=run.policy.approval_reminder_s))
    if alert.escalated_at is None:
        moments.append(alert.created_at + timedelta(seconds=run.policy.escalate_after_s))
    later = [m for m in moments if m > now]
    return min(later) if later else None


def acknowledge(alert: Alert, *, person_id: str, now: datetime) -> Alert:
    """Claim the alert: escalation waits until the acknowledgement times out."""
    return dataclasses.replace(
        alert,
        status=AlertStatus.ACKNOWLEDGED,
        acked_by=person_id,
        acked_until=now + ACK_TIMEOUT,
        next_action_at=now + ACK_TIMEOUT,
        updated_at=changed_at(alert, now),
        needs_sync=True,
    )


# How a decision's message says a command is on its way (the run has not moved yet).
WAITING = ", waiting for the agent"


def resolve(alert: Alert, *, now: datetime, resolution: str) -> Alert:
    """The situation cleared: no more follow-ups; the message is updated to say how."""
    note: Note = {"text": resolution, "at": now.astimezone(UTC).isoformat()}
    payload: AlertPayload = {**alert.payload, "resolution": note}
    return dataclasses.replace(
        alert,
        status=AlertStatus.RESOLVED,
        resolved_at=now,
        updated_at=changed_at(alert, now),
        next_action_at=None,
        payload=payload,
        needs_sync=True,
    )
