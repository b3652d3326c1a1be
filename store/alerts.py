"""The alert ledger (one row per alert key, ever) and the leases replicas take turns with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, or_, select, update

from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import Alert, AlertStatus
from opslayer.store.db import Db, per_dialect
from opslayer.store.tables import alerts as alerts_table
from opslayer.store.tables import leases

_COLUMNS = (
    "id",
    "key",
    "run_id",
    "kind",
    "status",
    "target",
    "payload",
    "message_refs",
    "reminders",
    "next_action_at",
    "acked_by",
    "acked_until",
    "escalated_at",
    "needs_sync",
    "created_at",
    "updated_at",
    "resolved_at",
)
_INSERT = per_dialect(
    lambda insert: (
        insert(alerts_table)
        .values({c: bindparam(c) for c in _COLUMNS})
        .on_conflict_do_nothing(index_elements=["key"])
    )
)


_PINGS = ":pings"


def _refs_column(refs: dict[str, dict[str, str]], sent: dict[str, int]) -> dict[str, Any]:
    """Both kept in `message_refs`: the surface's reference, and `<surface>:pings` counts."""
    return {**refs, **{f"{name}{_PINGS}": n for name, n in sent.items()}}


def _refs(stored: dict[str, Any]) -> tuple[dict[str, dict[str, str]], dict[str, int]]:
    refs = {k: v for k, v in stored.items() if not k.endswith(_PINGS)}
    sent = {k.removesuffix(_PINGS): int(v) for k, v in stored.items() if k.endswith(_PINGS)}
    return refs, sent


def _values(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "key": alert.key,
        "run_id": alert.run_id,
        "kind": alert.kind.value,
        "status": alert.status.value,
        "target": alert.target,
        "payload": alert.payload,
        "message_refs": _refs_column(alert.message_refs, alert.pings_sent),
        "reminders": alert.reminders,
        "next_action_at": alert.next_action_at,
        "acked_by": alert.acked_by,
        "acked_until": alert.acked_until,
        "escalated_at": alert.escalated_at,
        "needs_sync": alert.needs_sync,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "resolved_at": alert.resolved_at,
    }


def _alert(row: Row[Any]) -> Alert:
    refs, sent = _refs(row.message_refs)
    return Alert(
        id=row.id,
        key=row.key,
        run_id=row.run_id,
        kind=AlertKind(row.kind),
        status=AlertStatus(row.status),
        target=row.target,
        payload=row.payload,
        message_refs=refs,
        pings_sent=sent,
        reminders=row.reminders,
        next_action_at=row.next_action_at,
        acked_by=row.acked_by,
        acked_until=row.acked_until,
        escalated_at=row.escalated_at,
        needs_sync=row.needs_sync,
        created_at=row.created_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
    )


class SqlAlertRepository:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def add(self, alert: Alert) -> bool:
        """Insert unless an alert with this key exists (another replica was first); True if new."""
        result = await self._conn.execute(_INSERT[self._conn.dialect], _values(alert))
        return bool(result.rowcount)

    async def add_many(self, alerts: list[Alert]) -> None:
        """Insert many; keys another replica took first are skipped."""
        if alerts:
            await self._conn.execute(_INSERT[self._conn.dialect], [_values(a) for a in alerts])

    async def open_for_runs(self, run_ids: list[str]) -> dict[str, list[Alert]]:
        if not run_ids:
            return {}
        query = select(alerts_table).where(
            alerts_table.c.run_id.in_(run_ids),
            alerts_table.c.status != AlertStatus.RESOLVED.value,
        )
        found: dict[str, list[Alert]] = {}
        for row in await self._conn.execute(query):
            found.setdefault(row.run_id, []).append(_alert(row))
        return found

    async def existing_keys(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        rows = await self._conn.execute(
            select(alerts_table.c.key).where(alerts_table.c.key.in_(keys))
        )
        return {r.key for r in rows}

    async def get(self, alert_id: str) -> Alert | None:
        query = select(alerts_table).where(alerts_table.c.id == alert_id)
        row = (await self._conn.execute(query)).first()
        return _alert(row) if row else None

    async def by_key(self, key: str) -> Alert | None:
        row = (
            await self._conn.execute(select(alerts_table).where(alerts_table.c.key == key))
        ).first()
        return _alert(row) if row else None

    async def update(self, alert: Alert) -> None:
        values = _values(alert)
        del values["id"], values["key"], values["created_at"]
        await self._conn.execute(
            update(alerts_table).where(alerts_table.c.id == alert.id).values(values)
        )

    async def open_for_run(self, run_id: str) -> list[Alert]:
        query = select(alerts_table).where(
            alerts_table.c.run_id == run_id, alerts_table.c.status != AlertStatus.RESOLVED.value
        )
        return [
            _alert(r) for r in await self._conn.execute(query.order_by(alerts_table.c.created_at))
        ]

    async def for_run(self, run_id: str) -> list[Alert]:
        """Every alert of the run, open or resolved, oldest first."""
        query = select(alerts_table).where(alerts_table.c.run_id == run_id)
        return [
            _alert(r) for r in await self._conn.execute(query.order_by(alerts_table.c.created_at))
        ]

    async def due_follow_ups(self, now: datetime, *, limit: int) -> list[Alert]:
        query = (
            select(alerts_table)
            .where(
                alerts_table.c.next_action_at <= now,
                alerts_table.c.status != AlertStatus.RESOLVED.value,
            )
            .order_by(alerts_table.c.next_action_at)
            .limit(limit)
        )
        return [_alert(r) for r in await self._conn.execute(query)]

    async def to_sync(self, *, limit: int) -> list[Alert]:
        query = select(alerts_table).where(alerts_table.c.needs_sync.is_(True)).limit(limit)
        return [
            _alert(r) for r in await self._conn.execute(query.order_by(alerts_table.c.updated_at))
        ]

    async def count_to_sync(self) -> int:
        query = select(func.count()).where(alerts_table.c.needs_sync.is_(True))
        return int((await self._conn.execute(query)).scalar_one())

    async def synced(
        self,
        alert_id: str,
        *,
        refs: dict[str, dict[str, str]],
        pings_sent: dict[str, int],
        seen_update: datetime | None,
    ) -> None:
        """Store where the message lives; it is in sync unless the alert changed meanwhile
        (or a surface failed: `seen_update` None)."""
        await self._conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == alert_id)
            .values(message_refs=_refs_column(refs, pings_sent))
        )
        if seen_update is None:
            return
        await self._conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == alert_id, alerts_table.c.updated_at == seen_update)
            .values(needs_sync=False)
        )

    async def release_lease(self, name: str, *, holder: str) -> None:
        await self._conn.execute(
            delete(leases).where(leases.c.name == name, leases.c.holder == holder)
        )

    async def take_lease(self, name: str, *, holder: str, now: datetime, until: datetime) -> bool:
        """Hold the named lease until `until` unless another holder has it; True when held."""
        taken = await self._conn.execute(
            update(leases)
            .where(leases.c.name == name, or_(leases.c.until < now, leases.c.holder == holder))
            .values(holder=holder, until=until)
        )
        if taken.rowcount:
            return True
        exists = (
            await self._conn.execute(select(leases.c.name).where(leases.c.name == name))
        ).first()
        if exists:
            return False
        await self._conn.execute(insert(leases).values(name=name, holder=holder, until=until))
        return True
