"""One call per key at a time: callers who ask for a key already in flight await the same
result, so fifty requests that miss a cache together cost one database read, not fifty."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._flying: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        """`call()`'s result, shared with everyone asking for `key` meanwhile. A caller that is
        cancelled does not cancel the call for the others."""
        task = self._flying.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(_awaited(call))
            self._flying[key] = task
            task.add_done_callback(partial(self._landed, key))
        return await asyncio.shield(task)

    def _landed(self, key: K, task: asyncio.Task[V]) -> None:
        if self._flying.get(key) is task:
            del self._flying[key]
        if not task.cancelled():
            task.exception()  # retrieved: whoever waited has it


async def _awaited(call: Callable[[], Awaitable[V]]) -> V:
    return await call()
