"""Use cases of the agent API: load, decide (pure), save with the audit event in one transaction."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

from opslayer.bot.audience import audience
from opslayer.bot.domain.alerts import AlertKind, approval_key, resolve
from opslayer.bot.domain.claims import claimed_fields, resolve_claim
from opslayer.bot.domain.liveness import record_heartbeat
from opslayer.bot.domain.models import (
    Actor,
    Approval,
    AuditEvent,
    Channel,
    Checkpoint,
    Command,
    Context,
    Identity,
    MemoryRef,
    OwnerClaim,
    Person,
    Policy,
    Run,
    SideEffect,
)
from opslayer.bot.domain.policy import assess
from opslayer.bot.domain.status import ApprovalStatus, CommandStatus, RunStatus
from opslayer.bot.domain.transitions import (
    CloseOpenApprovals,
    Effect,
    RunEvent,
    StatusChanged,
    event_for_report,
    transition,
)
from opslayer.bot.egress import DEFAULT_EGRESS, Egress
from opslayer.bot.errors import (
    CommandNotFound,
    Conflict,
    Forbidden,
    InvalidTransition,
    OpsError,
    StorageUnavailable,
    ValidationFailed,
)
from opslayer.bot.heartbeats import HeartbeatBuffer, RunSnapshots
from opslayer.bot.ids import new_id
from opslayer.bot.ports import BeatUpdate, Clock, Store, T, UnitOfWork
from opslayer.bot.run_reads import RunReads
from opslayer.bot.run_writes import save_run
from opslayer.bot.views import alert_view
from opslayer.bot.watch import new_alert
from opslayer_client.contract import (
    ApprovalIn,
    CheckpointIn,
    CommandAck,
    ContextIn,
    Heartbeat,
    RunCreate,
    StatusReport,
)

log = logging.getLogger("opslayer.runs")


def _person_for(identity: Identity) -> Person:
    return Person(
        id=new_id("per"),
        name=identity.display_name(),
        email=identity.email,
        slack_user_id=identity.slack_user_id,
        teams_user_id=identity.teams_user_id,
    )


def _policy(overrides: dict[str, int | None]) -> Policy:
    return Policy(**{k: v for k, v in overrides.items() if v is not None})


def _assessed(run: Run, now: datetime) -> Run:
    health, next_check = assess(run, now)
    return dataclasses.replace(run, health=health, next_check_at=next_check)


async def _existing_checkpoint(uow: UnitOfWork, run_id: str, checkpoint_id: str) -> Checkpoint:
    existing = await uow.checkpoints.get(run_id, checkpoint_id)
    if existing is None:
        raise Conflict(f"checkpoint {checkpoint_id!r} of run {run_id} vanished")
    return existing


async def _confirm_decisions(uow: UnitOfWork, run: Run, now: datetime) -> None:
    """The loop closes when the agent confirms: decided approvals' messages say it moved on."""
    for approval in await uow.approvals.for_run(run.id):
        alert = await uow.alerts.by_key(approval_key(approval.id))
        if (
            alert is None
            or "confirmed" in alert.payload
            or approval.status is ApprovalStatus.PENDING
        ):
            continue
        note = f"the agent reported {run.status.value} at {now:%H:%M} UTC"
        payload = {**alert.payload, "confirmed": note}
        await uow.alerts.update(
            dataclasses.replace(alert, payload=payload, updated_at=now, needs_sync=True)
        )


def _with_beat(run: Run, beat: Run, now: datetime) -> Run:
    """`run` with the liveness a buffered heartbeat (`beat`, a run snapshot) carries."""
    assert beat.last_heartbeat_at is not None
    return record_heartbeat(
        run,
        at=beat.last_heartbeat_at,
        now=now,
        step=beat.step,
        progress=beat.progress,
        message=beat.message,
    )


class RunService(RunReads):
    """What agents do to their runs (the reads are RunReads')."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        run_cache_ttl_s: float = 1.0,
        admins_target: dict[str, Any] | None = None,
        on_alert: Callable[[], None] | None = None,
        egress: Egress = DEFAULT_EGRESS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._egress = egress
        self._admins = admins_target or {}
        self._on_alert = on_alert or (lambda: None)
        self._beats = HeartbeatBuffer()
        self._snapshots = RunSnapshots(ttl_s=run_cache_ttl_s)

    # ---- agent writes ------------------------------------------------------------------

    async def register_run(self, agent: str, req: RunCreate) -> tuple[Run, bool]:
        """Register a run; the same external_id again returns the existing run (created=False)."""
        refusal = self._egress.refusal(str(req.webhook_url)) if req.webhook_url else None
        if refusal is not None:
            raise ValidationFailed(f"webhook_url: {refusal}")
        try:
            run, created = await self._store.run(lambda uow: self._register(uow, agent, req))
        except Conflict:
            # Two registrations raced on the same external_id or owner: the other one won.
            run, created = await self._store.run(lambda uow: self._register(uow, agent, req))
        self._snapshots.put(run)
        return self._with_pending_beat(run), created

    async def _register(self, uow: UnitOfWork, agent: str, req: RunCreate) -> tuple[Run, bool]:
        now = self._clock.now()
        existing = await uow.runs.by_external_id(agent, req.external_id)
        if existing is not None:
            return existing, False
        claim = Identity(**req.owner.model_dump())
        resolution = resolve_claim(claim, await uow.people.holders(claim))
        owner = resolution.owner or await uow.people.add(_person_for(resolution.anchor))
        context = req.context or ContextIn()
        run = Run(
            id=new_id("run"),
            external_id=req.external_id,
            agent=agent,
            title=req.title,
            status=RunStatus.QUEUED,
            owner=owner,
            created_at=now,
            updated_at=now,
            status_changed_at=now,
            channel=Channel(**req.channel.model_dump()) if req.channel else Channel(),
            webhook_url=str(req.webhook_url) if req.webhook_url else None,
            policy=_policy(req.policy.model_dump()) if req.policy else Policy(),
            context=Context(
                thread_id=context.thread_id,
                memory=tuple(MemoryRef(m.key, m.scope, m.updated_at) for m in context.memory),
            ),
            labels=dict(req.labels),
            owner_claim=OwnerClaim(
                email=claim.email,
                slack_user_id=claim.slack_user_id,
                teams_user_id=claim.teams_user_id,
                name=claim.name,
                unverified=resolution.unverified,
            ),
        )
        run = _assessed(run, now)
        await uow.runs.add(run)
        actor = Actor.agent(agent)
        detail = {"external_id": run.external_id, "owner": owner.id, "title": run.title}
        await uow.audit.add(AuditEvent("run.registered", now, actor, run.id, detail))
        if resolution.unverified:
            claimed = {f: getattr(claim, f) for f in claimed_fields(claim)}
            mismatch = {
                "claimed": claimed,
                "owner": owner.id,
                "unverified": list(resolution.unverified),
            }
            why = "the claimed identities are not all one known person's; only verified ones count"
            await uow.audit.add(
                AuditEvent("owner.claim_mismatch", now, actor, run.id, mismatch, why)
            )
        return run, True

    async def heartbeat(self, agent: str, run_id: str, beat: Heartbeat) -> Run:
        """Record a sign of life; refused for a run that has ended. Written in batches."""
        now = self._clock.now()
        snapshot = self._snapshots.get(run_id)
        if snapshot is not None and snapshot.agent != agent:
            raise Forbidden(agent=agent, resource=f"run {run_id}")
        if snapshot is None or snapshot.status.terminal:
            # Refuse only on the stored status: another replica may have re-opened the run.
            async with self._store.read() as uow:
                snapshot = await self._owned(uow, agent, run_id)
            self._snapshots.put(snapshot)
        if snapshot.status.terminal:
            raise InvalidTransition(run_id=run_id, status=snapshot.status, event="heartbeat")
        run = record_heartbeat(
            self._beats.base_for(snapshot),
            at=beat.at or now,
            now=now,
            step=beat.step,
            progress=beat.progress,
            message=beat.message,
        )
        self._beats.put(run, version=snapshot.version)
        return run

    async def flush_heartbeats(self) -> int:
        """Write every pending heartbeat in one transaction; return how many runs were written.

        A batch the database refuses is written again beat by beat, so one bad row never costs
        another agent's liveness: the offender is logged and dropped. When the database itself
        is away, the beats go back into the buffer (unless newer ones arrived) for the next
        round, and StorageUnavailable is raised."""
        batch = self._beats.drain()
        if not batch:
            return 0
        try:
            missed = await self._store.run(partial(self._write_beats, batch=batch))
        except StorageUnavailable:
            self._beats.restore(batch)
            raise
        except Exception:
            log.warning(
                "writing %d heartbeats together failed; writing them one by one", len(batch)
            )
            missed = await self._beats_one_by_one(batch)
        for beat in batch:
            if beat.run.id in missed:
                self._snapshots.drop(beat.run.id)
            else:
                self._snapshots.put(beat.run)
        return len(batch)

    async def _beats_one_by_one(self, batch: list[BeatUpdate]) -> set[str]:
        missed: set[str] = set()
        for index, beat in enumerate(batch):
            try:
                missed |= await self._store.run(partial(self._write_beats, batch=[beat]))
            except StorageUnavailable:
                self._beats.restore(batch[index:])
                raise
            except Exception as refused:
                missed.add(beat.run.id)
                log.error(
                    "dropped a heartbeat the database refused: run %s of agent %s (%s)",
                    beat.run.id,
                    beat.run.agent,
                    type(refused).__name__,
                )
        return missed

    async def _write_beats(self, uow: UnitOfWork, batch: list[BeatUpdate]) -> set[str]:
        now = self._clock.now()
        missed = set(await uow.runs.apply_beats(batch))
        for beat in batch:
            if beat.run.id not in missed or beat.run.last_heartbeat_at is None:
                continue
            # The run moved on since the snapshot (a status change): fold the beat into it.
            fresh = await uow.runs.get(beat.run.id, for_update=True)
            if fresh is None or fresh.status.terminal:
                continue
            rebuilt = _with_beat(fresh, beat.run, now)
            await uow.runs.apply_beats([BeatUpdate(run=rebuilt, version=fresh.version)])
        return missed

    def _folded(self, stored: Run, now: datetime) -> Run:
        """The stored run with any buffered heartbeat folded in."""
        pending = self._beats.peek(stored.id)
        if pending is None or pending.run.last_heartbeat_at is None:
            return stored
        return _with_beat(stored, pending.run, now)

    async def _with_run(
        self,
        uow: UnitOfWork,
        agent: str | None,
        run_id: str,
        change: Callable[[UnitOfWork, Run, Run, datetime, bool], Awaitable[T | None]],
    ) -> T:
        """Call `change(uow, stored, current, now, fresh)`, first on the snapshot if there is one.

        `change` writes the run with `_save` first and returns None when that write finds the
        run moved on, or when it would answer from a snapshot (`fresh` False) without writing.
        A refusal based on a snapshot is checked again on the stored run, since the snapshot may
        be behind. The second try reads the run locked, so it cannot be stale.
        """
        now = self._clock.now()
        snapshot = self._snapshots.get(run_id)
        if snapshot is not None:
            if agent is not None and snapshot.agent != agent:
                raise Forbidden(agent=agent, resource=f"run {run_id}")
            with contextlib.suppress(OpsError):
                result = await change(uow, snapshot, self._folded(snapshot, now), now, False)
                if result is not None:
                    return result
            self._snapshots.drop(run_id)
        stored = await self._owned(uow, agent, run_id, lock=True)
        result = await change(uow, stored, self._folded(stored, now), now, True)
        if result is None:
            raise Conflict(f"run {run_id} changed while it was locked")
        return result

    def _saved(self, run: Run) -> Run:
        """After commit: drop the buffered heartbeat the row now holds; remember the run."""
        pending = self._beats.peek(run.id)
        covered = pending is not None and (
            pending.run.last_heartbeat_at is None
            or (
                run.last_heartbeat_at is not None
                and pending.run.last_heartbeat_at <= run.last_heartbeat_at
            )
        )
        if covered:
            self._beats.pop(run.id)
        self._snapshots.put(run)
        return run

    async def _carry_out(
        self,
        uow: UnitOfWork,
        run: Run,
        effects: list[Effect],
        *,
        actor: Actor,
        now: datetime,
        reason: str | None,
    ) -> None:
        for effect in effects:
            match effect:
                case StatusChanged(old=old, new=new, event=event):
                    detail = {"from": old.value, "to": new.value, "event": event.value}
                    if run.error:
                        detail["error"] = run.error
                    event_row = AuditEvent("run.status_changed", now, actor, run.id, detail, reason)
                    await uow.audit.add(event_row)
                case CloseOpenApprovals():
                    for approval in await uow.approvals.for_run(
                        run.id, status=ApprovalStatus.PENDING
                    ):
                        alert = await uow.alerts.by_key(approval_key(approval.id))
                        if alert is not None:
                            done = resolve(alert, now=now, resolution=f"the run {run.status.value}")
                            await uow.alerts.update(done)
                    closed = await uow.approvals.close_pending(
                        run.id, status=ApprovalStatus.CANCELED, at=now
                    )
                    if closed:
                        event_row = AuditEvent(
                            "approval.canceled", now, actor, run.id, {"count": closed}, "run ended"
                        )
                        await uow.audit.add(event_row)

    async def report_status(self, agent: str, run_id: str, report: StatusReport) -> Run:
        """Apply a status the agent reports; an illegal one raises InvalidTransition (409)."""
        actor = Actor.agent(agent)
        event = event_for_report(report.status)

        async def change(
            uow: UnitOfWork, stored: Run, run: Run, now: datetime, fresh: bool
        ) -> tuple[Run, bool] | None:
            after, effects = transition(run, event, now, reason=report.reason, error=report.error)
            if report.auth_expires_at is not None:
                after = dataclasses.replace(after, auth_expires_at=report.auth_expires_at)
            elif (
                stored.status is RunStatus.WAITING_AUTH
                and after.status is not RunStatus.WAITING_AUTH
            ):
                after = dataclasses.replace(after, auth_expires_at=None)  # it got new credentials
            if after == stored:  # nothing to write: answer only from what is stored
                return (stored, False) if fresh else None
            saved = await save_run(uow, stored, after, now)
            if saved is None:
                return None
            await self._carry_out(uow, saved, effects, actor=actor, now=now, reason=report.reason)
            if stored.status is RunStatus.WAITING_APPROVAL and saved.status is not stored.status:
                await _confirm_decisions(uow, saved, now)
            if (
                report.auth_expires_at is not None
                and report.auth_expires_at != stored.auth_expires_at
            ):
                detail = {"auth_expires_at": report.auth_expires_at.isoformat()}
                await uow.audit.add(AuditEvent("run.auth_expiry_set", now, actor, run_id, detail))
            return saved, True

        run, changed = await self._store.run(lambda uow: self._with_run(uow, agent, run_id, change))
        return self._saved(run) if changed else run

    async def add_checkpoint(
        self, agent: str, run_id: str, req: CheckpointIn
    ) -> tuple[Checkpoint, bool]:
        """Record a checkpoint with its side effects; the same checkpoint_id again returns it."""
        actor = Actor.agent(agent)
        effects = tuple(SideEffect(e.key, e.idempotent, e.description) for e in req.side_effects)

        async def change(
            uow: UnitOfWork, stored: Run, run: Run, now: datetime, fresh: bool
        ) -> tuple[Checkpoint, Run, bool] | None:
            if run.status.terminal:
                raise InvalidTransition(run_id=run_id, status=run.status, event="checkpoint")
            # A checkpoint is a sign of life too. A repeated one still counts as one: the agent
            # is alive, and skipping the look-up first keeps the common case to one write.
            saved = await save_run(
                uow, stored, record_heartbeat(run, at=now, now=now, step=req.step), now
            )
            if saved is None:
                return None
            checkpoint = Checkpoint(
                id=new_id("ckp"),
                run_id=run_id,
                checkpoint_id=req.checkpoint_id,
                step=req.step,
                created_at=now,
                seq=saved.version,  # versions only grow, so they order a run's checkpoints
                summary=req.summary,
                resumable=req.resumable,
                side_effects=effects,
            )
            if not await uow.checkpoints.add(checkpoint):
                return await _existing_checkpoint(uow, run_id, req.checkpoint_id), saved, False
            detail = {
                "checkpoint_id": req.checkpoint_id,
                "step": req.step,
                "side_effects": len(effects),
                "non_idempotent": [e.key for e in effects if not e.idempotent],
            }
            await uow.audit.add(AuditEvent("checkpoint.recorded", now, actor, run_id, detail))
            return checkpoint, saved, True

        checkpoint, saved, created = await self._store.run(
            lambda uow: self._with_run(uow, agent, run_id, change)
        )
        self._saved(saved)
        return checkpoint, created

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
            await self._carry_out(uow, saved, effects, actor=actor, now=now, reason=req.title)
            detail = {"approval_id": approval.id, "request_id": req.request_id, "title": req.title}
            await uow.audit.add(AuditEvent("approval.requested", now, actor, run_id, detail))
            # The owner hears of it now, not at the next scan: the alert row is in this commit.
            target = await audience(uow, saved, admins=self._admins)
            checkpoints = await uow.checkpoints.for_run(run_id)
            view = alert_view(
                AlertKind.APPROVAL, saved, now=now, approval=approval, checkpoints=checkpoints
            )
            alert = new_alert(
                AlertKind.APPROVAL,
                approval_key(approval.id),
                saved,
                target=target,
                view=view,
                now=now,
            )
            await uow.alerts.add(alert)
            return approval, saved

        approval, saved = await self._store.run(
            lambda uow: self._with_run(uow, agent, run_id, change)
        )
        if saved is not None:
            self._saved(saved)
            self._on_alert()
        return approval, saved is not None

    async def ack_command(self, agent: str, command_id: str, ack: CommandAck) -> Command:
        """The agent confirms it acted on a command (or failed); the same ack again is a no-op."""
        status = CommandStatus.ACKED if ack.result == "done" else CommandStatus.FAILED

        async def job(uow: UnitOfWork) -> Command:
            now = self._clock.now()
            command = await uow.commands.get(command_id, for_update=True)
            if command is None:
                raise CommandNotFound(command_id)
            await self._owned(uow, agent, command.run_id)
            if command.status in (CommandStatus.ACKED, CommandStatus.FAILED):
                if command.status is status:
                    return command
                raise Conflict(f"command {command_id} was already acknowledged as {command.status}")
            acked = dataclasses.replace(
                command,
                status=status,
                acked_at=now,
                result_message=ack.message,
                next_attempt_at=None,
            )
            await uow.commands.update(acked)
            detail = {"command_id": command_id, "kind": command.kind.value, "result": ack.result}
            await uow.audit.add(
                AuditEvent(
                    "command.acked", now, Actor.agent(agent), command.run_id, detail, ack.message
                )
            )
            return acked

        return await self._store.run(job)
