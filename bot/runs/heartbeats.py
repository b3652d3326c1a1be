"""Heartbeat coalescing: liveness is kept in memory and written in batches, not per request.

Heartbeats are liveness, not history (the foundation issue allows coalescing them): losing the
last fraction of a second of them in a crash costs nothing, while writing each one would cap
ingestion at SQLite's commit rate.
"""

from __future__ import annotations

import time

from opslayer.bot.ports import BeatUpdate
from opslayer.bot.runs.model import Run

_SNAPSHOT_LIMIT = 50_000


class HeartbeatBuffer:
    """Pending heartbeats per run, each valid while the run's row is still at its version."""

    def __init__(self) -> None:
        self._pending: dict[str, BeatUpdate] = {}

    def base_for(self, snapshot: Run) -> Run:
        """What the next heartbeat builds on: the pending one if it is for this version."""
        pending = self._pending.get(snapshot.id)
        if pending is not None and pending.version == snapshot.version:
            return pending.run
        return snapshot

    def put(self, run: Run, *, version: int) -> None:
        self._pending[run.id] = BeatUpdate(run=run, version=version)

    def pop(self, run_id: str) -> BeatUpdate | None:
        return self._pending.pop(run_id, None)

    def peek(self, run_id: str) -> BeatUpdate | None:
        return self._pending.get(run_id)

    def restore(self, beats: list[BeatUpdate]) -> None:
        """Put back beats a write could not take; a newer beat for the same run wins."""
        for beat in beats:
            self._pending.setdefault(beat.run.id, beat)

    def drain(self) -> list[BeatUpdate]:
        batch = list(self._pending.values())
        self._pending.clear()
        return batch

    def __len__(self) -> int:
        return len(self._pending)


class RunSnapshots:
    """Recently seen runs, so a heartbeat can be checked without a database read.

    A snapshot may lag a change made by another process for up to `ttl_s`; the batched write
    re-checks the row's version, so a stale snapshot can never resurrect an ended run.
    """

    def __init__(self, *, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._runs: dict[str, tuple[float, Run]] = {}

    def get(self, run_id: str) -> Run | None:
        hit = self._runs.get(run_id)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, run: Run) -> None:
        if self._ttl_s <= 0:
            return
        if len(self._runs) >= _SNAPSHOT_LIMIT:
            self._runs.clear()
        self._runs[run.id] = (time.monotonic() + self._ttl_s, run)

    def drop(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
