"""Detection policy as tables: which health flags a run has at a moment, and when to look again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from opslayer.bot.alerts.kinds import AlertKind as F
from opslayer.bot.people.model import Person
from opslayer.bot.runs.health import assess, detect, next_check_at, record_heartbeat
from opslayer.bot.runs.model import Health, Policy
from opslayer.bot.runs.model import RunStatus as S
from tests.bot.factories import T0, make_run

POLICY = Policy(
    heartbeat_timeout_s=60, stale_after_s=3600, approval_reminder_s=600, escalate_after_s=1200
)


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


CASES: list[tuple[str, S, dict[str, Any], datetime, set[F]]] = [
    ("fresh running run", S.RUNNING, {}, at(seconds=59), set()),
    ("running, no heartbeat past timeout", S.RUNNING, {}, at(seconds=60), {F.STUCK}),
    ("queued and never started is stuck too", S.QUEUED, {}, at(seconds=61), {F.STUCK}),
    (
        "recent heartbeat keeps it alive",
        S.RUNNING,
        {"last_heartbeat_at": at(seconds=50)},
        at(seconds=100),
        set(),
    ),
    ("old heartbeat", S.RUNNING, {"last_heartbeat_at": at(seconds=10)}, at(seconds=70), {F.STUCK}),
    ("approval not yet overdue", S.WAITING_APPROVAL, {}, at(seconds=599), set()),
    ("approval overdue", S.WAITING_APPROVAL, {}, at(seconds=600), {F.APPROVAL_OVERDUE}),
    (
        "waiting approval for long: overdue and stale",
        S.WAITING_APPROVAL,
        {},
        at(hours=1),
        {F.APPROVAL_OVERDUE, F.STALE},
    ),
    ("paused is never stuck", S.PAUSED, {}, at(seconds=3599), set()),
    ("paused for long is stale", S.PAUSED, {}, at(hours=1), {F.STALE}),
    (
        "waiting on auth is auth_expired at once",
        S.WAITING_AUTH,
        {},
        at(seconds=1),
        {F.AUTH_EXPIRED},
    ),
    (
        "auth expiring within the hour",
        S.RUNNING,
        {"auth_expires_at": at(minutes=50), "last_heartbeat_at": at(seconds=30)},
        at(seconds=40),
        {F.AUTH_EXPIRING},
    ),
    (
        "auth expired",
        S.RUNNING,
        {"auth_expires_at": at(seconds=30), "last_heartbeat_at": at(seconds=30)},
        at(seconds=40),
        {F.AUTH_EXPIRED},
    ),
    (
        "undelivered command stays flagged",
        S.RUNNING,
        {"health": (Health.UNDELIVERED,)},
        at(seconds=1),
        {F.UNDELIVERED},
    ),
    (
        "owner removed",
        S.RUNNING,
        {"owner": Person(id="p", name="Gone", removed=True)},
        at(seconds=1),
        {F.UNOWNED},
    ),
    (
        "terminal runs have no problems",
        S.SUCCEEDED,
        {"owner": Person(id="p", name="Gone", removed=True)},
        at(days=9),
        set(),
    ),
    ("failed runs are not stuck", S.FAILED, {}, at(days=9), set()),
]


@pytest.mark.parametrize(
    ("case", "status", "fields", "now", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_detect_finds_exactly_the_expected_problems(
    case: str, status: S, fields: dict[str, Any], now: datetime, expected: set[F]
) -> None:
    run = make_run(status, policy=POLICY, **fields)
    assert {f.kind for f in detect(run, now)} == expected


NEXT_CHECK: list[tuple[str, S, dict[str, Any], datetime, datetime | None]] = [
    ("running: when the heartbeat times out", S.RUNNING, {}, at(seconds=1), at(seconds=60)),
    (
        "after a heartbeat: from the heartbeat",
        S.RUNNING,
        {"last_heartbeat_at": at(seconds=30)},
        at(seconds=31),
        at(seconds=90),
    ),
    (
        "waiting approval: the reminder first",
        S.WAITING_APPROVAL,
        {},
        at(seconds=1),
        at(seconds=600),
    ),
    ("after the reminder: staleness", S.WAITING_APPROVAL, {}, at(seconds=600), at(hours=1)),
    (
        "auth warning comes first",
        S.RUNNING,
        {"auth_expires_at": at(minutes=61)},
        at(seconds=1),
        at(seconds=60),
    ),
    (
        "auth warning before the stale check",
        S.PAUSED,
        {"auth_expires_at": at(minutes=70)},
        at(seconds=1),
        at(minutes=10),
    ),
    ("terminal: never", S.SUCCEEDED, {}, at(seconds=1), None),
    ("already stuck, nothing new to find", S.RUNNING, {}, at(hours=2), None),
]


@pytest.mark.parametrize(
    ("case", "status", "fields", "now", "expected"), NEXT_CHECK, ids=[c[0] for c in NEXT_CHECK]
)
def test_next_check_at_is_the_earliest_moment_a_policy_can_fire(
    case: str, status: S, fields: dict[str, Any], now: datetime, expected: datetime | None
) -> None:
    assert next_check_at(make_run(status, policy=POLICY, **fields), now) == expected


def test_assess_then_detect_agree_at_next_check() -> None:
    run = make_run(S.RUNNING, policy=POLICY)
    health, moment = assess(run, at(seconds=1))
    assert health == () and moment is not None
    assert {f.kind for f in detect(run, moment)} == {F.STUCK}


def test_record_heartbeat_clears_stuck_and_never_rewinds() -> None:
    stuck = make_run(S.RUNNING, policy=POLICY, health=(Health.STUCK,))
    alive = record_heartbeat(stuck, at=at(seconds=100), now=at(seconds=100), step="fetch")
    # The flag cleared, so the run is due at once: the scanner resolves its alert.
    assert alive.health == () and alive.step == "fetch" and alive.next_check_at == at(seconds=100)
    again = record_heartbeat(alive, at=at(seconds=101), now=at(seconds=101))
    assert again.next_check_at == at(seconds=161)  # nothing cleared: the next timeout
    late = record_heartbeat(alive, at=at(seconds=50), now=at(seconds=101))
    assert late.last_heartbeat_at == at(seconds=100) and late.step == "fetch"
    future = record_heartbeat(alive, at=at(days=1), now=at(seconds=102))
    assert future.last_heartbeat_at == at(seconds=102)  # a clock ahead of ours is capped at now
