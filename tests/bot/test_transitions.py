"""The run state machine as tables: every legal pair, every illegal one (their complement), the
repeats, and the effects."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opslayer.bot.errors import InvalidTransition
from opslayer.bot.runs.model import RunStatus as S
from opslayer.bot.runs.transitions import (
    TRANSITIONS,
    CloseOpenApprovals,
    StatusChanged,
    event_for_report,
    transition,
)
from opslayer.bot.runs.transitions import RunEvent as E
from tests.bot.factories import T0, make_run

LATER = T0 + timedelta(minutes=5)

LEGAL = [
    (S.QUEUED, E.START, S.RUNNING),
    (S.QUEUED, E.REQUEST_APPROVAL, S.WAITING_APPROVAL),
    (S.QUEUED, E.NEED_AUTH, S.WAITING_AUTH),
    (S.QUEUED, E.PAUSE, S.PAUSED),
    (S.QUEUED, E.FAIL, S.FAILED),
    (S.QUEUED, E.CANCEL, S.CANCELED),
    (S.QUEUED, E.FORCE_CANCEL, S.CANCELED),
    (S.RUNNING, E.REQUEUE, S.QUEUED),
    (S.RUNNING, E.REQUEST_APPROVAL, S.WAITING_APPROVAL),
    (S.RUNNING, E.NEED_AUTH, S.WAITING_AUTH),
    (S.RUNNING, E.PAUSE, S.PAUSED),
    (S.RUNNING, E.FAIL, S.FAILED),
    (S.RUNNING, E.CANCEL, S.CANCELED),
    (S.RUNNING, E.SUCCEED, S.SUCCEEDED),
    (S.RUNNING, E.FORCE_CANCEL, S.CANCELED),
    (S.WAITING_APPROVAL, E.START, S.RUNNING),
    (S.WAITING_APPROVAL, E.REQUEUE, S.QUEUED),
    (S.WAITING_APPROVAL, E.REQUEST_APPROVAL, S.WAITING_APPROVAL),
    (S.WAITING_APPROVAL, E.NEED_AUTH, S.WAITING_AUTH),
    (S.WAITING_APPROVAL, E.PAUSE, S.PAUSED),
    (S.WAITING_APPROVAL, E.FAIL, S.FAILED),
    (S.WAITING_APPROVAL, E.CANCEL, S.CANCELED),
    (S.WAITING_APPROVAL, E.FORCE_CANCEL, S.CANCELED),
    (S.WAITING_AUTH, E.START, S.RUNNING),
    (S.WAITING_AUTH, E.REQUEUE, S.QUEUED),
    (S.WAITING_AUTH, E.PAUSE, S.PAUSED),
    (S.WAITING_AUTH, E.FAIL, S.FAILED),
    (S.WAITING_AUTH, E.CANCEL, S.CANCELED),
    (S.WAITING_AUTH, E.FORCE_CANCEL, S.CANCELED),
    (S.PAUSED, E.START, S.RUNNING),
    (S.PAUSED, E.REQUEUE, S.QUEUED),
    (S.PAUSED, E.FAIL, S.FAILED),
    (S.PAUSED, E.CANCEL, S.CANCELED),
    (S.PAUSED, E.FORCE_CANCEL, S.CANCELED),
    (S.FAILED, E.START, S.RUNNING),
    (S.FAILED, E.REQUEUE, S.QUEUED),
]

# A report of the status a run already has is a repeat: accepted, changes nothing (terminal
# statuses included), so agents can retry a report safely.
REPEATS = {
    (S.QUEUED, E.REQUEUE),
    (S.RUNNING, E.START),
    (S.WAITING_APPROVAL, E.REQUEST_APPROVAL),
    (S.WAITING_AUTH, E.NEED_AUTH),
    (S.PAUSED, E.PAUSE),
    (S.FAILED, E.FAIL),
    (S.CANCELED, E.CANCEL),
    (S.SUCCEEDED, E.SUCCEED),
}
# Everything else is illegal: the complement of the legal pairs, not a sample.
ILLEGAL = sorted(
    {(s, e) for s in S for e in E} - {(s, e) for s, e, _ in LEGAL} - REPEATS,
    key=lambda pair: (pair[0].value, pair[1].value),
)


def test_transition_table_is_exactly_the_legal_list() -> None:
    assert {(s, e): t for s, e, t in LEGAL} == TRANSITIONS


@pytest.mark.parametrize(("status", "event", "expected"), LEGAL)
def test_transition_legal_pair_moves_the_run(status: S, event: E, expected: S) -> None:
    run, effects = transition(make_run(status), event, LATER)
    assert run.status is expected
    if expected is status:
        assert effects == [] and run.status_changed_at == T0
    else:
        assert effects[0] == StatusChanged(old=status, new=expected, event=event)
        assert run.status_changed_at == LATER
        assert (CloseOpenApprovals() in effects) == expected.terminal


@pytest.mark.parametrize(("status", "event"), ILLEGAL)
def test_transition_illegal_pair_raises_with_current_status(status: S, event: E) -> None:
    with pytest.raises(InvalidTransition) as raised:
        transition(make_run(status), event, LATER)
    assert raised.value.status == status
    assert status.value in raised.value.message


@pytest.mark.parametrize(("status", "event"), sorted(REPEATS))
def test_transition_repeating_the_current_status_changes_nothing(status: S, event: E) -> None:
    run = make_run(status)
    assert event_for_report(status) is event
    assert transition(run, event, LATER) == (run, [])


def test_every_pair_is_legal_illegal_or_a_repeat() -> None:
    accepted = {(s, e) for s, e, _ in LEGAL} | REPEATS
    assert len(accepted) + len(ILLEGAL) == len(S) * len(E)


@pytest.mark.parametrize(
    ("status", "event", "attempt"),
    [
        (S.FAILED, E.START, 2),  # a retry re-opens a failed run: new attempt
        (S.FAILED, E.REQUEUE, 2),
        (S.PAUSED, E.START, 1),  # resuming is the same attempt
        (S.WAITING_APPROVAL, E.START, 1),
    ],
)
def test_transition_counts_attempts_only_when_a_failed_run_reopens(
    status: S, event: E, attempt: int
) -> None:
    assert transition(make_run(status), event, LATER)[0].attempt == attempt


def test_transition_keeps_error_only_for_failed() -> None:
    failed, _ = transition(make_run(S.RUNNING), E.FAIL, LATER, error="boom", reason="db down")
    assert (failed.error, failed.reason) == ("boom", "db down")
    resumed, _ = transition(failed, E.START, LATER)
    assert resumed.error is None
