"""The connection repositories write through: it remembers whether anything was written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.ext.asyncio import AsyncConnection


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
