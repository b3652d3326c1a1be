"""A run's health (pure): which alerts hold for it at `now`, the flags they set, when to look
at it again, and what a heartbeat changes.

Pure functions of a run and the time, so the scanner's behaviour is a table of cases.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from opslayer.bot.alerts.kinds import KINDS, AlertKind
from opslayer.bot.runs.model import LIVE, WAITING, Health, Run, RunStatus

# How long before credentials expire the owner is warned.
AUTH_WARNING = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Detected:
    """An alert that holds for a run, and since when (the start of its episode: its key)."""

    kind: AlertKind
    since: datetime


def liveness_anchor(run: Run) -> datetime:
    """The moment the run last showed life: its last heartbeat or status change, the later."""
    if run.last_heartbeat_at is None:
        return run.status_changed_at
    return max(run.last_heartbeat_at, run.status_changed_at)


def detect(run: Run, now: datetime) -> list[Detected]:
    """Every problem the run has at `now`; a terminal run has none."""
    if run.status.terminal:
        return []
    policy = run.policy
    found: list[Detected] = []
    if run.status in LIVE:
        deadline = liveness_anchor(run) + timedelta(seconds=policy.heartbeat_timeout_s)
        if now >= deadline:
            found.append(Detected(AlertKind.STUCK, deadline))
    if run.status is RunStatus.WAITING_APPROVAL:
        overdue = run.status_changed_at + timedelta(seconds=policy.approval_reminder_s)
        if now >= overdue:
            found.append(Detected(AlertKind.APPROVAL_OVERDUE, overdue))
    if run.status in WAITING:
        stale = run.status_changed_at + timedelta(seconds=policy.stale_after_s)
        if now >= stale:
            found.append(Detected(AlertKind.STALE, stale))
    if run.status is RunStatus.WAITING_APPROVAL and run.decided_at is not None:
        unacted = run.decided_at + timedelta(seconds=policy.decision_ack_s)
        if now >= unacted:
            found.append(Detected(AlertKind.UNACTED, unacted))
    if run.status is RunStatus.WAITING_AUTH:
        found.append(Detected(AlertKind.AUTH_EXPIRED, run.status_changed_at))
    elif run.auth_expires_at is not None:
        if now >= run.auth_expires_at:
            found.append(Detected(AlertKind.AUTH_EXPIRED, run.auth_expires_at))
        elif now >= run.auth_expires_at - AUTH_WARNING:
            found.append(Detected(AlertKind.AUTH_EXPIRING, run.auth_expires_at - AUTH_WARNING))
    if Health.UNDELIVERED in run.health:
        found.append(Detected(AlertKind.UNDELIVERED, run.updated_at))
    if run.owner.removed:
        found.append(Detected(AlertKind.UNOWNED, run.updated_at))
    return found


def health_of(detected: list[Detected]) -> tuple[Health, ...]:
    """The health flags the detected alerts amount to, in a stable order."""
    flags = {KINDS[d.kind].health for d in detected}
    return tuple(h for h in Health if h in flags)


def next_check_at(run: Run, now: datetime) -> datetime | None:
    """The earliest moment after `now` at which detect() could find something new, if any."""
    if run.status.terminal:
        return None
    policy = run.policy
    moments: list[datetime] = []
    if run.status in LIVE:
        moments.append(liveness_anchor(run) + timedelta(seconds=policy.heartbeat_timeout_s))
    if run.status is RunStatus.WAITING_APPROVAL:
        moments.append(run.status_changed_at + timedelta(seconds=policy.approval_reminder_s))
        if run.decided_at is not None:
            moments.append(run.decided_at + timedelta(seconds=policy.decision_ack_s))
    if run.status in WAITING:
        moments.append(run.status_changed_at + timedelta(seconds=policy.stale_after_s))
    if run.auth_expires_at is not None and run.status is not RunStatus.WAITING_AUTH:
        warning = run.auth_expires_at - AUTH_WARNING
        if warning <= now < run.auth_expires_at:
            # Inside the warning window (credentials reported with less than the warning left):
            # no health flag marks it, so the run stays due until it expires; the scan raises
            # the warning once (alerts are keyed) and looks again each round, cheaply.
            return now
        moments.extend([warning, run.auth_expires_at])
    future = [m for m in moments if m > now]
    return min(future) if future else None


def assess(run: Run, now: datetime) -> tuple[tuple[Health, ...], datetime | None]:
    """The run's health flags now and the next moment to look again: what the store keeps.

    When a flag clears (a heartbeat ends `stuck`) or appears (credentials expired while the
    agent kept writing), the run is due at once, so the scanner resolves or raises its alert.
    """
    health = health_of(detect(run, now))
    if set(run.health) != set(health):
        return health, now
    return health, next_check_at(run, now)


def record_heartbeat(
    run: Run,
    *,
    at: datetime,
    now: datetime,
    step: str | None = None,
    progress: float | None = None,
    message: str | None = None,
) -> Run:
    """The run after a heartbeat that happened at `at` (capped at `now`; late ones never rewind)."""
    at = min(at, now)
    last = run.last_heartbeat_at
    updated = dataclasses.replace(
        run,
        last_heartbeat_at=at if last is None else max(last, at),
        step=step if step is not None else run.step,
        progress=progress if progress is not None else run.progress,
        message=message if message is not None else run.message,
    )
    health, next_check = assess(updated, now)
    return dataclasses.replace(updated, health=health, next_check_at=next_check)
