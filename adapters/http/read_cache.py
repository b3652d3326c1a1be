"""Answers to an agent's reads (its run, its pending commands, its run list), kept for the run
cache's lifetime (`OPSLAYER_RUN_CACHE_TTL_S`, 1 s) so a fleet polling at once costs one
database read per run and lifetime, not one per request.

Anything this process writes about a run drops that run's answers (and the agent's lists) at
once, so an agent always reads what it just wrote; a decision made here drops everything. A
change made by another replica or the CLI shows within the lifetime, as with the run cache.

An answer read often is loaded afresh in the background before its lifetime ends (past a
random point between 60 and 80 % of it), so readers are answered from memory without waiting
while the answer stays within its lifetime; readers of a lapsed answer share one load. Readers
waiting on loads was the tail: a fleet's answers lapsing one after another, each lapse holding
its readers for a database read on a busy event loop.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

_LIMIT = 20_000
Key = tuple[str, str]  # (agent, request path and query)
# What an answer is about: (agent, run or None for a list, whether it lists the run's commands).
About = tuple[str, str | None, bool]
Load = Callable[[], Awaitable[bytes]]
_now = time.monotonic  # a module attribute, so tests can move past a lifetime


def answer_key(scope: Mapping[str, Any]) -> str:
    """What tells one read from another: the request's path and raw query."""
    return f"{scope['path']}?{scope['query_string'].decode('latin-1')}"


@dataclass(frozen=True, slots=True)
class _Answer:
    body: bytes
    about: About
    load: Load  # how to load it again
    refresh_at: float  # a reader after this starts loading it afresh
    until: float  # nobody is given it after this


class ReadCache:
    def __init__(self, *, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._answers: dict[Key, _Answer] = {}
        # what → the keys of its answers: a write drops them without a scan
        self._about: dict[About, set[Key]] = {}
        self._loading: dict[Key, tuple[asyncio.Task[bytes], About]] = {}  # loads in flight
        # A load is kept only if what it is about was not forgotten while it ran: each topic
        # has a generation, everything an epoch. (One epoch for all made every heartbeat of a
        # fleet throw away every other run's load in flight.)
        self._generations: dict[About, int] = {}
        self._epoch = 0

    async def current(self, agent: str, key: str) -> bytes | None:
        """The answer to a read this cache has answered before, reloaded if its lifetime is
        over (one load, shared); None for a read it never answered, which the route loads."""
        where = (agent, key)
        hit = self._answers.get(where)
        if hit is None:
            return None
        now = _now()
        if now < hit.until:
            if now >= hit.refresh_at and where not in self._loading:
                self._start(where, hit.load, hit.about)
            return hit.body
        return await self._shared(where, hit.load, hit.about)

    async def answer(
        self, agent: str, key: str, load: Load, *, run_id: str | None, commands: bool = False
    ) -> bytes:
        """The remembered answer, or the one `load` gives (shared by concurrent callers): about
        `run_id` (None: a list of runs), and a list of its `commands` or not."""
        if self._ttl_s <= 0:
            return await load()
        known = await self.current(agent, key)
        if known is not None:
            return known
        return await self._shared((agent, key), load, (agent, run_id, commands))

    async def _shared(self, where: Key, load: Load, about: About) -> bytes:
        """The load in flight for `where`, or a new one: every reader meanwhile shares it."""
        flying = self._loading.get(where)
        task = flying[0] if flying else self._start(where, load, about)
        return await asyncio.shield(task)

    def _start(self, where: Key, load: Load, about: About) -> asyncio.Task[bytes]:
        task = asyncio.get_running_loop().create_task(self._load(where, load, about))
        # A refresh nobody awaits may fail (the run was pruned): the next miss reports it.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._loading[where] = (task, about)
        return task

    def _stamp(self, about: About) -> tuple[int, int]:
        """What must not move while a load about `about` runs."""
        return self._epoch, self._generations.get(about, 0)

    async def _load(self, where: Key, load: Load, about: About) -> bytes:
        stamp = self._stamp(about)
        try:
            body = await load()
            if stamp == self._stamp(about):
                if len(self._answers) >= _LIMIT or len(self._generations) >= _LIMIT:
                    self.forget_all()
                now = _now()
                refresh_at = now + self._ttl_s * random.uniform(0.6, 0.8)
                self._answers[where] = _Answer(body, about, load, refresh_at, now + self._ttl_s)
                self._about.setdefault(about, set()).add(where)
            return body
        finally:
            flying = self._loading.get(where)
            if flying is not None and flying[0] is asyncio.current_task():
                del self._loading[where]

    def forget_run(self, agent: str, run_id: str | None, *, commands: bool = True) -> None:
        """The agent wrote about a run: the answers about it, and its lists, are stale; and the
        list of its commands, unless the write cannot change commands (`commands=False`: a
        heartbeat or a checkpoint, so a fleet's polls survive its heartbeats)."""
        if len(self._generations) >= _LIMIT:  # a fleet of writers that never read: stay bounded
            self.forget_all()
        stale: list[About] = [(agent, run_id, False), (agent, None, False)]
        if commands:
            stale.append((agent, run_id, True))
        for about in stale:
            self._generations[about] = self._generations.get(about, 0) + 1
            for key in self._about.pop(about, ()):
                self._answers.pop(key, None)
        for key, (_, about) in list(self._loading.items()):
            if about in stale:
                del self._loading[key]  # later readers load afresh

    def forget_all(self) -> None:
        """Someone decided something (a command is on its way): every answer may be stale."""
        self._epoch += 1
        self._answers.clear()
        self._about.clear()
        self._loading.clear()
        self._generations.clear()
