"""Operators' commands to a run's agent: cancel, pause, resume, retry, force-cancel, redeliver.

Each checks rights and what the run's status allows, then writes the command (the outbox row)
with its audit event in one transaction. A command is issued once: while one is open (pending
or delivered), the same request (a double click, a chat platform's retry) finds it by its key,
which the database keeps unique.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from opslayer.bot.alerts.keys import command_key
from opslayer.bot.approvals.model import Approval
from opslayer.bot.audit import Actor, AuditEvent, Via, actor_of
from opslayer.bot.commands.message import command_message
from opslayer.bot.commands.model import Command, CommandKind, CommandStatus, NewOwner
from opslayer.bot.commands.outbox import set_undelivered_flag
from opslayer.bot.commands.rules import RetryPlan, check_command, plan_retry
from opslayer.bot.errors import (
    CommandNotFound,
    ConfirmationRequired,
    Conflict,
    NotAuthorized,
)
from opslayer.bot.ids import new_id
from opslayer.bot.people.acting import Acting
from opslayer.bot.people.model import Person
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.runs.effects import carry_out
from opslayer.bot.runs.health import assess
from opslayer.bot.runs.model import Health, Run
from opslayer.bot.runs.saving import save_run_or_conflict
from opslayer.bot.runs.transitions import RunEvent, transition


@dataclass(frozen=True, slots=True)
class Decision:
    """What an operator's action produced: the command for the agent, and the approval if any."""

    command: Command
    approval: Approval | None = None
    created: bool = True  # False: the same command was already on its way (a double click)


async def enqueue(
    uow: UnitOfWork,
    *,
    run: Run,
    kind: CommandKind,
    actor: Actor,
    now: datetime,
    reason: str | None,
    approval: Approval | None = None,
    retry: RetryPlan | None = None,
    new_owner: NewOwner | None = None,
    open_key: str | None = None,
) -> Decision:
    """Write a command for the agent and its audit event; when `open_key` is given and a command
    with that key is still open, that one is the answer (created=False)."""
    if open_key is not None:
        existing = await uow.commands.open_with_key(open_key)
        if existing is not None:
            return Decision(existing, approval, created=False)
    command_id = new_id("cmd")
    payload = command_message(
        command_id=command_id,
        kind=kind,
        run=run,
        actor=actor,
        issued_at=now,
        reason=reason,
        approval=approval,
        retry=retry,
        new_owner=new_owner,
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
        open_key=open_key,
    )
    await uow.commands.add(command)
    detail = {"command_id": command_id, "kind": kind.value}
    await uow.audit.add(AuditEvent("command.issued", now, actor, run.id, detail, reason))
    return Decision(command, approval)


class RunCommands:
    """Cancel, pause, resume, retry and force-cancel runs; redeliver commands."""

    def __init__(self, acting: Acting) -> None:
        self._acting = acting

    async def _issue(
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
        acting = self._acting
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Decision:
            now = acting.clock.now()
            run = await acting.locked_run(uow, run_id)
            acting.allow(person, run, kind.value)
            check_command(run, kind)
            if confirm is not None:
                confirm(run, now)
            plan = await retry(uow, run) if retry is not None else None
            start = plan.from_checkpoint.checkpoint_id if plan and plan.from_checkpoint else None
            key = command_key(run.id, kind.value, episode=run.status_changed_at, checkpoint=start)
            return await enqueue(
                uow,
                run=run,
                kind=kind,
                actor=actor,
                now=now,
                reason=reason,
                retry=plan,
                open_key=key,
            )

        return await acting.audited(
            person=person, via=via, action=kind.value, run_id=run_id, job=job
        )

    async def cancel(
        self, run_id: str, *, person: Person, via: Via, reason: str | None = None
    ) -> Decision:
        """Ask the agent to cancel the run."""
        return await self._issue(run_id, CommandKind.CANCEL, person=person, via=via, reason=reason)

    async def pause(
        self, run_id: str, *, person: Person, via: Via, reason: str | None = None
    ) -> Decision:
        """Ask the agent to pause the run."""
        return await self._issue(run_id, CommandKind.PAUSE, person=person, via=via, reason=reason)

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

        return await self._issue(
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

        return await self._issue(
            run_id, CommandKind.RETRY, person=person, via=via, reason=reason, retry=plan
        )

    async def force_cancel(
        self, run_id: str, *, person: Person, via: Via, reason: str | None = None
    ) -> Decision:
        """Admins only: mark canceled a run whose agent no longer answers (and tell the agent).
        The transition's effects are carried out as for any other (pending approvals close)."""
        acting = self._acting
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Decision:
            now = acting.clock.now()
            run = await acting.locked_run(uow, run_id)
            if not acting.admins.includes(person):
                raise NotAuthorized(
                    actor=person.name, action="force-cancel", target=f"run {run_id}: admins only"
                )
            after, effects = transition(run, RunEvent.FORCE_CANCEL, now, reason=reason)
            ended = await save_run_or_conflict(uow, run, after, now)
            await carry_out(uow, ended, effects, actor=actor, now=now, reason=reason)
            return await enqueue(
                uow, run=ended, kind=CommandKind.CANCEL, actor=actor, now=now, reason=reason
            )

        return await acting.audited(
            person=person, via=via, action="force_cancel", run_id=run_id, job=job
        )

    async def redeliver(self, command_id: str, *, person: Person, via: Via) -> Command:
        """Start delivery of a command over (after the agent's endpoint is fixed)."""
        acting = self._acting
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Command:
            now = acting.clock.now()
            command = await uow.commands.get(command_id, for_update=True)
            if command is None:
                raise CommandNotFound(command_id)
            run = await acting.locked_run(uow, command.run_id)
            acting.allow(person, run, "redeliver")
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

        return await acting.audited(
            person=person, via=via, action="redeliver", run_id=None, job=job
        )
