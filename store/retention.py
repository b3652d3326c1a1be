"""Removing ended runs with everything that hangs off them (the audit trail only when asked)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select

from opslayer.bot.runs.model import RunStatus
from opslayer.store.db import Db
from opslayer.store.tables import (
    alerts,
    approvals,
    audit_events,
    checkpoints,
    commands,
    delivery_attempts,
    memory_refs,
    runs,
)

_ENDED = [s.value for s in RunStatus if s.terminal]
# Children first: what refers to a run goes before the run.
_CHILDREN = (
    ("checkpoints", checkpoints),
    ("approvals", approvals),
    ("delivery attempts", delivery_attempts),
    ("commands", commands),
    ("alerts", alerts),
    ("memory references", memory_refs),
)


class SqlRetentionRepository:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def ended_before(self, moment: datetime, *, limit: int) -> list[str]:
        query = (
            select(runs.c.id)
            .where(runs.c.status.in_(_ENDED), runs.c.status_changed_at < moment)
            .limit(limit)
        )
        return [row.id for row in await self._conn.execute(query)]

    async def count_ended_before(self, moment: datetime) -> dict[str, int]:
        """What a prune would remove, without removing it."""
        ended = select(runs.c.id).where(
            runs.c.status.in_(_ENDED), runs.c.status_changed_at < moment
        )
        found: dict[str, int] = {}

        for name, table in (*_CHILDREN, ("audit events", audit_events), ("runs", runs)):
            key = table.c.id if table is runs else table.c.run_id
            counted = select(func.count()).select_from(table).where(key.in_(ended))
            found[name] = int((await self._conn.execute(counted)).scalar_one())
        return found

    async def purge(self, run_ids: Sequence[str], *, audit: bool) -> dict[str, int]:
        removed: dict[str, int] = {}
        tables = [*_CHILDREN, *([("audit events", audit_events)] if audit else [])]
        for name, table in tables:
            result = await self._conn.execute(delete(table).where(table.c.run_id.in_(run_ids)))
            removed[name] = max(int(result.rowcount), 0)
        result = await self._conn.execute(delete(runs).where(runs.c.id.in_(run_ids)))
        removed["runs"] = max(int(result.rowcount), 0)
        return removed
