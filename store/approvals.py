"""Approvals: requests for a human decision, decided at most once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.store.db import Db
from opslayer.store.tables import approvals


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
    )


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
                status=approval.status.value,
                expires_at=approval.expires_at,
                approvers=list(approval.approvers),
                state=approval.state,
                created_at=approval.created_at,
            )
        )

    async def for_run(self, run_id: str, *, status: ApprovalStatus | None = None) -> list[Approval]:
        query = select(approvals).where(approvals.c.run_id == run_id)
        if status is not None:
            query = query.where(approvals.c.status == status.value)
        return [_approval(r) for r in await self._conn.execute(query.order_by(approvals.c.id))]

    async def decide(self, approval: Approval) -> bool:
        """Record a decision if the approval is still pending; False when someone was first."""
        result = await self._conn.execute(
            update(approvals)
            .where(
                approvals.c.id == approval.id, approvals.c.status == ApprovalStatus.PENDING.value
            )
            .values(
                status=approval.status.value,
                decided_by=approval.decided_by,
                decided_at=approval.decided_at,
                comment=approval.comment,
            )
        )
        return result.rowcount == 1

    async def expire_due(self, now: datetime) -> list[Approval]:
        """Mark pending approvals past `expires_at` expired; return them."""
        query = select(approvals).where(
            approvals.c.status == ApprovalStatus.PENDING.value, approvals.c.expires_at <= now
        )
        due = [_approval(r) for r in await self._conn.execute(query)]
        if due:
            await self._conn.execute(
                update(approvals)
                .where(approvals.c.id.in_([a.id for a in due]))
                .values(status=ApprovalStatus.EXPIRED.value, decided_at=now)
            )
        return due

    async def close_pending(self, run_id: str, *, status: ApprovalStatus, at: datetime) -> int:
        result = await self._conn.execute(
            update(approvals)
            .where(approvals.c.run_id == run_id, approvals.c.status == ApprovalStatus.PENDING.value)
            .values(status=status.value, decided_at=at)
        )
        return int(result.rowcount)
