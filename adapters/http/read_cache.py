"""Answers to an agent's reads (its run, its pending commands, its run list), kept for the run
cache's lifetime (`OPSLAYER_RUN_CACHE_TTL_S`, 1 s) so a fleet polling at once costs one
database read per run and lifetime, not one per request.

Anything this process writes about a run drops that run's answers (and the agent's lists) at
once, so an agent always reads what it just wrote; a decision made here drops everything. A
change made by another replica or the CLI shows within the lifetime, as with the run cache.
Concurrent misses of one answer share one load, and lifetimes are spread a little, so answers
loaded together do not all lapse together (a stampede on the database is the tail's cause).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

_LIMIT = 20_000
Key = tuple[str, str]  # (agent, request path and query)


class ReadCache:
    def __init__(self, *, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        # key → (until, body, the run it is about, or None for a list)
        self._answers: dict[Key, tuple[float, bytes, str | None]] = {}
        # (agent, run or None) → the keys of its answers: a write drops them without a scan
        self._about: dict[tuple[str, str | None], set[Key]] = {}
        self._loading: dict[Key, asyncio.Task[bytes]] = {}
        self._epoch = 0  # moves on every forget: a load begun before one is not kept

    async def answer(
        self, agent: str, key: str, load: Callable[[], Awaitable[bytes]], *, run_id: str | None
    ) -> bytes:
        """The remembered answer, or the one `load` gives (shared by concurrent callers)."""
        where = (agent, key)
        hit = self._answers.get(where)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        if self._ttl_s <= 0:
            return await load()
        task = self._loading.get(where)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(where, load, run_id))
            self._loading[where] = task
        return await asyncio.shield(task)

    async def _load(
        self, where: Key, load: Callable[[], Awaitable[bytes]], run_id: str | None
    ) -> bytes:
        epoch = self._epoch
        try:
            body = await load()
            if epoch == self._epoch:
                if len(self._answers) >= _LIMIT:
                    self._answers.clear()
                    self._about.clear()
                lifetime = self._ttl_s * random.uniform(0.8, 1.0)
                self._answers[where] = (time.monotonic() + lifetime, body, run_id)
                self._about.setdefault((where[0], run_id), set()).add(where)
            return body
        finally:
            self._loading.pop(where, None)

    def forget_run(self, agent: str, run_id: str | None) -> None:
        """The agent wrote about a run: its answers about it, and its lists, are stale."""
        self._epoch += 1
        for about in ((agent, run_id), (agent, None)):
            for key in self._about.pop(about, ()):
                self._answers.pop(key, None)
        if self._loading:
            for key in [k for k in self._loading if k[0] == agent]:
                self._loading.pop(key, None)  # later readers load afresh

    def forget_all(self) -> None:
        """Someone decided something (a command is on its way): every answer may be stale."""
        self._epoch += 1
        self._answers.clear()
        self._about.clear()
        self._loading.clear()
