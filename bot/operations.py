"""Operators' use cases: decide approvals and command runs, each as a person through a surface.

Every one checks rights, then in ONE transaction records the decision, its audit event and the
command for the agent (the outbox). A refusal a person caused is audited too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from opslayer.bot.acting import Decision, actor_of
from opslayer.bot.domain.alerts import AlertStatus, approval_key, resolve
from opslayer.bot.domain.commands import RetryPlan, check_command, plan_retry
from opslayer.bot.domain.models import Approval, AuditEvent, Command, Person, Run
from opslayer.bot.domain.policy import assess
from opslayer.bot.domain.status import ApprovalStatus, CommandKind, CommandStatus, Health, Via
from opslayer.bot.domain.transitions import CloseOpenApprovals, RunEvent, StatusChanged, transition
from opslayer.bot.errors import (
    ApprovalNotFound,
    CommandNotFound,
    ConfirmationRequired,
    Conflict,
    NotAuthorized,
    RunNotFound,
    ValidationFailed,
)
from opslayer.bot.outbox import set_undelivered_flag
from opslayer.bot.ownership import Ownership
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.run_writes import save_run_or_conflict


class Operations(Ownership):
    """Approve, reject, cancel, pause, resume, retry and force-cancel runs, redeliver commands;
    reassign, accept and acknowledge come with Ownership."""

    async def _simple(
        self,
        run_id: str,
        kind: CommandKind,
        *,
        person: Person,
        via: Via,
        reason: str | None,
        confirm: Callable[[Run, datetime], None] | None = None,
        retry: Callable[[UnitOfWork, Run], Awaitable[RetryPlan]] | None = None,
    ) -> Decision:
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Decision:
            now = self._clock.now()
            run = await self._run(uow, run_id)
            self._allow(person, run, kind.value)
            check_command(run, kind)
            if confirm is not None:
                confirm(run, now)
            plan = await retry(uow, run) if retry is not None else None
            existing = await uow.commands.open_of_kind(run.id, kind)
            if existing is not None and _same_request(existing, run, plan):
                return Decision(existing, created=False)
            command = await self._enqueue(
                uow, run=run, kind=kind, actor=actor, now=now, reason=reason, retry=plan
            )
            return Decision(command)

        return await self._audited(
            person=person, via=via, action=kind.value, run_id=run_id, job=job
        )

    # ---- approvals ---------------------------------------------------------------------

    async def pending_approval(self, run_id: str, approval_id: str | None = None) -> Approval:
        """The run's one pending approval (or the named one): what `approve RUN` acts on."""
        async with self._store.read() as uow:
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
        kind = CommandKind.APPROVE if verdict is ApprovalStatus.APPROVED else CommandKind.REJECT
        actor = actor_of(person, via)
        async with self._store.read() as uow:
            found = await uow.approvals.get(approval_id)
        if found is None:
            raise ApprovalNotFound(approval_id)

        async def job(uow: UnitOfWork) -> Decision:
            now = self._clock.now()
            run = await self._run(uow, found.run_id)
            approval = await uow.approvals.get(approval_id)
            assert approval is not None
            self._allow(person, run, kind.value, approval)
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
            decided_note = f"{verdict.value.capitalize()} by {person.name} at {now:%H:%M} UTC"
            await _resolve_alert(
                uow, approval_key(approval_id), now, f"{decided_note}, waiting for the agent"
            )
            command = await self._enqueue(
                uow, run=run, kind=kind, actor=actor, now=now, reason=comment, approval=decided
            )
            return Decision(command, decided)

        return await self._audited(
            person=person, via=via, action=kind.value, run_id=found.run_id, job=job
        )

    # ---- run commands ------------------------------------------------------------------

    async def cancel(
        self, run_id: str, *, person: Person, via: Via, reason: str | None = None
    ) -> Decision:
        """Ask the agent to cancel the run."""
        return await self._simple(run_id, CommandKind.CANCEL, person=person, via=via, reason=reason)

    async def pause(
        self, run_id: str, *, person: Person, via: Via, reason: str | None = None
    ) -> Decision:
        """Ask the agent to pause the run."""
        return await self._simple(run_id, CommandKind.PAUSE, person=person, via=via, reason=reason)

    async def resume(
        self,
        run_id: str,
        *,
        person: Person,
        via: Via,
        reason: str | None = None,
        confirm_stale: bool = False,
    ) -> Decision:
        """Ask the agent to resume; a stale run (or stale memory) needs confirm_stale."""

        def confirm(run: Run, now: datetime) -> None:
            if confirm_stale:
                return
            risks = []
            if Health.STALE in assess(run, now)[0]:
                since = f"{run.status_changed_at:%Y-%m-%d %H:%M} UTC"
                risks.append(f"the run has been {run.status} since {since}")
            horizon = now - timedelta(seconds=run.policy.stale_after_s)
            old = [m.key for m in run.context.memory if m.updated_at < horizon]
            if old:
                risks.append("its memory may be out of date: " + ", ".join(old))
            if risks:
                raise ConfirmationRequired(action=f"resuming run {run.id}", risks=risks)

        return await self._simple(
            run_id, CommandKind.RESUME, person=person, via=via, reason=reason, confirm=confirm
        )

    async def retry(
        self,
        run_id: str,
        *,
        person: Person,
        via: Via,
        reason: str | None = None,
        from_checkpoint_id: str | None = None,
        confirm_replay: bool = False,
    ) -> Decision:
        """Ask the agent to retry, from a checkpoint if named; the command lists the side effects
        already committed after it, and replaying non-idempotent ones needs confirm_replay."""

        async def plan(uow: UnitOfWork, run: Run) -> RetryPlan:
            retry_plan = plan_retry(await uow.checkpoints.for_run(run.id), from_checkpoint_id)
            if retry_plan.unsafe and not confirm_replay:
                effects = ", ".join(
                    f"{e.key} ({e.description})" if e.description else e.key
                    for e in retry_plan.unsafe
                )
                raise ConfirmationRequired(
                    action=f"retrying run {run.id}",
                    risks=[f"it may repeat side effects that are not idempotent: {effects}"],
                )
            return retry_plan

        return await self._simple(
            run_id, CommandKind.RETRY, person=person, via=via, reason=reason, retry=plan
        )

    async def force_cancel(
        self, run_id: str, *, person: Person, via: Via, reason: str | None = None
    ) -> Decision:
        """Admins only: mark canceled a run whose agent no longer answers (and tell the agent)."""
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Decision:
            now = self._clock.now()
            run = await self._run(uow, run_id)
            if not self._admins.includes(person):
                raise NotAuthorized(
                    actor=person.name, action="force-cancel", target=f"run {run_id}: admins only"
                )
            after, effects = transition(run, RunEvent.FORCE_CANCEL, now, reason=reason)
            ended = await save_run_or_conflict(uow, run, after, now)
            for effect in effects:
                if isinstance(effect, StatusChanged):
                    detail = {
                        "from": effect.old.value,
                        "to": effect.new.value,
                        "event": effect.event.value,
                    }
                    await uow.audit.add(
                        AuditEvent("run.force_canceled", now, actor, run_id, detail, reason)
                    )
                elif isinstance(effect, CloseOpenApprovals):
                    await uow.approvals.close_pending(
                        run_id, status=ApprovalStatus.CANCELED, at=now
                    )
            command = await self._enqueue(
                uow, run=ended, kind=CommandKind.CANCEL, actor=actor, now=now, reason=reason
            )
            return Decision(command)

        return await self._audited(
            person=person, via=via, action="force_cancel", run_id=run_id, job=job
        )

    async def redeliver(self, command_id: str, *, person: Person, via: Via) -> Command:
        """Start delivery of a command over (after the agent's endpoint is fixed)."""
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Command:
            now = self._clock.now()
            command = await uow.commands.get(command_id, for_update=True)
            if command is None:
                raise CommandNotFound(command_id)
            run = await self._run(uow, command.run_id)
            self._allow(person, run, "redeliver")
            if command.status in (
                CommandStatus.ACKED,
                CommandStatus.FAILED,
                CommandStatus.DELIVERED,
            ):
                raise Conflict(f"command {command_id} is {command.status}: nothing to redeliver")
            again = dataclasses.replace(
                command,
                status=CommandStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                last_error=None,
            )
            await uow.commands.update(again)
            await set_undelivered_flag(uow, run.id, now=now)  # it is on its way again
            detail = {"command_id": command_id, "kind": command.kind.value}
            await uow.audit.add(
                AuditEvent("command.redelivery_requested", now, actor, run.id, detail)
            )
            return again

        return await self._audited(person=person, via=via, action="redeliver", run_id=None, job=job)


async def _resolve_alert(uow: UnitOfWork, key: str, now: datetime, resolution: str) -> None:
    alert = await uow.alerts.by_key(key)
    if alert is not None and alert.status is not AlertStatus.RESOLVED:
        await uow.alerts.update(resolve(alert, now=now, resolution=resolution))


def _same_request(existing: Command, run: Run, plan: RetryPlan | None) -> bool:
    """A double click (or a chat platform's retry): the same command the agent has not acted on
    yet, since the run has not moved since it was issued."""
    if existing.created_at < run.status_changed_at:
        return False
    if plan is None:
        return True
    start = plan.from_checkpoint.checkpoint_id if plan.from_checkpoint else None
    return bool(existing.payload["command"].get("from_checkpoint_id") == start)


async def _already(uow: UnitOfWork, approval: Approval) -> str:
    """'already approved by Alice at 10:32' for the one who clicked second."""
    current = await uow.approvals.get(approval.id)
    assert current is not None
    who = await uow.people.get(current.decided_by) if current.decided_by else None
    by = f" by {who.name}" if who else ""
    at = f" at {current.decided_at:%H:%M} UTC" if current.decided_at else ""
    return f"approval {approval.id} is no longer pending: already {current.status}{by}{at}"
