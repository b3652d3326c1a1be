"""Units of work: one database transaction carrying every repository, and group commit.

SQLite has one writer, and every statement through aiosqlite costs a hop to its thread, so a
transaction per request caps durable writes at a few hundred per second. `SqlStore.run` queues
write jobs and runs as many as are waiting in ONE transaction (group commit): each caller still
gets its answer only after that transaction is durable. A job that fails before writing fails
alone; one that fails after writing (it cannot be undone without rolling back its neighbours)
sends the whole batch back to run job by job, each in its own transaction. PostgreSQL gains
too (one commit, one WAL flush per batch); a batch the database refuses (a unique key, a
deadlock with another replica) is replayed the same way, job by job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from opslayer.bot.errors import Conflict, StorageUnavailable
from opslayer.bot.ports import Clock, UnitOfWork
from opslayer.store.agents import SqlAgentRepository
from opslayer.store.alerts import SqlAlertRepository
from opslayer.store.approvals import SqlApprovalRepository, SqlRuleRepository
from opslayer.store.audit import SqlAuditRepository
from opslayer.store.checkpoints import SqlCheckpointRepository
from opslayer.store.commands import SqlCommandRepository
from opslayer.store.conversations import SqlConversationRepository
from opslayer.store.db import Db
from opslayer.store.people import SqlPeopleRepository
from opslayer.store.retention import SqlRetentionRepository
from opslayer.store.runs import SqlRunRepository
from opslayer.store.seen import SqlSeenRequestRepository
from opslayer.store.sessions import SqlSessionRepository

T = TypeVar("T")
_MAX_BATCH = 128
# A queued write job and the future its caller awaits.
_Pending = tuple[Callable[[UnitOfWork], Awaitable[Any]], "asyncio.Future[Any]"]


class SqlUnitOfWork:
    """Repositories sharing one connection and so one transaction."""

    def __init__(
        self,
        conn: AsyncConnection,
        clock: Clock,
        audit_rows: list[dict[str, Any]] | None = None,
        checkpoint_rows: list[dict[str, Any]] | None = None,
    ) -> None:
        now = clock.now()
        self.db = db = Db(conn)
        self.agents = SqlAgentRepository(db, now)
        self.people = SqlPeopleRepository(db, now)
        self.runs = SqlRunRepository(db)
        self.checkpoints = SqlCheckpointRepository(db, checkpoint_rows)
        self.approvals = SqlApprovalRepository(db)
        self.commands = SqlCommandRepository(db)
        self.audit = SqlAuditRepository(db, [] if audit_rows is None else audit_rows)
        self.alerts = SqlAlertRepository(db)
        self.conversations = SqlConversationRepository(db, now)
        self.seen = SqlSeenRequestRepository(db)
        self.rules = SqlRuleRepository(db)
        self.sessions = SqlSessionRepository(db)
        self.retention = SqlRetentionRepository(db)


class _Poisoned(Exception):
    """A job failed after writing: its batch must be rolled back and replayed job by job."""


def _conflict(exc: IntegrityError) -> Conflict:
    return Conflict(f"a concurrent change won: {exc.orig}")


# The database is away or cannot write (down, disk full, no connection in time): not the
# caller's fault, and nothing was changed. Anything else a statement raises is the data's.
_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, OSError, ConnectionError)


def _unavailable(exc: BaseException) -> StorageUnavailable:
    cause = getattr(exc, "orig", None) or exc
    return StorageUnavailable(f"{type(cause).__name__}: {cause}".splitlines()[0][:200])


class SqlStore:
    """The Store port over async SQLAlchemy engines (one for writes, one for reads)."""

    def __init__(
        self, engine: AsyncEngine, clock: Clock, *, read_engine: AsyncEngine | None = None
    ) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine
        self._clock = clock
        self._queue: list[_Pending] = []
        self._urgent: list[_Pending] = []  # the watch's jobs: in the very next batch
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        """A transaction of its own: commit when the block ends, roll back when it raises."""
        try:
            async with self.engine.begin() as conn:
                uow = SqlUnitOfWork(conn, self._clock)
                yield uow
                await uow.audit.flush()
        except IntegrityError as exc:
            # A unique key another transaction took first: the caller re-reads and decides.
            raise _conflict(exc) from exc
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnitOfWork]:
        """A read-only view; on SQLite it does not wait for the writer."""
        try:
            async with self.read_engine.connect() as conn:
                yield SqlUnitOfWork(conn, self._clock)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    async def run(self, job: Callable[[UnitOfWork], Awaitable[T]], *, urgent: bool = False) -> T:
        """Run `job` in a transaction and return its result once that transaction is durable.

        The job may run more than once (its first run rolled back), so it must derive
        everything from what it reads through the unit of work. An `urgent` job (the scan,
        the chat sync) goes into the next batch ahead of everything queued: under ingest load
        the queue can hold hundreds of writes, and the watch must keep its schedule.
        """
        if self._closed:
            raise StorageUnavailable("the store is closed (opslayer is shutting down)")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._queue).append((job, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _alone(self, job: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self.transaction() as uow:
            return await job(uow)

    async def _drain(self) -> None:
        batch: list[_Pending] = []
        try:
            while self._urgent or self._queue:
                first, self._urgent = self._urgent[:_MAX_BATCH], self._urgent[_MAX_BATCH:]
                room = _MAX_BATCH - len(first)
                rest, self._queue = self._queue[:room], self._queue[room:]
                batch = first + rest
                await self._write(batch)
        finally:
            # Stopped (cancelled) or died: nobody may be left waiting for an answer.
            stopped = StorageUnavailable("the store's writer stopped before confirming the write")
            for _, future in [*batch, *self._urgent, *self._queue]:
                if not future.done():
                    future.set_exception(stopped)
            self._queue = []
            self._urgent = []

    async def _write(self, batch: list[_Pending]) -> None:
        """Run one batch and answer each of its callers."""
        try:
            outcomes = await self._run_batch(batch)
        except (_Poisoned, DBAPIError):
            # A job failed after writing, or the database refused the batch (a unique key,
            # a deadlock with another replica): replay each job in a transaction of its own.
            outcomes = [await self._outcome(job) for job, _ in batch]
        except _UNAVAILABLE as exc:  # the database is away: every caller hears of it
            outcomes = [(False, _unavailable(exc))] * len(batch)
        except Exception as exc:  # anything else: every caller hears of it
            outcomes = [(False, exc)] * len(batch)
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def _run_batch(self, batch: list[_Pending]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        # Every job's audit rows and new checkpoints, each written in one statement at the end.
        audit_rows: list[dict[str, Any]] = []
        checkpoint_rows: list[dict[str, Any]] = []
        async with self.engine.begin() as conn:
            for job, _ in batch:
                uow = SqlUnitOfWork(conn, self._clock, audit_rows, checkpoint_rows)
                try:
                    outcomes.append((True, await job(uow)))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # After a write, or when the database refused a statement (PostgreSQL then
                    # refuses the rest of the transaction), only a replay gives honest answers.
                    if uow.db.dirty or isinstance(exc, DBAPIError):
                        raise _Poisoned from exc
                    outcomes.append((False, exc))
            last = SqlUnitOfWork(conn, self._clock, audit_rows, checkpoint_rows)
            await last.checkpoints.flush()
            await last.audit.flush()
        return outcomes

    async def _outcome(self, job: Callable[[UnitOfWork], Awaitable[Any]]) -> tuple[bool, Any]:
        try:
            return True, await self._alone(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return False, exc

    async def close(self) -> None:
        """Finish the writes already queued, refuse new ones, and close the engines."""
        self._closed = True
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
