"""Deciding approvals: a person approves or rejects (rights checked, once only), or the
approval's deadline passes. Each decision is recorded with its audit event, the update of the
approval's message, and the command for the agent, in one transaction."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from opslayer.bot.alerts.keys import alert_key
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import AlertStatus, resolve
from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.audit import SYSTEM, AuditEvent, Via, actor_of
from opslayer.bot.commands.issuing import Decision, enqueue
from opslayer.bot.commands.model import CommandKind
from opslayer.bot.commands.rules import check_command
from opslayer.bot.errors import ApprovalNotFound, Conflict, RunNotFound, ValidationFailed
from opslayer.bot.people.acting import Acting
from opslayer.bot.people.model import Person
from opslayer.bot.ports import UnitOfWork


async def resolve_approval_alert(
    uow: UnitOfWork, approval_id: str, *, now: datetime, resolution: str
) -> None:
    """The approval's message says how it ended, and its buttons go."""
    alert = await uow.alerts.by_key(alert_key(AlertKind.APPROVAL, approval_id=approval_id))
    if alert is not None and alert.status is not AlertStatus.RESOLVED:
        await uow.alerts.update(resolve(alert, now=now, resolution=resolution))


class ApprovalDecisions:
    """Approve and reject as a person; expire what nobody decided in time."""

    def __init__(self, acting: Acting) -> None:
        self._acting = acting

    async def pending_approval(self, run_id: str, approval_id: str | None = None) -> Approval:
        """The run's one pending approval (or the named one): what `approve RUN` acts on."""
        async with self._acting.store.read() as uow:
            if await uow.runs.get(run_id) is None:
                raise RunNotFound(run_id)
            pending = await uow.approvals.for_run(run_id, status=ApprovalStatus.PENDING)
        if approval_id is not None:
            chosen = next((a for a in pending if a.id == approval_id), None)
            if chosen is None:
                raise ApprovalNotFound(approval_id)
            return chosen
        if not pending:
            raise Conflict(f"run {run_id} has no pending approval")
        if len(pending) > 1:
            ids = ", ".join(a.id for a in pending)
            raise ValidationFailed(
                f"run {run_id} has {len(pending)} pending approvals ({ids}): name one"
            )
        return pending[0]

    async def approve(
        self, approval_id: str, *, person: Person, via: Via, comment: str | None = None
    ) -> Decision:
        """Approve; the agent gets the approval's `state` back unchanged."""
        return await self._decide(
            approval_id, ApprovalStatus.APPROVED, person=person, via=via, comment=comment
        )

    async def reject(
        self, approval_id: str, *, person: Person, via: Via, comment: str | None = None
    ) -> Decision:
        """Reject, with an optional reason the agent receives."""
        return await self._decide(
            approval_id, ApprovalStatus.REJECTED, person=person, via=via, comment=comment
        )

    async def _decide(
        self,
        approval_id: str,
        verdict: ApprovalStatus,
        *,
        person: Person,
        via: Via,
        comment: str | None,
    ) -> Decision:
        acting = self._acting
        kind = CommandKind.APPROVE if verdict is ApprovalStatus.APPROVED else CommandKind.REJECT
        actor = actor_of(person, via)
        async with acting.store.read() as uow:
            found = await uow.approvals.get(approval_id)
        if found is None:
            raise ApprovalNotFound(approval_id)

        async def job(uow: UnitOfWork) -> Decision:
            now = acting.clock.now()
            run = await acting.locked_run(uow, found.run_id)
            approval = await uow.approvals.get(approval_id)
            assert approval is not None
            acting.allow(person, run, kind.value, approval)
            if approval.status is not ApprovalStatus.PENDING:
                raise Conflict(await _already(uow, approval))
            if approval.expires_at is not None and approval.expires_at <= now:
                raise Conflict(
                    f"approval {approval_id} expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC"
                )
            check_command(run, kind)
            decided = dataclasses.replace(
                approval, status=verdict, decided_by=person.id, decided_at=now, comment=comment
            )
            if not await uow.approvals.decide(decided):
                raise Conflict(await _already(uow, approval))
            detail = {"approval_id": approval_id, "title": approval.title}
            await uow.audit.add(
                AuditEvent(f"approval.{verdict.value}", now, actor, run.id, detail, comment)
            )
            note = f"{verdict.value.capitalize()} by {person.name}, waiting for the agent"
            await resolve_approval_alert(uow, approval_id, now=now, resolution=note)
            return await enqueue(
                uow, run=run, kind=kind, actor=actor, now=now, reason=comment, approval=decided
            )

        return await acting.audited(
            person=person, via=via, action=kind.value, run_id=found.run_id, job=job
        )

    async def expire_due(self) -> int:
        """Approvals past `expires_at` expire; their messages say so. Returns how many."""
        acting = self._acting

        async def job(uow: UnitOfWork) -> int:
            now = acting.clock.now()
            expired = await uow.approvals.expire_due(now)
            for approval in expired:
                detail = {"approval_id": approval.id, "title": approval.title}
                await uow.audit.add(
                    AuditEvent("approval.expired", now, SYSTEM, approval.run_id, detail)
                )
                await resolve_approval_alert(
                    uow, approval.id, now=now, resolution="expired without a decision"
                )
            return len(expired)

        return await acting.store.run(job)


async def _already(uow: UnitOfWork, approval: Approval) -> str:
    """'already approved by Alice at 10:32' for the one who clicked second."""
    current = await uow.approvals.get(approval.id)
    assert current is not None
    who = await uow.people.get(current.decided_by) if current.decided_by else None
    by = f" by {who.name}" if who else ""
    at = f" at {current.decided_at:%H:%M} UTC" if current.decided_at else ""
    return f"approval {approval.id} is no longer pending: already {current.status}{by}{at}"
