"""Spacing posts per channel: chat platforms throttle a bot that posts in bursts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class ChannelPacer:
    """At most one post per `spacing_s` to each channel; other channels are not held up.

    `now` and `sleep` are the clock it reads and how it waits (tests pass their own)."""

    def __init__(
        self,
        spacing_s: float,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._spacing_s = spacing_s
        self._now = now
        self._sleep = sleep
        self._last: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def turn(self, channel: str) -> AsyncIterator[None]:
        """Wait for the channel's turn, post inside the block; the clock starts when it ends."""
        async with self._locks.setdefault(channel, asyncio.Lock()):
            wait = self._last.get(channel, float("-inf")) + self._spacing_s - self._now()
            if wait > 0:
                await self._sleep(wait)
            try:
                yield
            finally:
                self._last[channel] = self._now()
