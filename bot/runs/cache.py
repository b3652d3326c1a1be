"""How the agent API stays fast: a replica's view of recent runs, and heartbeats kept in memory
and written in batches.

Heartbeats are liveness, not history: losing the last fraction of a second of them in a crash
costs nothing, while writing each one would cap ingestion at SQLite's commit rate. A snapshot
of a run lets a heartbeat (or a repeated report) be answered without reading the database; a
write is always checked against the run's stored version, so a stale snapshot can never
resurrect an ended run or overwrite a newer change.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from opslayer.bot.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    OpsError,
    RunNotFound,
    StorageUnavailable,
)
from opslayer.bot.ports import BeatUpdate, Clock, Store, T, UnitOfWork
from opslayer.bot.runs.health import record_heartbeat
from opslayer.bot.runs.heartbeats import HeartbeatBuffer, RunSnapshots
from opslayer.bot.runs.model import Run
from opslayer.bot.single_flight import SingleFlight

log = logging.getLogger("opslayer.runs")

# `change(uow, stored, current, now, fresh)`: see RunCache.with_run.
Change = Callable[[UnitOfWork, Run, Run, datetime, bool], Awaitable[T | None]]


async def owned_run(uow: UnitOfWork, agent: str | None, run_id: str, *, lock: bool = False) -> Run:
    """The run, as `agent` may see it (another agent's run is Forbidden); None agent: anyone."""
    run = await uow.runs.get(run_id, for_update=lock)
    if run is None:
        raise RunNotFound(run_id)
    if agent is not None and run.agent != agent:
        raise Forbidden(agent=agent, resource=f"run {run_id}")
    return run


def with_beat(run: Run, beat: Run, now: datetime) -> Run:
    """`run` with the liveness a buffered heartbeat (`beat`, a run snapshot) carries."""
    assert beat.last_heartbeat_at is not None
    return record_heartbeat(
        run,
        at=beat.last_heartbeat_at,
        now=now,
        step=beat.step,
        progress=beat.progress,
        message=beat.message,
    )


class RunCache:
    """Snapshots of recent runs and the heartbeats not written yet, for one replica."""

    def __init__(self, store: Store, clock: Clock, *, ttl_s: float = 1.0) -> None:
        self._store = store
        self._clock = clock
        self._beats = HeartbeatBuffer()
        self._snapshots = RunSnapshots(ttl_s=ttl_s)
        self._reading: SingleFlight[str, Run] = SingleFlight()  # run id → its read in flight

    @property
    def pending_heartbeats(self) -> int:
        """Heartbeats accepted but not yet written."""
        return len(self._beats)

    def current(self, run: Run) -> Run:
        """The run as this replica knows it: with a heartbeat it accepted and has not written."""
        return self._beats.base_for(run)

    def remember(self, run: Run) -> None:
        self._snapshots.put(run)

    # ---- heartbeats ----------------------------------------------------------------------

    async def heartbeat(
        self,
        agent: str,
        run_id: str,
        *,
        at: datetime | None,
        step: str | None,
        progress: float | None,
        message: str | None,
    ) -> Run:
        """Accept a sign of life (written with the next batch); refused for an ended run."""
        now = self._clock.now()
        snapshot = self._snapshots.get(run_id)
        if snapshot is not None and snapshot.agent != agent:
            raise Forbidden(agent=agent, resource=f"run {run_id}")
        if snapshot is None or snapshot.status.terminal:
            # Refuse only on the stored status: another replica may have re-opened the run.
            snapshot = await self._stored(run_id)
            if snapshot.agent != agent:
                raise Forbidden(agent=agent, resource=f"run {run_id}")
        if snapshot.status.terminal:
            raise InvalidTransition(run_id=run_id, status=snapshot.status, event="heartbeat")
        run = record_heartbeat(
            self._beats.base_for(snapshot),
            at=at or now,
            now=now,
            step=step,
            progress=progress,
            message=message,
        )
        self._beats.put(run, version=snapshot.version)
        return run

    async def _stored(self, run_id: str) -> Run:
        """The stored run, remembered; one read for every heartbeat waiting on it. Without
        sharing, a fleet whose snapshots had lapsed read each run once per heartbeat, and on a
        busy event loop those reads outlasted the next heartbeats, which read again."""
        return await self._reading.run(run_id, partial(self._read, run_id))

    async def _read(self, run_id: str) -> Run:
        async with self._store.read() as uow:
            run = await owned_run(uow, None, run_id)
        self._snapshots.put(run)
        return run

    async def flush(self) -> int:
        """Write every pending heartbeat in one transaction; return how many runs were written.

        A batch the database refuses is written again beat by beat, so one bad row never costs
        another agent's liveness: the offender is logged and dropped. When the database itself
        is away, the beats go back into the buffer (unless newer ones arrived) for the next
        round, and StorageUnavailable is raised."""
        batch = self._beats.drain()
        if not batch:
            return 0
        try:
            missed = await self._store.run(partial(self._write_beats, batch=batch))
        except StorageUnavailable:
            self._beats.restore(batch)
            raise
        except Exception:
            log.warning(
                "writing %d heartbeats together failed; writing them one by one", len(batch)
            )
            missed = await self._one_by_one(batch)
        for beat in batch:
            if beat.run.id in missed:
                self._snapshots.drop(beat.run.id)
            else:
                self._snapshots.put(beat.run)
        return len(batch)

    async def _one_by_one(self, batch: list[BeatUpdate]) -> set[str]:
        missed: set[str] = set()
        for index, beat in enumerate(batch):
            try:
                missed |= await self._store.run(partial(self._write_beats, batch=[beat]))
            except StorageUnavailable:
                self._beats.restore(batch[index:])
                raise
            except Exception as refused:
                missed.add(beat.run.id)
                log.error(
                    "dropped a heartbeat the database refused: run %s of agent %s (%s)",
                    beat.run.id,
                    beat.run.agent,
                    type(refused).__name__,
                )
        return missed

    async def _write_beats(self, uow: UnitOfWork, batch: list[BeatUpdate]) -> set[str]:
        now = self._clock.now()
        missed = set(await uow.runs.apply_beats(batch))
        for beat in batch:
            if beat.run.id not in missed or beat.run.last_heartbeat_at is None:
                continue
            # The run moved on since the snapshot (a status change): fold the beat into it.
            fresh = await uow.runs.get(beat.run.id, for_update=True)
            if fresh is None or fresh.status.terminal:
                continue
            rebuilt = with_beat(fresh, beat.run, now)
            await uow.runs.apply_beats([BeatUpdate(run=rebuilt, version=fresh.version)])
        return missed

    # ---- changes through the cache --------------------------------------------------------

    def _folded(self, stored: Run, now: datetime) -> Run:
        """The stored run with any buffered heartbeat folded in."""
        pending = self._beats.peek(stored.id)
        if pending is None or pending.run.last_heartbeat_at is None:
            return stored
        return with_beat(stored, pending.run, now)

    async def with_run(
        self, uow: UnitOfWork, agent: str | None, run_id: str, change: Change[T]
    ) -> T:
        """Call `change(uow, stored, current, now, fresh)`, first on the snapshot if there is one.

        `change` writes the run (with `save_run`) first and returns None when that write finds
        the run moved on, or when it would answer from a snapshot (`fresh` False) without
        writing. A refusal based on a snapshot is checked again on the stored run, since the
        snapshot may be behind. The second try reads the run locked, so it cannot be stale.
        """
        now = self._clock.now()
        snapshot = self._snapshots.get(run_id)
        if snapshot is not None:
            if agent is not None and snapshot.agent != agent:
                raise Forbidden(agent=agent, resource=f"run {run_id}")
            with contextlib.suppress(OpsError):
                result = await change(uow, snapshot, self._folded(snapshot, now), now, False)
                if result is not None:
                    return result
            self._snapshots.drop(run_id)
        stored = await owned_run(uow, agent, run_id, lock=True)
        result = await change(uow, stored, self._folded(stored, now), now, True)
        if result is None:
            raise Conflict(f"run {run_id} changed while it was locked")
        return result

    def saved(self, run: Run) -> Run:
        """After commit: drop the buffered heartbeat the row now holds; remember the run."""
        pending = self._beats.peek(run.id)
        covered = pending is not None and (
            pending.run.last_heartbeat_at is None
            or (
                run.last_heartbeat_at is not None
                and pending.run.last_heartbeat_at <= run.last_heartbeat_at
            )
        )
        if covered:
            self._beats.pop(run.id)
        self._snapshots.put(run)
        return run
