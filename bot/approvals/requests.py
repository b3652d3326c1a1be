"""An agent asks a human: the approval, the run's move to waiting_approval, its audit event and
the alert that tells the owner are written in one transaction, so the message goes out at once
(not at the next scan) and is never lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from opslayer.bot.alerts.keys import alert_key
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.ledger import new_alert
from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.audit import Actor, AuditEvent
from opslayer.bot.errors import ValidationFailed
from opslayer.bot.ids import new_id
from opslayer.bot.people.audience import audience
from opslayer.bot.ports import Clock, Store, UnitOfWork
from opslayer.bot.runs.cache import RunCache
from opslayer.bot.runs.effects import carry_out
from opslayer.bot.runs.model import Run
from opslayer.bot.runs.saving import save_run
from opslayer.bot.runs.transitions import RunEvent, transition
from opslayer.bot.views.alerts import alert_view
from opslayer.bot.views.model import Escalation
from opslayer_client.contract import ApprovalIn


class ApprovalRequests:
    """Opens approvals for agents (idempotent per request_id)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        cache: RunCache,
        admins: Escalation | None = None,
        on_alert: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache = cache
        self._admins: Escalation = admins or {}
        self._on_alert = on_alert or (lambda: None)

    async def request_approval(
        self, agent: str, run_id: str, req: ApprovalIn
    ) -> tuple[Approval, bool]:
        """Open an approval and move the run to waiting_approval; the same request_id returns it."""
        if req.expires_at is not None and req.expires_at <= self._clock.now():
            raise ValidationFailed(f"expires_at {req.expires_at.isoformat()} is already past")
        actor = Actor.agent(agent)

        async def change(
            uow: UnitOfWork, stored: Run, run: Run, now: datetime, fresh: bool
        ) -> tuple[Approval, Run | None] | None:
            existing = await uow.approvals.by_request_id(run_id, req.request_id)
            if existing is not None:
                return existing, None
            after, effects = transition(run, RunEvent.REQUEST_APPROVAL, now, reason=req.title)
            saved = await save_run(uow, stored, after, now)
            if saved is None:
                return None
            approval = Approval(
                id=new_id("apr"),
                run_id=run_id,
                request_id=req.request_id,
                title=req.title,
                status=ApprovalStatus.PENDING,
                created_at=now,
                details=req.details,
                expires_at=req.expires_at,
                approvers=tuple(req.approvers),
                state=req.state,
            )
            await uow.approvals.add(approval)
            await carry_out(uow, saved, effects, actor=actor, now=now, reason=req.title)
            detail = {"approval_id": approval.id, "request_id": req.request_id, "title": req.title}
            await uow.audit.add(AuditEvent("approval.requested", now, actor, run_id, detail))
            view = alert_view(
                AlertKind.APPROVAL,
                saved,
                now=now,
                approval=approval,
                checkpoints=await uow.checkpoints.for_run(run_id),
            )
            alert = new_alert(
                AlertKind.APPROVAL,
                alert_key(AlertKind.APPROVAL, approval_id=approval.id),
                saved,
                target=await audience(uow, saved, admins=self._admins),
                view=view,
                now=now,
            )
            await uow.alerts.add(alert)
            return approval, saved

        approval, saved = await self._store.run(
            lambda uow: self._cache.with_run(uow, agent, run_id, change)
        )
        if saved is not None:
            self._cache.saved(saved)
            self._on_alert()
        return approval, saved is not None
