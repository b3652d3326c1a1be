"""The ledger's rows as the surfaces see them: a new alert, a follow-up, and an alert's view now.

An alert's message is rebuilt from the run as it is now each time a surface posts or updates
it (status, health, step, the approval and its deadline, who decided), with the alert's own
state and notes: nothing a person reads is frozen at the moment it was first posted. The view
stored with the row is the fallback for a run that is gone, and a digest's content.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import Alert, AlertStatus, first_action_at
from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.ids import new_id
from opslayer.bot.people.model import Identity
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.runs.model import Run
from opslayer.bot.views.alerts import alert_view, handoff_note, mention_of
from opslayer.bot.views.model import (
    AlertPayload,
    AlertView,
    Mention,
    MessageView,
    Ping,
    Target,
    is_digest,
)


def new_alert(
    kind: AlertKind, key: str, run: Run, *, target: Target, view: AlertView, now: datetime
) -> Alert:
    """A fresh ledger row, to be posted at once and followed up on the run's policy."""
    return Alert(
        id=new_id("alr"),
        key=key,
        kind=kind,
        status=AlertStatus.OPEN,
        target=target,
        payload={"view": view, "pings": []},
        created_at=now,
        updated_at=now,
        run_id=run.id,
        next_action_at=first_action_at(run, now),
    )


def with_ping(alert: Alert, kind: str, target: Target, view: AlertView) -> Alert:
    """The alert with one more follow-up message to send (a reminder, an escalation, a note)."""
    ping: Ping = {"kind": kind, "target": target, "view": view}
    payload: AlertPayload = {**alert.payload, "pings": [*alert.payload["pings"], ping]}
    return dataclasses.replace(alert, payload=payload, needs_sync=True)


def _with_state(alert: Alert, view: AlertView) -> AlertView:
    shown: AlertView = {**view, "state": alert.status.value, "alert_id": alert.id}
    payload = alert.payload
    if "resolution" in payload:
        shown["resolution"] = payload["resolution"]
    if "confirmed" in payload:
        shown["confirmed"] = payload["confirmed"]
    if "acknowledged" in payload:
        shown["acknowledged"] = payload["acknowledged"]
    return shown


def render(alert: Alert) -> MessageView:
    """The alert as stored, with its state: for a digest, and when the run is gone."""
    view = alert.payload["view"]
    if is_digest(view):
        return {**view, "state": alert.status.value, "alert_id": alert.id}
    return _with_state(alert, view)


def _approval_id(alert: Alert) -> str | None:
    view = alert.payload["view"]
    if is_digest(view) or "approval" not in view:
        return None
    return view["approval"]["id"]


async def _approvers(uow: UnitOfWork, approval: Approval) -> list[Mention]:
    """The people an approval names, as mentions (names opslayer does not know, as written)."""
    found: list[Mention] = []
    for name in approval.approvers:
        # An approver is named by person id, email, Slack id or Teams id (as in is_approver).
        person = await uow.people.get(name)
        if person is None:
            identity = (
                Identity(email=name)
                if "@" in name
                else Identity(slack_user_id=name, teams_user_id=name)
            )
            person = await uow.people.find(identity)
        if person is not None:
            found.append(mention_of(person))
        else:
            found.append(
                {"name": name, "email": None, "slack_user_id": None, "teams_user_id": None}
            )
    return found


async def current_view(uow: UnitOfWork, alert: Alert, now: datetime) -> MessageView:
    """The alert's message as it should read now: rebuilt from the run and its approval."""
    run = await uow.runs.get(alert.run_id) if alert.run_id else None
    if run is None or is_digest(alert.payload["view"]):
        return render(alert)
    approval = None
    approval_id = _approval_id(alert)
    if approval_id is not None:
        approval = await uow.approvals.get(approval_id)
    elif alert.kind is AlertKind.APPROVAL_OVERDUE and alert.status is not AlertStatus.RESOLVED:
        pending = await uow.approvals.for_run(run.id, status=ApprovalStatus.PENDING)
        approval = pending[0] if len(pending) == 1 else None  # the buttons decide that one
    view = alert_view(
        alert.kind,
        run,
        now=now,
        approval=approval,
        approvers=await _approvers(uow, approval) if approval is not None else (),
        checkpoints=await uow.checkpoints.for_run(run.id),
        handoff=alert.payload.get("handoff"),
        acknowledged=alert.status is AlertStatus.ACKNOWLEDGED,
    )
    return _with_state(alert, view)


def ping_view(alert_view_now: MessageView, ping: Ping, run: Run | None) -> MessageView:
    """A follow-up as it reads now: the alert's current view (so its buttons act on the same
    approval and alert), marked as a reminder or escalation; a handoff's note to the old owner
    keeps its own headline and buttons."""
    if is_digest(alert_view_now):
        return alert_view_now
    if ping["kind"] == "handoff" and run is not None:
        return {**handoff_note(alert_view_now, run), "ping": "handoff"}
    return {**alert_view_now, "ping": ping["kind"]}
