"""The unit of work: one database transaction carrying every repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import Conflict
from bot.ports import Clock
from store.records import (
    SqlAgentRepository,
    SqlApprovalRepository,
    SqlAuditRepository,
    SqlCheckpointRepository,
    SqlCommandRepository,
    SqlPeopleRepository,
)
from store.runs import SqlRunRepository


class SqlUnitOfWork:
    """Repositories sharing one connection and so one transaction."""

    def __init__(self, conn: AsyncConnection, clock: Clock) -> None:
        now = clock.now()
        self.connection = conn
        self.agents = SqlAgentRepository(conn, now)
        self.people = SqlPeopleRepository(conn, now)
        self.runs = SqlRunRepository(conn)
        self.checkpoints = SqlCheckpointRepository(conn)
        self.approvals = SqlApprovalRepository(conn)
        self.commands = SqlCommandRepository(conn)
        self.audit = SqlAuditRepository(conn)


class SqlStore:
    """The Store port over an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self._clock = clock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        """Commit when the block ends, roll back when it raises."""
        try:
            async with self.engine.begin() as conn:
                yield SqlUnitOfWork(conn, self._clock)
        except IntegrityError as exc:
            # A unique key another transaction took first: the caller re-reads and decides.
            raise Conflict(f"a concurrent change won: {exc.orig}") from exc

    async def close(self) -> None:
        await self.engine.dispose()
