"""Approvals: requests for a human decision, decided at most once; and the rules that decide
some of them without a human."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update

from opslayer.bot.approvals.model import (
    Approval,
    ApprovalStatus,
    Decided,
    DecisionType,
    OnTimeout,
    Risk,
    Vote,
)
from opslayer.bot.approvals.rules import Rule, RuleDecision
from opslayer.bot.audit import Actor, Via
from opslayer.store.db import Db
from opslayer.store.tables import agents, approval_rules, approvals, runs


def _vote(stored: dict[str, Any]) -> Vote:
    return Vote(
        person_id=stored["person_id"],
        name=stored["name"],
        at=datetime.fromisoformat(stored["at"]),
        via=stored["via"],
        type=DecisionType(stored["type"]),
        arguments=stored.get("arguments"),
    )


def _decided(stored: dict[str, Any] | None) -> Decided | None:
    if stored is None:
        return None
    by = stored["by"]
    return Decided(
        type=DecisionType(stored["type"]),
        by=Actor(id=by["id"], name=by["name"], via=Via(by["via"])),
        at=datetime.fromisoformat(stored["at"]),
        arguments=stored.get("arguments"),
        message=stored.get("message"),
    )


def _approval(row: Row[Any]) -> Approval:
    return Approval(
        id=row.id,
        run_id=row.run_id,
        request_id=row.request_id,
        title=row.title,
        status=ApprovalStatus(row.status),
        created_at=row.created_at,
        details=row.details,
        expires_at=row.expires_at,
        approvers=tuple(row.approvers),
        state=row.state,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        comment=row.comment,
        action=row.action,
        arguments=row.arguments,
        arguments_schema=row.arguments_schema,
        decisions=tuple(DecisionType(d) for d in row.decisions),
        required_approvals=row.required_approvals,
        on_timeout=OnTimeout(row.on_timeout),
        risk=Risk(row.risk) if row.risk else None,
        votes=tuple(_vote(v) for v in row.votes),
        decision=_decided(row.decision),
    )


def _decision_column(decided: Decided | None) -> dict[str, Any] | None:
    if decided is None:
        return None
    return {
        "type": decided.type.value,
        "by": {"id": decided.by.id, "name": decided.by.name, "via": decided.by.via.value},
        "at": decided.at.isoformat(),
        "arguments": decided.arguments,
        "message": decided.message,
    }


def _votes_column(approval: Approval) -> list[dict[str, Any]]:
    return [
        {
            "person_id": v.person_id,
            "name": v.name,
            "at": v.at.isoformat(),
            "via": v.via,
            "type": v.type.value,
            "arguments": v.arguments,
        }
        for v in approval.votes
    ]


def _decision_values(approval: Approval) -> dict[str, Any]:
    """What a decision (or a vote) changes."""
    return {
        "status": approval.status.value,
        "decided_by": approval.decided_by,
        "decided_at": approval.decided_at,
        "comment": approval.comment,
        "votes": _votes_column(approval),
        "decision": _decision_column(approval.decision),
    }


class SqlApprovalRepository:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def get(self, approval_id: str) -> Approval | None:
        row = (
            await self._conn.execute(select(approvals).where(approvals.c.id == approval_id))
        ).first()
        return _approval(row) if row else None

    async def by_request_id(self, run_id: str, request_id: str) -> Approval | None:
        query = select(approvals).where(
            approvals.c.run_id == run_id, approvals.c.request_id == request_id
        )
        row = (await self._conn.execute(query)).first()
        return _approval(row) if row else None

    async def add(self, approval: Approval) -> None:
        await self._conn.execute(
            insert(approvals).values(
                id=approval.id,
                run_id=approval.run_id,
                request_id=approval.request_id,
                title=approval.title,
                details=approval.details,
                expires_at=approval.expires_at,
                approvers=list(approval.approvers),
                state=approval.state,
                created_at=approval.created_at,
                action=approval.action,
                arguments=approval.arguments,
                arguments_schema=approval.arguments_schema,
                decisions=[d.value for d in approval.decisions],
                required_approvals=approval.required_approvals,
                on_timeout=approval.on_timeout.value,
                risk=approval.risk.value if approval.risk else None,
                **_decision_values(approval),
            )
        )

    async def for_run(self, run_id: str, *, status: ApprovalStatus | None = None) -> list[Approval]:
        query = select(approvals).where(approvals.c.run_id == run_id)
        if status is not None:
            query = query.where(approvals.c.status == status.value)
        return [_approval(r) for r in await self._conn.execute(query.order_by(approvals.c.id))]

    async def decide(self, approval: Approval) -> bool:
        """Record a vote or a decision if the approval is still pending; False when it was
        decided meanwhile (another replica, a double click, the deadline)."""
        result = await self._conn.execute(
            update(approvals)
            .where(
                approvals.c.id == approval.id, approvals.c.status == ApprovalStatus.PENDING.value
            )
            .values(_decision_values(approval))
        )
        return result.rowcount == 1

    async def count_pending(self, agent: str) -> int:
        query = (
            select(func.count())
            .select_from(
                approvals.join(runs, approvals.c.run_id == runs.c.id).join(
                    agents, runs.c.agent_id == agents.c.id
                )
            )
            .where(agents.c.name == agent, approvals.c.status == ApprovalStatus.PENDING.value)
        )
        return int((await self._conn.execute(query)).scalar_one())

    async def pending(self, *, limit: int = 500) -> list[Approval]:
        """Pending approvals, oldest first."""
        query = (
            select(approvals)
            .where(approvals.c.status == ApprovalStatus.PENDING.value)
            .order_by(approvals.c.created_at)
            .limit(limit)
        )
        return [_approval(r) for r in await self._conn.execute(query)]

    async def past_deadline(self, now: datetime, *, limit: int = 500) -> list[Approval]:
        """Pending approvals whose deadline has passed."""
        query = (
            select(approvals)
            .where(
                approvals.c.status == ApprovalStatus.PENDING.value, approvals.c.expires_at <= now
            )
            .order_by(approvals.c.expires_at)
            .limit(limit)
        )
        return [_approval(r) for r in await self._conn.execute(query)]

    async def close_pending(self, run_id: str, *, status: ApprovalStatus, at: datetime) -> int:
        result = await self._conn.execute(
            update(approvals)
            .where(approvals.c.run_id == run_id, approvals.c.status == ApprovalStatus.PENDING.value)
            .values(status=status.value, decided_at=at)
        )
        return int(result.rowcount)


def _rule(row: Row[Any]) -> Rule:
    return Rule(
        id=row.id,
        agent=row.agent,
        action=row.action,
        decide=RuleDecision(row.decide),
        approvers=tuple(row.approvers),
        required_approvals=row.required_approvals,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class SqlRuleRepository:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def add(self, rule: Rule) -> None:
        await self._conn.execute(
            insert(approval_rules).values(
                id=rule.id,
                agent=rule.agent,
                action=rule.action,
                decide=rule.decide.value,
                approvers=list(rule.approvers),
                required_approvals=rule.required_approvals,
                created_by=rule.created_by,
                created_at=rule.created_at,
            )
        )

    async def live(self, agent: str | None = None) -> list[Rule]:
        """The rules in force (for one agent: its own and those for every agent), oldest first."""
        query = select(approval_rules).where(approval_rules.c.removed_at.is_(None))
        if agent is not None:
            query = query.where(approval_rules.c.agent.in_([agent, "*"]))
        rows = await self._conn.execute(query.order_by(approval_rules.c.created_at))
        return [_rule(r) for r in rows]

    async def remove(self, rule_id: str, *, at: datetime) -> Rule | None:
        row = (
            await self._conn.execute(
                select(approval_rules).where(
                    approval_rules.c.id == rule_id, approval_rules.c.removed_at.is_(None)
                )
            )
        ).first()
        if row is None:
            return None
        await self._conn.execute(
            update(approval_rules).where(approval_rules.c.id == rule_id).values(removed_at=at)
        )
        return _rule(row)
