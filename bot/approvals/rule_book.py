"""Approval rules as operators keep them: add, list, remove; each change audited with who
made it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from opslayer.bot.approvals.rules import Rule, RuleDecision
from opslayer.bot.audit import Actor, AuditEvent
from opslayer.bot.errors import NotFound, ValidationFailed
from opslayer.bot.ids import new_id
from opslayer.bot.ports import Clock, Store, UnitOfWork

_GLOB = re.compile(r"^[\w.:/*?\[\]-]{1,100}$")
MAX_QUORUM = 20


def new_rule(
    *,
    agent: str,
    action: str,
    decide: RuleDecision,
    approvers: Sequence[str] = (),
    required_approvals: int | None = None,
) -> Rule:
    """A rule as asked, or ValidationFailed saying what is wrong with it."""
    if not agent.strip():
        raise ValidationFailed("a rule names an agent (or * for every agent)")
    if not _GLOB.match(action):
        raise ValidationFailed(
            f"action {action!r}: a name or glob of letters, digits and . : / - * ? [ ]"
        )
    if decide is not RuleDecision.ASK and (approvers or required_approvals is not None):
        raise ValidationFailed(
            f"a rule that decides {decide.value} at once asks nobody: approvers and"
            " required_approvals go with --decide ask"
        )
    if required_approvals is not None and not 1 <= required_approvals <= MAX_QUORUM:
        raise ValidationFailed(f"required_approvals must be 1 to {MAX_QUORUM}")
    return Rule(
        id=new_id("rule"),
        agent=agent.strip(),
        action=action,
        decide=decide,
        approvers=tuple(approvers),
        required_approvals=required_approvals,
    )


class RuleBook:
    """The rules in force, changed by people (the audit trail says who)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def add(self, rule: Rule, *, by: Actor) -> Rule:
        """Put a rule in force; `by` is who made it (kept with the rule and audited)."""

        async def job(uow: UnitOfWork) -> Rule:
            now = self._clock.now()
            made = Rule(
                id=rule.id,
                agent=rule.agent,
                action=rule.action,
                decide=rule.decide,
                approvers=rule.approvers,
                required_approvals=rule.required_approvals,
                created_by=by.name,
                created_at=now,
            )
            await uow.rules.add(made)
            await uow.audit.add(AuditEvent("rule.added", now, by, None, rule_detail(made)))
            return made

        return await self._store.run(job)

    async def listing(self, agent: str | None = None) -> list[Rule]:
        async with self._store.read() as uow:
            return await uow.rules.live(agent)

    async def remove(self, rule_id: str, *, by: Actor) -> Rule:
        """Take a rule out of force (it stays in the audit trail)."""

        async def job(uow: UnitOfWork) -> Rule:
            now = self._clock.now()
            removed = await uow.rules.remove(rule_id, at=now)
            if removed is None:
                raise NotFound(f"no rule {rule_id} in force: `opslayer rules list` shows them")
            await uow.audit.add(AuditEvent("rule.removed", now, by, None, rule_detail(removed)))
            return removed

        return await self._store.run(job)


def rule_detail(rule: Rule) -> dict[str, object]:
    detail: dict[str, object] = {
        "rule_id": rule.id,
        "agent": rule.agent,
        "action": rule.action,
        "decide": rule.decide.value,
    }
    if rule.approvers:
        detail["approvers"] = list(rule.approvers)
    if rule.required_approvals is not None:
        detail["required_approvals"] = rule.required_approvals
    return detail
