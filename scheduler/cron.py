"""Digest times: a crontab line (day names) read by APScheduler's own parser, refused when it
cannot be read or names a moment that never comes (`0 9 31 2 *`: there is no 31 February)."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger


def digest_trigger(line: str, *, timezone: str) -> CronTrigger:
    """The trigger for a digest time; ValueError saying why when there is none."""
    trigger = CronTrigger.from_crontab(line, timezone=timezone)
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ValueError(f"the digest time {line!r} never comes (no such date)")
    return trigger
