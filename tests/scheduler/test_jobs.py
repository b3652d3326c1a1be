"""The scheduler's jobs as the running app has them: the outbox and notification kicks run on
the event loop's thread (they set asyncio events, which no other thread may touch; seen once
from APScheduler's thread pool: `RuntimeError: deque mutated during iteration`)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from opslayer.scheduler.jobs import build_scheduler
from tests.harness import BotClient


async def test_the_wake_up_jobs_run_on_the_loops_thread(app_client: BotClient) -> None:
    core = app_client.core
    ran: dict[str, threading.Thread] = {}
    both = asyncio.Event()

    def woke(name: str) -> None:
        ran[name] = threading.current_thread()
        if len(ran) == 2:
            both.set()

    scheduler = build_scheduler(
        scanner=core.scanner,
        digests=core.digests,
        operations=core.operations,
        replays=core.replays,
        scan_interval_s=3600,
        digest_cron="0 9 * * mon-fri",
        timezone="UTC",
        groups=[],
        wake_sync=lambda: woke("notify"),
        wake_deliverer=lambda: woke("outbox"),
    )
    scheduler.start()
    try:
        for job in ("outbox", "notify"):
            scheduler.modify_job(job, next_run_time=datetime.now(UTC))
        async with asyncio.timeout(5):
            await both.wait()
    finally:
        scheduler.shutdown(wait=False)
    assert ran == {"outbox": threading.current_thread(), "notify": threading.current_thread()}
