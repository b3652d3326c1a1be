"""Keeps chat messages in step with the ledger: woken by every change, polling otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from opslayer.bot.alerts.sync import ChatSync

log = logging.getLogger("opslayer.notify")


class SyncLoop:
    """Runs the chat sync whenever woken (an approval arrived, a decision was made)."""

    def __init__(self, sync: ChatSync, *, poll_s: float = 5.0) -> None:
        self._sync = sync
        self._poll_s = poll_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                while await self._sync.sync(limit=100) == 100:
                    pass  # more are waiting
            except Exception:  # the next round retries
                log.exception("updating chat messages failed; retrying")
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as the event fires, and the loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()
