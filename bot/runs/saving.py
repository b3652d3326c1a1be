"""Writing a changed run: one version more, health re-assessed, and only over the version read."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from opslayer.bot.errors import Conflict
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.runs.health import assess
from opslayer.bot.runs.model import Run


async def save_run(uow: UnitOfWork, before: Run, after: Run, now: datetime) -> Run | None:
    """Write `after` if the stored run is still `before`; None when it moved on meanwhile."""
    changed = dataclasses.replace(after, version=before.version + 1, updated_at=now)
    health, next_check = assess(changed, now)
    saved = dataclasses.replace(changed, health=health, next_check_at=next_check)
    if not await uow.runs.update(saved, expected_version=before.version):
        return None
    return saved


async def save_run_or_conflict(uow: UnitOfWork, before: Run, after: Run, now: datetime) -> Run:
    """save_run for a run read under lock: a change meanwhile is a conflict to report."""
    saved = await save_run(uow, before, after, now)
    if saved is None:
        raise Conflict(f"run {before.id} changed meanwhile; try again")
    return saved
