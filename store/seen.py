"""Signed requests already acted on, so a replay is refused on every replica."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete

from opslayer.store.db import Db, per_dialect
from opslayer.store.tables import seen_requests

_REMEMBER = per_dialect(
    lambda insert: (
        insert(seen_requests)
        .values(key=bindparam("key"), seen_at=bindparam("seen_at"))
        .on_conflict_do_nothing(index_elements=["key"])
    )
)


class SqlSeenRequestRepository:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def remember(self, key: str, *, at: datetime) -> bool:
        result = await self._conn.execute(
            _REMEMBER[self._conn.dialect], {"key": key, "seen_at": at}
        )
        return bool(result.rowcount)

    async def forget_before(self, moment: datetime) -> int:
        result = await self._conn.execute(
            delete(seen_requests).where(seen_requests.c.seen_at < moment)
        )
        return int(result.rowcount)
