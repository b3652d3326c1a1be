"""Detection policy: which health problems a run has at `now`, and when to look at it again.

Pure functions of a run and the time, so the scanner's behaviour is a table of cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from opslayer.bot.domain.models import Run
from opslayer.bot.domain.status import LIVE, WAITING, Health, RunStatus

# How long before credentials expire the owner is warned.
AUTH_WARNING = timedelta(hours=1)


class FindingKind(StrEnum):
    """A reason to tell someone about a run; most are health flags, one is an early warning."""

    STUCK = "stuck"
    APPROVAL_OVERDUE = "approval_overdue"
    STALE = "stale"
    AUTH_EXPIRED = "auth_expired"
    AUTH_EXPIRING = "auth_expiring"  # credentials expire within AUTH_WARNING
    UNDELIVERED = "undelivered"
    UNOWNED = "unowned"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with a run, and since when it holds (the start of its episode)."""

    kind: FindingKind
    since: datetime


_HEALTH_OF = {
    FindingKind.STUCK: Health.STUCK,
    FindingKind.APPROVAL_OVERDUE: Health.APPROVAL_OVERDUE,
    FindingKind.STALE: Health.STALE,
    FindingKind.AUTH_EXPIRED: Health.AUTH_EXPIRED,
    FindingKind.UNDELIVERED: Health.UNDELIVERED,
    FindingKind.UNOWNED: Health.UNOWNED,
}


def liveness_anchor(run: Run) -> datetime:
    """The moment the run last showed life: its last heartbeat or status change, the later."""
    if run.last_heartbeat_at is None:
        return run.status_changed_at
    return max(run.last_heartbeat_at, run.status_changed_at)


def detect(run: Run, now: datetime) -> list[Finding]:
    """Every problem the run has at `now`; a terminal run has none."""
    if run.status.terminal:
        return []
    policy = run.policy
    findings: list[Finding] = []
    if run.status in LIVE:
        deadline = liveness_anchor(run) + timedelta(seconds=policy.heartbeat_timeout_s)
        if now >= deadline:
            findings.append(Finding(FindingKind.STUCK, deadline))
    if run.status is RunStatus.WAITING_APPROVAL:
        overdue = run.status_changed_at + timedelta(seconds=policy.approval_reminder_s)
        if now >= overdue:
            findings.append(Finding(FindingKind.APPROVAL_OVERDUE, overdue))
    if run.status in WAITING:
        stale = run.status_changed_at + timedelta(seconds=policy.stale_after_s)
        if now >= stale:
            findings.append(Finding(FindingKind.STALE, stale))
    if run.status is RunStatus.WAITING_AUTH:
        findings.append(Finding(FindingKind.AUTH_EXPIRED, run.status_changed_at))
    elif run.auth_expires_at is not None:
        if now >= run.auth_expires_at:
            findings.append(Finding(FindingKind.AUTH_EXPIRED, run.auth_expires_at))
        elif now >= run.auth_expires_at - AUTH_WARNING:
            findings.append(Finding(FindingKind.AUTH_EXPIRING, run.auth_expires_at - AUTH_WARNING))
    if Health.UNDELIVERED in run.health:
        findings.append(Finding(FindingKind.UNDELIVERED, run.updated_at))
    if run.owner.removed:
        findings.append(Finding(FindingKind.UNOWNED, run.updated_at))
    return findings


def health_of(findings: list[Finding]) -> tuple[Health, ...]:
    """The health flags the findings amount to, in a stable order."""
    flags = {_HEALTH_OF[f.kind] for f in findings if f.kind in _HEALTH_OF}
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
    if run.status in WAITING:
        moments.append(run.status_changed_at + timedelta(seconds=policy.stale_after_s))
    if run.auth_expires_at is not None and run.status is not RunStatus.WAITING_AUTH:
        moments.extend([run.auth_expires_at - AUTH_WARNING, run.auth_expires_at])
    future = [m for m in moments if m > now]
    return min(future) if future else None


def assess(run: Run, now: datetime) -> tuple[tuple[Health, ...], datetime | None]:
    """The run's health flags now and the next moment to look again: what the store keeps.

    When a flag clears (a heartbeat ends `stuck`), the run is due at once, so the scanner
    resolves its alert and the message in chat says so.
    """
    health = health_of(detect(run, now))
    if set(run.health) - set(health):
        return health, now
    return health, next_check_at(run, now)
