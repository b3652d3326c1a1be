"""The audit trail: appended, never changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, insert, select

from opslayer.bot.audit import Actor, AuditEvent, Via
from opslayer.store.db import Db
from opslayer.store.tables import audit_events


class SqlAuditRepository:
    """Audit rows are collected and written in one statement when the transaction ends
    (`flush`), still inside it; a read of the trail flushes first."""

    def __init__(self, conn: Db, pending: list[dict[str, Any]]) -> None:
        self._conn = conn
        self._pending = pending

    async def add(self, event: AuditEvent) -> None:
        self._pending.append(
            {
                "run_id": event.run_id,
                "at": event.at,
                "action": event.action,
                "actor_id": event.actor.id,
                "actor_name": event.actor.name,
                "via": event.actor.via.value,
                "reason": event.reason,
                "detail": event.detail,
            }
        )
        self._conn.dirty = True

    async def flush(self) -> None:
        if self._pending:
            rows = list(self._pending)
            self._pending.clear()
            await self._conn.execute(insert(audit_events), rows)

    async def for_run(self, run_id: str) -> list[AuditEvent]:
        await self.flush()
        rows = await self._conn.execute(
            select(audit_events).where(audit_events.c.run_id == run_id).order_by(audit_events.c.id)
        )
        return _events(rows)

    async def listing(self, *, after_id: int = 0, limit: int = 1000) -> list[AuditEvent]:
        await self.flush()
        rows = await self._conn.execute(
            select(audit_events)
            .where(audit_events.c.id > after_id)
            .order_by(audit_events.c.id)
            .limit(limit)
        )
        return _events(rows)


def _events(rows: Iterable[Row[Any]]) -> list[AuditEvent]:
    return [
        AuditEvent(
            id=r.id,
            run_id=r.run_id,
            at=r.at,
            action=r.action,
            actor=Actor(id=r.actor_id, name=r.actor_name, via=Via(r.via)),
            reason=r.reason,
            detail=r.detail,
        )
        for r in rows
    ]
