"""The deliverer: leases due commands from the outbox and POSTs each, signed, to its agent.

It wakes when a command is enqueued (so a click reaches the agent in milliseconds) and polls
otherwise, for retries that fall due and for commands written by other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from opslayer.bot.commands.egress import DEFAULT_EGRESS, Egress
from opslayer.bot.commands.model import Delivery
from opslayer.bot.commands.outbox import Outbox
from opslayer_client.signing import signature, signed_headers

log = logging.getLogger("opslayer.webhooks")
MAX_RETRY_AFTER_S = 24 * 3600


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class Deliverer:
    """Delivers commands until cancelled; every outcome is recorded through the outbox.

    Each delivery runs as a task of its own, so an agent that answers slowly (or never, until
    the timeout) holds up only its own commands, never everyone else's.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        http: aiohttp.ClientSession,
        max_in_flight: int = 64,
        poll_s: float = 1.0,
        egress: Egress = DEFAULT_EGRESS,
    ) -> None:
        self._outbox = outbox
        self._egress = egress
        self._http = http
        self._max_in_flight = max_in_flight
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """A command was enqueued (or a slot freed): look for work now, not at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        try:
            while True:
                self._wake.clear()
                free = self._max_in_flight - len(self._in_flight)
                started = 0
                if free > 0:
                    try:
                        started = self._start(await self._outbox.claim(free))
                    except Exception:  # the database may be briefly away; the next round retries
                        log.exception("claiming commands for delivery failed; retrying")
                if free > 0 and started == free:
                    continue  # there may be more due right now
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that lands as the event fires, and the loop would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):
                        await self._wake.wait()
        finally:
            for task in self._in_flight:
                task.cancel()  # their leases lapse, and the commands are delivered again

    def _start(self, deliveries: list[Delivery]) -> int:
        for delivery in deliveries:
            task = asyncio.create_task(self._deliver(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(deliveries)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording a delivery failed", exc_info=task.exception())
        self.wake()

    async def deliver_due(self, limit: int = 64) -> int:
        """One round, awaited to the end: lease what is due and deliver it; return how many."""
        claimed = await self._outbox.claim(limit)
        await asyncio.gather(*(self._deliver(d) for d in claimed))
        return len(claimed)

    async def _deliver(self, delivery: Delivery) -> None:
        command = delivery.command
        refusal = self._egress.refusal(delivery.url)
        if refusal is not None:  # registered before the rule changed: never call it
            await self._outbox.failed(command, error=refusal, gone=True)
            return
        body = json.dumps(command.payload, separators=(",", ":")).encode()
        signed = signed_headers(delivery.secret, command.id, body)
        if delivery.previous_secret is not None:  # a rotation's grace: the old secret signs too
            timestamp = int(signed["webhook-timestamp"])
            old = signature(delivery.previous_secret, command.id, timestamp, body)
            signed["webhook-signature"] = f"{signed['webhook-signature']} {old}"
        headers = {
            **signed,
            "content-type": "application/json",
            "user-agent": "opslayer-webhooks/1",
        }
        try:
            # A redirect is not a delivery (the spec counts 3xx as failure): never follow one.
            async with self._http.post(
                delivery.url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                status, retry_after = answer.status, answer.headers.get("retry-after")
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._outbox.failed(command, error=f"{type(exc).__name__}: {exc}"[:500])
            return
        if 200 <= status < 300:
            await self._outbox.delivered(command, status=status)
        elif status == 410:
            await self._outbox.failed(command, error="HTTP 410 Gone", gone=True, status=410)
        else:
            await self._outbox.failed(
                command,
                error=f"HTTP {status}",
                retry_after_s=retry_after_seconds(retry_after),
                status=status,
            )
