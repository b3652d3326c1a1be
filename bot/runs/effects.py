"""The one interpreter of what a run's transition decided (its effects): every path that moves a
run (an agent's report, an admin's force-cancel) carries them out here, the same way."""

from __future__ import annotations

from datetime import datetime

from opslayer.bot.alerts.model import WAITING, AlertStatus, resolve
from opslayer.bot.approvals.model import ApprovalStatus
from opslayer.bot.audit import Actor, AuditEvent
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.runs.model import Run
from opslayer.bot.runs.transitions import CloseOpenApprovals, Effect, RunEvent, StatusChanged

# The audit action of a status change, by what caused it.
_ACTION = {RunEvent.FORCE_CANCEL: "run.force_canceled"}


async def carry_out(
    uow: UnitOfWork,
    run: Run,
    effects: list[Effect],
    *,
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> None:
    """Write what the effects of `run`'s transition ask for, in the caller's transaction."""
    for effect in effects:
        match effect:
            case StatusChanged(old=old, new=new, event=event):
                detail = {"from": old.value, "to": new.value, "event": event.value}
                if run.error:
                    detail["error"] = run.error
                action = _ACTION.get(event, "run.status_changed")
                await uow.audit.add(AuditEvent(action, now, actor, run.id, detail, reason))
            case CloseOpenApprovals():
                await _end_alerts(uow, run, now=now)
                await _close_open_approvals(uow, run, actor=actor, now=now)


async def _end_alerts(uow: UnitOfWork, run: Run, *, now: datetime) -> None:
    """The run ended: every alert of it still open resolves (stuck, stale, credentials, an
    approval nobody answered), and a decision's message that was waiting for the agent says
    how the run ended, in the inbox, Slack and Teams alike."""
    ended = f"the run {run.status.value}"
    for alert in await uow.alerts.for_run(run.id):
        if alert.status is not AlertStatus.RESOLVED:
            await uow.alerts.update(resolve(alert, now=now, resolution=ended))
            continue
        said = alert.payload.get("resolution", {}).get("text", "")
        if WAITING in said:
            await uow.alerts.update(
                resolve(alert, now=now, resolution=said.replace(WAITING, f"; {ended}"))
            )


async def _close_open_approvals(uow: UnitOfWork, run: Run, *, actor: Actor, now: datetime) -> None:
    """The run ended: its pending approvals can no longer be answered."""
    closed = await uow.approvals.close_pending(run.id, status=ApprovalStatus.CANCELED, at=now)
    if closed:
        await uow.audit.add(
            AuditEvent("approval.canceled", now, actor, run.id, {"count": closed}, "run ended")
        )
