"""An agent asks a human: the approval, the run's move to waiting_approval, its audit event and
the alert that tells the owner are written in one transaction, so the message goes out at once
(not at the next scan) and is never lost."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from opslayer.bot.alerts.keys import alert_key
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.ledger import new_alert
from opslayer.bot.approvals.decisions import settle
from opslayer.bot.approvals.editing import check_schema
from opslayer.bot.approvals.model import Approval, ApprovalStatus, Decided, DecisionType
from opslayer.bot.approvals.rules import Rule, RuleDecision, matching_rule
from opslayer.bot.approvals.voting import ended
from opslayer.bot.audit import Actor, AuditEvent, Via
from opslayer.bot.errors import ValidationFailed
from opslayer.bot.ids import new_id
from opslayer.bot.people.audience import audience
from opslayer.bot.ports import Clock, Store, UnitOfWork
from opslayer.bot.runs.cache import RunCache
from opslayer.bot.runs.effects import carry_out
from opslayer.bot.runs.limits import AgentLimits
from opslayer.bot.runs.model import Run
from opslayer.bot.runs.saving import save_run
from opslayer.bot.runs.transitions import RunEvent, transition
from opslayer.bot.views.alerts import alert_view
from opslayer.bot.views.model import Escalation
from opslayer_client.contract import ApprovalIn


def asked(req: ApprovalIn, *, run_id: str, now: datetime, rule: Rule | None) -> Approval:
    """The approval as the agent asked it; a rule that asks may name other approvers and
    quorum."""
    approvers = tuple(req.approvers)
    required = req.required_approvals
    if rule is not None and rule.decide is RuleDecision.ASK:
        approvers = rule.approvers or approvers
        required = rule.required_approvals or required
    deadline = req.expires_at
    if req.timeout_s is not None:
        deadline = now + timedelta(seconds=req.timeout_s)
    return Approval(
        id=new_id("apr"),
        run_id=run_id,
        request_id=req.request_id,
        title=req.title,
        status=ApprovalStatus.PENDING,
        created_at=now,
        details=req.details,
        expires_at=deadline,
        approvers=approvers,
        state=req.state,
        action=req.action,
        arguments=req.arguments,
        arguments_schema=req.arguments_schema,
        decisions=tuple(req.decisions),
        required_approvals=required,
        on_timeout=req.on_timeout,
        risk=req.risk,
    )


def decided_by(rule: Rule) -> Actor:
    """A rule as the actor of its decisions (the audit trail says which rule)."""
    return Actor(id=f"rule:{rule.id}", name=f"rule {rule.id}", via=Via.RULE)


def by_rule(approval: Approval, rule: Rule, now: datetime) -> Approval:
    """The approval as a rule that approves or rejects at once decides it."""
    actor = decided_by(rule)
    if rule.decide is RuleDecision.APPROVE:
        yes = Decided(DecisionType.APPROVE, actor, now, arguments=approval.arguments)
        return ended(approval, ApprovalStatus.APPROVED, yes)
    no = Decided(DecisionType.REJECT, actor, now, message=f"rejected by rule {rule.id}")
    return ended(approval, ApprovalStatus.REJECTED, no)


class ApprovalRequests:
    """Opens approvals for agents (idempotent per request_id)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        cache: RunCache,
        admins: Escalation,
        on_alert: Callable[[], None],
        on_command: Callable[[], None],
        limits: AgentLimits,
    ) -> None:
        self._limits = limits
        self._store = store
        self._clock = clock
        self._cache = cache
        self._admins = admins
        self._on_alert = on_alert
        self._on_command = on_command

    async def request_approval(
        self, agent: str, run_id: str, req: ApprovalIn
    ) -> tuple[Approval, bool]:
        """Open an approval and move the run to waiting_approval; the same request_id returns it."""
        if req.expires_at is not None and req.expires_at <= self._clock.now():
            raise ValidationFailed(f"expires_at {req.expires_at.isoformat()} is already past")
        # The schema must be one, so every edit can be judged; the arguments as asked need not
        # satisfy it (a person's edit may be what makes them right).
        if req.arguments_schema is not None:  # bounded, and off the loop all the same
            await asyncio.to_thread(check_schema, req.arguments_schema)
        actor = Actor.agent(agent)

        async def change(
            uow: UnitOfWork, stored: Run, run: Run, now: datetime, fresh: bool
        ) -> tuple[Approval, Run | None] | None:
            existing = await uow.approvals.by_request_id(run_id, req.request_id)
            if existing is not None:
                return existing, None
            await self._limits.check_new_approval(uow, agent)
            after, effects = transition(run, RunEvent.REQUEST_APPROVAL, now, reason=req.title)
            after = dataclasses.replace(after, decided_at=None)  # it asks again: it moved
            saved = await save_run(uow, stored, after, now)
            if saved is None:
                return None
            rule = matching_rule(await uow.rules.live(agent), agent, req.action)
            approval = asked(req, run_id=run_id, now=now, rule=rule)
            await uow.approvals.add(approval)
            await carry_out(uow, saved, effects, actor=actor, now=now, reason=req.title)
            detail = {"approval_id": approval.id, "request_id": req.request_id, "title": req.title}
            if rule is not None:
                detail["rule_id"] = rule.id
            await uow.audit.add(AuditEvent("approval.requested", now, actor, run_id, detail))
            if rule is not None and rule.decide is not RuleDecision.ASK:
                # The rule decides at once: no message, the agent gets its command now.
                decided = by_rule(approval, rule, now)
                await settle(uow, saved, decided, actor=decided_by(rule), now=now)
                # settle may have written the run again (decided_at): remember that version
                return decided, await uow.runs.get(run_id) or saved
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
            if approval.pending:
                self._on_alert()
            else:  # a rule decided it: the agent's command is waiting
                self._on_command()
        return approval, saved is not None
