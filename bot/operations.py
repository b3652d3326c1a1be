"""Operators' use cases: decide approvals and command runs, each as a person through a surface.

Every one checks rights, then in ONE transaction records the decision, its audit event and the
command for the agent (the outbox). A refusal a person caused is audited too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.audience import audience
from bot.domain.alerts import Alert, AlertKind, AlertStatus, acknowledge, approval_key, resolve
from bot.domain.commands import RetryPlan, check_command, command_message, plan_retry
from bot.domain.models import Actor, Approval, AuditEvent, Command, Identity, Person, Run
from bot.domain.policy import assess
from bot.domain.status import ApprovalStatus, CommandKind, CommandStatus, Health, Via
from bot.domain.transitions import CloseOpenApprovals, RunEvent, StatusChanged, transition
from bot.errors import (
    ApprovalNotFound,
    CommandNotFound,
    ConfirmationRequired,
    Conflict,
    NotAuthorized,
    OpsError,
    RunNotFound,
    ValidationFailed,
)
from bot.ids import new_id
from bot.outbox import set_undelivered_flag
from bot.ports import Clock, Store, T, UnitOfWork
from bot.rights import Admins, may_act
from bot.run_writes import save_run_or_conflict
from bot.views import alert_view
from bot.watch import new_alert


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """What an operator's action produced: the command for the agent, and the approval if any."""

    command: Command
    approval: Approval | None = None
    created: bool = True  # False: the same command was already on its way (a double click)


def _actor(person: Person, via: Via) -> Actor:
    return Actor(id=person.id, name=person.name, via=via)


class Operations:
    """Approve, reject, cancel, pause, resume, retry, reassign and force-cancel runs."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        admins: Admins,
        on_command: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._admins = admins
        self._on_command = on_command or (lambda: None)

    # ---- plumbing ----------------------------------------------------------------------

    async def _audited(
        self,
        *,
        person: Person,
        via: Via,
        action: str,
        run_id: str | None,
        job: Callable[[UnitOfWork], Awaitable[T]],
    ) -> T:
        """Run the job; if it refuses, write the refusal to the audit trail and re-raise."""
        try:
            result = await self._store.run(job)
        except OpsError as refusal:
            detail = {"action": action, "refusal": type(refusal).__name__}
            event = AuditEvent(
                "action.refused",
                self._clock.now(),
                _actor(person, via),
                run_id,
                detail,
                refusal.message,
            )

            async def record(uow: UnitOfWork) -> None:
                await uow.audit.add(event)

            await self._store.run(record)
            raise
        self._on_command()
        return result

    async def record_refusal(
        self,
        *,
        who: str,
        via: Via,
        action: str,
        run_id: str | None,
        reason: str,
        person: Person | None = None,
        refusal: str = "unknown person",
    ) -> None:
        """Audit a refusal the use cases never saw: a stranger's click (`who` is their platform
        id), or a known `person`'s click on a card that is out of date."""
        actor = _actor(person, via) if person else Actor(id=f"{via.value}:{who}", name=who, via=via)
        event = AuditEvent(
            "action.refused",
            self._clock.now(),
            actor,
            run_id,
            {"action": action, "refusal": refusal},
            reason,
        )

        async def record(uow: UnitOfWork) -> None:
            await uow.audit.add(event)

        await self._store.run(record)

    async def _run(self, uow: UnitOfWork, run_id: str) -> Run:
        run = await uow.runs.get(run_id, for_update=True)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def _allow(
        self, person: Person, run: Run, action: str, approval: Approval | None = None
    ) -> None:
        if not may_act(person, run, self._admins, approval):
            raise NotAuthorized(
                actor=person.name, action=action, target=f"run {run.id} ({run.title})"
            )

    async def _enqueue(
        self,
        uow: UnitOfWork,
        *,
        run: Run,
        kind: CommandKind,
        actor: Actor,
        now: datetime,
        reason: str | None,
        **message: Any,
    ) -> Command:
        command_id = new_id("cmd")
        payload = command_message(
            command_id=command_id,
            kind=kind,
            run=run,
            actor=actor,
            issued_at=now,
            reason=reason,
            **message,
        )
        command = Command(
            id=command_id,
            run_id=run.id,
            kind=kind,
            status=CommandStatus.PENDING,
            payload=payload,
            created_at=now,
            # Agents without a webhook poll for their commands: nothing to deliver.
            next_attempt_at=now if run.webhook_url else None,
        )
        await uow.commands.add(command)
        detail = {"command_id": command_id, "kind": kind.value}
        await uow.audit.add(AuditEvent("command.issued", now, actor, run.id, detail, reason))
        return command

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
        actor = _actor(person, via)

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
        actor = _actor(person, via)
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

    async def reassign(
        self,
        run_id: str,
        *,
        person: Person,
        via: Via,
        new_owner: Identity,
        reason: str | None = None,
    ) -> Alert:
        """Offer the run to another known person; until they accept, the owner stays responsible.

        Both are told: the new owner gets the offer with an Accept button, the old owner a note.
        An offer nobody accepts within the run's escalate_after_s lapses."""
        actor = _actor(person, via)

        async def job(uow: UnitOfWork) -> Alert:
            now = self._clock.now()
            run = await self._run(uow, run_id)
            self._allow(person, run, "reassign")
            check_command(run, CommandKind.REASSIGN)
            owner = await uow.people.find(new_owner)
            if owner is None or owner.removed:
                raise ValidationFailed(
                    f"{new_owner.display_name()} is not a known person: "
                    "add them with 'opslayer people add'"
                )
            if owner.id == run.owner.id:
                raise ValidationFailed(f"{owner.name} already owns run {run_id}")
            until = now + timedelta(seconds=run.policy.escalate_after_s)
            offered = dataclasses.replace(run, pending_owner_id=owner.id, handoff_until=until)
            await save_run_or_conflict(uow, run, offered, now)
            detail = {"from": run.owner.id, "to": owner.id, "until": until.isoformat()}
            await uow.audit.add(
                AuditEvent("run.handoff_offered", now, actor, run_id, detail, reason)
            )
            as_new_owner = dataclasses.replace(run, owner=owner)
            view = alert_view(AlertKind.HANDOFF, run, now=now)
            view["offered_by"] = person.name
            view["reason"] = reason
            alert = new_alert(
                AlertKind.HANDOFF,
                f"handoff:{run_id}:{now.isoformat()}",
                run,
                target=await audience(uow, as_new_owner, admins={}),
                view=view,
                now=now,
            )
            note = alert_view(AlertKind.HANDOFF, run, now=now)
            note["headline"] = (
                f"{run.title} is offered to {owner.name}; it stays yours until they accept"
            )
            note["actions"] = ["details"]  # the offer is theirs to accept, not the owner's
            old_owner = await audience(uow, run, admins={})
            alert = dataclasses.replace(
                alert,
                next_action_at=until,
                payload={
                    **alert.payload,
                    "pings": [{"kind": "handoff", "target": old_owner, "view": note}],
                },
            )
            await uow.alerts.add(alert)
            return alert

        return await self._audited(
            person=person, via=via, action="reassign", run_id=run_id, job=job
        )

    async def accept_ownership(self, run_id: str, *, person: Person, via: Via) -> Decision:
        """The person a run was offered to takes it; the agent is told who owns it now."""
        actor = _actor(person, via)

        async def job(uow: UnitOfWork) -> Decision:
            now = self._clock.now()
            run = await self._run(uow, run_id)
            if run.pending_owner_id != person.id:
                raise NotAuthorized(
                    actor=person.name,
                    action="accept",
                    target=f"run {run_id}: it was not offered to them",
                )
            taken = dataclasses.replace(
                run, owner=person, pending_owner_id=None, handoff_until=None
            )
            moved = await save_run_or_conflict(uow, run, taken, now)
            detail = {"from": run.owner.id, "to": person.id}
            await uow.audit.add(AuditEvent("run.reassigned", now, actor, run_id, detail))
            for alert in await uow.alerts.open_for_run(run_id):
                if alert.kind is AlertKind.HANDOFF:
                    await uow.alerts.update(
                        resolve(
                            alert,
                            now=now,
                            resolution=f"Accepted by {person.name} at {now:%H:%M} UTC",
                        )
                    )
            new = {"id": person.id, "name": person.name, "email": person.email}
            command = await self._enqueue(
                uow,
                run=moved,
                kind=CommandKind.REASSIGN,
                actor=actor,
                now=now,
                reason=None,
                new_owner=new,
            )
            return Decision(command)

        return await self._audited(person=person, via=via, action="accept", run_id=run_id, job=job)

    async def force_cancel(
        self, run_id: str, *, person: Person, via: Via, reason: str | None = None
    ) -> Decision:
        """Admins only: mark canceled a run whose agent no longer answers (and tell the agent)."""
        actor = _actor(person, via)

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

    async def acknowledge(self, run_id: str, *, person: Person, via: Via) -> list[Alert]:
        """Take the run's open alerts: escalation waits until the acknowledgement times out."""
        actor = _actor(person, via)

        async def job(uow: UnitOfWork) -> list[Alert]:
            now = self._clock.now()
            run = await self._run(uow, run_id)
            self._allow(person, run, "acknowledge")
            taken = []
            for alert in await uow.alerts.open_for_run(run_id):
                if alert.status is AlertStatus.OPEN and alert.kind is not AlertKind.APPROVAL:
                    acked = acknowledge(alert, person_id=person.id, now=now)
                    note = f"Acknowledged by {person.name} at {now:%H:%M} UTC"
                    acked = dataclasses.replace(
                        acked, payload={**acked.payload, "acknowledged": note}
                    )
                    await uow.alerts.update(acked)
                    taken.append(acked)
            if not taken:
                raise Conflict(f"run {run_id} has no open alert to acknowledge")
            detail = {"alerts": [a.kind.value for a in taken]}
            await uow.audit.add(AuditEvent("alert.acknowledged", now, actor, run_id, detail))
            return taken

        return await self._audited(
            person=person, via=via, action="acknowledge", run_id=run_id, job=job
        )

    async def redeliver(self, command_id: str, *, person: Person, via: Via) -> Command:
        """Start delivery of a command over (after the agent's endpoint is fixed)."""
        actor = _actor(person, via)

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
