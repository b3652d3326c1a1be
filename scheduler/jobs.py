"""The scheduler: scan, follow-ups, housekeeping, outbox kicks and digests, on APScheduler.

Created and started inside the app's lifespan (it needs the running loop). A deploy or a
stalled loop must not silently skip work, so misfires have an hour's grace and coalesce; jobs
are safe to cancel at shutdown because the database, not the job, holds the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from opslayer.bot.alerts.digest import Digests
from opslayer.bot.alerts.scan import Scanner
from opslayer.bot.operations import Operations
from opslayer.bot.people.model import Group
from opslayer.bot.replays import ReplayGuard
from opslayer.scheduler.cron import digest_trigger

log = logging.getLogger("opslayer.scheduler")
JOB_DEFAULTS = {"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1}


def build_scheduler(
    *,
    scanner: Scanner,
    digests: Digests,
    operations: Operations,
    replays: ReplayGuard,
    scan_interval_s: float,
    digest_cron: str,
    timezone: str,
    groups: Sequence[Group],
    wake_sync: Callable[[], None],
    wake_deliverer: Callable[[], None],
    prune: Callable[[], Awaitable[object]] | None = None,
) -> AsyncIOScheduler:
    """Every job of the watch; per-group digest times get a job of their own."""
    scheduler = AsyncIOScheduler(timezone=timezone, job_defaults=JOB_DEFAULTS)

    async def scan() -> None:
        if await operations.approvals.decide_overdue():  # deadlines act as soon as the watch looks
            wake_sync()
        report = await scanner.scan()
        followed = await scanner.follow_ups()
        if report.raised or report.resolved or followed:
            log.info(
                "scan: %d due, %d raised, %d resolved, %d followed up",
                report.scanned,
                report.raised,
                report.resolved,
                followed,
            )
            wake_sync()

    async def housekeeping() -> None:
        if await operations.handoffs.lapse():
            wake_sync()
        await replays.forget_old()

    def digest_for(names: set[str] | None) -> Callable[[], object]:
        async def digest() -> None:
            if await digests.queue(groups=names, zone=timezone):
                wake_sync()

        return digest

    scheduler.add_job(scan, IntervalTrigger(seconds=scan_interval_s), id="scan")
    if prune is not None:  # OPSLAYER_RETENTION_DAYS: every night, when little else happens
        scheduler.add_job(prune, CronTrigger(hour=3, minute=17, timezone=timezone), id="prune")
    scheduler.add_job(housekeeping, IntervalTrigger(seconds=60), id="housekeeping")

    # The deliverer wakes on every command this process enqueues; this catches the rest
    # (commands from the CLI or another replica, retries that fell due). As coroutines, so
    # they run on the loop: APScheduler runs a plain function in its thread pool, and the
    # wake-ups set asyncio events, which only the loop's thread may touch.
    async def kick_outbox() -> None:
        wake_deliverer()

    async def kick_notify() -> None:
        wake_sync()

    scheduler.add_job(kick_outbox, IntervalTrigger(seconds=5), id="outbox")
    scheduler.add_job(kick_notify, IntervalTrigger(seconds=5), id="notify")
    own = _own_digest_times(groups, timezone)
    default_groups = {g.name for g in groups} - set(own)
    scheduler.add_job(
        digest_for(default_groups if own else None),
        digest_trigger(digest_cron, timezone=timezone),
        id="digest",
        misfire_grace_time=6 * 3600,
    )
    for name, trigger in own.items():
        scheduler.add_job(
            digest_for({name}), trigger, id=f"digest:{name}", misfire_grace_time=6 * 3600
        )
    return scheduler


def _own_digest_times(groups: Sequence[Group], timezone: str) -> dict[str, CronTrigger]:
    """Groups with a digest time of their own. One stored before opslayer checked them that the
    scheduler cannot read is logged with the fix and left to the default time: never fatal."""
    own: dict[str, CronTrigger] = {}
    for group in groups:
        if not group.digest_cron:
            continue
        try:
            own[group.name] = digest_trigger(group.digest_cron, timezone=timezone)
        except ValueError as wrong:
            log.error(
                "group %s: digest time %r is not a crontab line (%s); it gets the default"
                " digest. Fix it: opslayer groups update %s --digest-cron '0 9 * * mon-fri'",
                group.name,
                group.digest_cron,
                wrong,
                group.name,
            )
    return own
