"""Heartbeats: folding a sign of life into a run (pure)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from opslayer.bot.domain.models import Run
from opslayer.bot.domain.policy import assess


def record_heartbeat(
    run: Run,
    *,
    at: datetime,
    now: datetime,
    step: str | None = None,
    progress: float | None = None,
    message: str | None = None,
) -> Run:
    """The run after a heartbeat that happened at `at` (capped at `now`; late ones never rewind)."""
    at = min(at, now)
    last = run.last_heartbeat_at
    updated = dataclasses.replace(
        run,
        last_heartbeat_at=at if last is None else max(last, at),
        step=step if step is not None else run.step,
        progress=progress if progress is not None else run.progress,
        message=message if message is not None else run.message,
    )
    health, next_check = assess(updated, now)
    return dataclasses.replace(updated, health=health, next_check_at=next_check)
