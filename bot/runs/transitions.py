"""The run state machine: every legal (status, event) pair is one line of TRANSITIONS."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from opslayer.bot.errors import InvalidTransition
from opslayer.bot.runs.model import Run, RunStatus

S = RunStatus


class RunEvent(StrEnum):
    """Something that moves a run: mostly what its agent reports, plus an admin's force-cancel."""

    START = "start"  # the agent reports running (started, resumed, retried, approval granted)
    REQUEUE = "requeue"  # the agent put the run back in its queue
    REQUEST_APPROVAL = "request_approval"  # the agent needs a human decision
    NEED_AUTH = "need_auth"  # the agent is blocked on credentials
    PAUSE = "pause"  # the agent stopped on purpose
    FAIL = "fail"  # the agent ended with an error
    CANCEL = "cancel"  # the agent ended the run on request
    SUCCEED = "succeed"  # the agent finished
    FORCE_CANCEL = "force_cancel"  # an admin ends a run whose agent no longer answers


REPORTED: dict[RunStatus, RunEvent] = {
    S.QUEUED: RunEvent.REQUEUE,
    S.RUNNING: RunEvent.START,
    S.WAITING_APPROVAL: RunEvent.REQUEST_APPROVAL,
    S.WAITING_AUTH: RunEvent.NEED_AUTH,
    S.PAUSED: RunEvent.PAUSE,
    S.FAILED: RunEvent.FAIL,
    S.CANCELED: RunEvent.CANCEL,
    S.SUCCEEDED: RunEvent.SUCCEED,
}

E = RunEvent
TRANSITIONS: dict[tuple[RunStatus, RunEvent], RunStatus] = {
    (S.QUEUED, E.START): S.RUNNING,
    (S.QUEUED, E.REQUEST_APPROVAL): S.WAITING_APPROVAL,
    (S.QUEUED, E.NEED_AUTH): S.WAITING_AUTH,
    (S.QUEUED, E.PAUSE): S.PAUSED,
    (S.QUEUED, E.FAIL): S.FAILED,
    (S.QUEUED, E.CANCEL): S.CANCELED,
    (S.QUEUED, E.FORCE_CANCEL): S.CANCELED,
    (S.RUNNING, E.REQUEUE): S.QUEUED,
    (S.RUNNING, E.REQUEST_APPROVAL): S.WAITING_APPROVAL,
    (S.RUNNING, E.NEED_AUTH): S.WAITING_AUTH,
    (S.RUNNING, E.PAUSE): S.PAUSED,
    (S.RUNNING, E.FAIL): S.FAILED,
    (S.RUNNING, E.CANCEL): S.CANCELED,
    (S.RUNNING, E.SUCCEED): S.SUCCEEDED,
    (S.RUNNING, E.FORCE_CANCEL): S.CANCELED,
    (S.WAITING_APPROVAL, E.START): S.RUNNING,
    (S.WAITING_APPROVAL, E.REQUEUE): S.QUEUED,
    (S.WAITING_APPROVAL, E.REQUEST_APPROVAL): S.WAITING_APPROVAL,
    (S.WAITING_APPROVAL, E.NEED_AUTH): S.WAITING_AUTH,
    (S.WAITING_APPROVAL, E.PAUSE): S.PAUSED,
    (S.WAITING_APPROVAL, E.FAIL): S.FAILED,
    (S.WAITING_APPROVAL, E.CANCEL): S.CANCELED,
    (S.WAITING_APPROVAL, E.FORCE_CANCEL): S.CANCELED,
    (S.WAITING_AUTH, E.START): S.RUNNING,
    (S.WAITING_AUTH, E.REQUEUE): S.QUEUED,
    (S.WAITING_AUTH, E.PAUSE): S.PAUSED,
    (S.WAITING_AUTH, E.FAIL): S.FAILED,
    (S.WAITING_AUTH, E.CANCEL): S.CANCELED,
    (S.WAITING_AUTH, E.FORCE_CANCEL): S.CANCELED,
    (S.PAUSED, E.START): S.RUNNING,
    (S.PAUSED, E.REQUEUE): S.QUEUED,
    (S.PAUSED, E.FAIL): S.FAILED,
    (S.PAUSED, E.CANCEL): S.CANCELED,
    (S.PAUSED, E.FORCE_CANCEL): S.CANCELED,
    (S.FAILED, E.START): S.RUNNING,  # a retry re-opens a failed run
    (S.FAILED, E.REQUEUE): S.QUEUED,
}

# Re-opening a failed run is a new attempt; everything else keeps the attempt number.
NEW_ATTEMPT = frozenset({(S.FAILED, E.START), (S.FAILED, E.REQUEUE)})


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Effect: the run moved from one status to another (audit it, tell the surfaces)."""

    old: RunStatus
    new: RunStatus
    event: RunEvent


@dataclass(frozen=True, slots=True)
class CloseOpenApprovals:
    """Effect: the run ended, so its pending approvals can no longer be answered."""


Effect = StatusChanged | CloseOpenApprovals


def event_for_report(status: RunStatus) -> RunEvent:
    """The event an agent's status report stands for."""
    return REPORTED[status]


def transition(
    run: Run,
    event: RunEvent,
    now: datetime,
    *,
    reason: str | None = None,
    error: str | None = None,
) -> tuple[Run, list[Effect]]:
    """Apply one event to a run; raise InvalidTransition if its status does not allow it.

    A report of the status the run already has is accepted and changes nothing, so agents can
    repeat a report safely (terminal statuses included).
    """
    target = REPORTED.get(run.status) if event is not RunEvent.FORCE_CANCEL else None
    if target is event and (run.status, event) not in TRANSITIONS:
        return run, []
    new_status = TRANSITIONS.get((run.status, event))
    if new_status is None:
        raise InvalidTransition(run_id=run.id, status=run.status, event=event)
    if new_status is run.status:
        return run, []
    attempt = run.attempt + 1 if (run.status, event) in NEW_ATTEMPT else run.attempt
    updated = dataclasses.replace(
        run,
        status=new_status,
        status_changed_at=now,
        updated_at=now,
        attempt=attempt,
        reason=reason,
        error=error if new_status is S.FAILED else None,
        decided_at=None,  # the run moved: whatever was decided, the agent acted
    )
    effects: list[Effect] = [StatusChanged(old=run.status, new=new_status, event=event)]
    if new_status.terminal:
        effects.append(CloseOpenApprovals())
    return updated, effects
