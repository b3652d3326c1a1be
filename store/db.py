"""The connection repositories write through: it remembers whether anything was written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Executable
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


def per_dialect(build: Callable[[Any], T]) -> dict[str, T]:
    """A statement built once for each database, from that dialect's `insert` (where ON
    CONFLICT lives); repositories pick theirs by `Db.dialect`. Built once: a statement built
    per call costs more to cache-key than to run."""
    return {name: build(d.insert) for name, d in (("sqlite", sqlite), ("postgresql", postgresql))}


class Db:
    """A connection that notes writes, so a failed job is known to have left nothing behind."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dirty = False

    async def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        result = await self.conn.execute(statement, params)
        # An UPDATE that matched nothing changed nothing (rowcount is -1 when unknown).
        if getattr(statement, "is_dml", False) and result.rowcount != 0:
            self.dirty = True
        return result

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.conn.dialect.name
