"""What agents do to their runs over the API: register, report a status, record a checkpoint,
heartbeat. Each loads, decides (pure: transitions, health), and saves with its audit event in
one transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from opslayer.bot.alerts.keys import alert_key
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.ledger import new_alert
from opslayer.bot.alerts.model import AlertStatus, changed_at, resolve
from opslayer.bot.approvals.model import ApprovalStatus
from opslayer.bot.audit import Actor, AuditEvent
from opslayer.bot.commands.egress import Egress
from opslayer.bot.errors import Conflict, InvalidTransition, ValidationFailed
from opslayer.bot.ids import new_id
from opslayer.bot.people.audience import audience
from opslayer.bot.people.claims import claimed_fields, resolve_claim
from opslayer.bot.people.model import Identity, OwnerClaim, Person
from opslayer.bot.ports import Clock, Store, UnitOfWork
from opslayer.bot.runs.cache import RunCache
from opslayer.bot.runs.effects import carry_out
from opslayer.bot.runs.health import assess, record_heartbeat
from opslayer.bot.runs.limits import AgentLimits
from opslayer.bot.runs.model import (
    Channel,
    Checkpoint,
    Context,
    MemoryRef,
    Policy,
    Run,
    RunStatus,
    SideEffect,
)
from opslayer.bot.runs.saving import save_run
from opslayer.bot.runs.transitions import event_for_report, transition
from opslayer.bot.views.alerts import alert_view, stamp
from opslayer.bot.views.model import AlertPayload, Escalation, Note
from opslayer_client.contract import CheckpointIn, ContextIn, Heartbeat, RunCreate, StatusReport


def _person_for(identity: Identity) -> Person:
    """A person made from an agent's claim, named by the one identity claimed, shown as an id
    (an agent chooses it: it must not read as a name until an admin or a platform gives one)."""
    name = identity.email or (
        f"Slack user {identity.slack_user_id}"
        if identity.slack_user_id
        else f"Teams user {identity.teams_user_id}"
    )
    return Person(
        id=new_id("per"),
        name=name,
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
        if approval.status is ApprovalStatus.PENDING:
            continue
        alert = await uow.alerts.by_key(alert_key(AlertKind.APPROVAL, approval_id=approval.id))
        if alert is None or "confirmed" in alert.payload:
            continue
        note: Note = {"text": f"the agent reported {run.status.value}", "at": stamp(now)}
        payload: AlertPayload = {**alert.payload, "confirmed": note}
        await uow.alerts.update(
            dataclasses.replace(
                alert, payload=payload, updated_at=changed_at(alert, now), needs_sync=True
            )
        )


async def _retried(uow: UnitOfWork, failed: Run, now_run: Run, now: datetime) -> None:
    """A failed run was re-opened: its failure alert says so, and its buttons go."""
    key = alert_key(AlertKind.FAILED, run_id=failed.id, attempt=failed.attempt)
    alert = await uow.alerts.by_key(key)
    if alert is not None and alert.status is not AlertStatus.RESOLVED:
        note = f"retried: attempt {now_run.attempt} is {now_run.status.value}"
        await uow.alerts.update(resolve(alert, now=now, resolution=note))


class RunService:
    """The agent's writes to its runs (reads: bot.runs.reads; approvals: bot.approvals)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        cache: RunCache,
        egress: Egress,
        admins: Escalation,
        on_alert: Callable[[], None],
        limits: AgentLimits,
    ) -> None:
        # Every collaborator is required: a forgotten one (the admins' channels once were) is a
        # type error, not a failure alert that silently goes nowhere.
        self._limits = limits
        self._store = store
        self._clock = clock
        self._cache = cache
        self._egress = egress
        self._admins = admins
        self._on_alert = on_alert

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
        self._cache.remember(run)
        return self._cache.current(run), created

    async def _register(self, uow: UnitOfWork, agent: str, req: RunCreate) -> tuple[Run, bool]:
        now = self._clock.now()
        existing = await uow.runs.by_external_id(agent, req.external_id)
        if existing is not None:
            return existing, False
        await self._limits.check_new_run(uow, agent)
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
            mismatch = {
                "claimed": {f: getattr(claim, f) for f in claimed_fields(claim)},
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
        return await self._cache.heartbeat(
            agent, run_id, at=beat.at, step=beat.step, progress=beat.progress, message=beat.message
        )

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
            await carry_out(uow, saved, effects, actor=actor, now=now, reason=report.reason)
            if stored.status is RunStatus.WAITING_APPROVAL and saved.status is not stored.status:
                await _confirm_decisions(uow, saved, now)
            if saved.status is RunStatus.FAILED and stored.status is not RunStatus.FAILED:
                await self._failure_alert(uow, saved, now)
            elif stored.status is RunStatus.FAILED and saved.status is not RunStatus.FAILED:
                await _retried(uow, stored, saved, now)
            if (
                report.auth_expires_at is not None
                and report.auth_expires_at != stored.auth_expires_at
            ):
                detail = {"auth_expires_at": report.auth_expires_at.isoformat()}
                await uow.audit.add(AuditEvent("run.auth_expiry_set", now, actor, run_id, detail))
            return saved, True

        run, changed = await self._store.run(
            lambda uow: self._cache.with_run(uow, agent, run_id, change)
        )
        if changed and run.status is RunStatus.FAILED:
            self._on_alert()
        return self._cache.saved(run) if changed else run

    async def _failure_alert(self, uow: UnitOfWork, run: Run, now: datetime) -> None:
        """The owner hears of a failure at once (not at the next digest), with the error, the
        last checkpoint and what a retry would replay: the alert is in this commit."""
        checkpoints = await uow.checkpoints.for_run(run.id)
        view = alert_view(AlertKind.FAILED, run, now=now, checkpoints=checkpoints)
        await uow.alerts.add(
            new_alert(
                AlertKind.FAILED,
                alert_key(AlertKind.FAILED, run_id=run.id, attempt=run.attempt),
                run,
                target=await audience(uow, run, admins=self._admins),
                view=view,
                now=now,
            )
        )

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
            lambda uow: self._cache.with_run(uow, agent, run_id, change)
        )
        self._cache.saved(saved)
        return checkpoint, created
