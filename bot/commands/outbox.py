"""The outbox: commands waiting for delivery, leased to a deliverer, and what each attempt did."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from opslayer.bot.audit import SYSTEM, AuditEvent
from opslayer.bot.commands.model import Attempt, Command, CommandStatus, Delivery
from opslayer.bot.commands.rules import retry_delay
from opslayer.bot.ports import Clock, Store, UnitOfWork
from opslayer.bot.runs.model import Health
from opslayer.bot.runs.saving import save_run

REFUSED = frozenset({401, 403})  # the webhook does not accept who we are
REFUSALS_BEFORE_GIVING_UP = 3


class Outbox:
    """Claims due commands and records the outcome of each delivery attempt."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        schedule: Sequence[float],
        lease_s: float = 60.0,
        jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.2),
    ) -> None:
        self._store = store
        self._clock = clock
        self._schedule = tuple(schedule)
        self._lease = timedelta(seconds=lease_s)
        self._jitter = jitter

    async def claim(self, limit: int = 50) -> list[Delivery]:
        """Lease due commands to this deliverer; a lease that is not settled in time expires."""
        now = self._clock.now()

        async def job(uow: UnitOfWork) -> list[Delivery]:
            return await uow.commands.claim_due(now=now, lease_until=now + self._lease, limit=limit)

        return await self._store.run(job)

    async def release_claims(self) -> int:
        """Forget all leases: for the only deliverer (SQLite) at start, after a crash."""

        async def job(uow: UnitOfWork) -> int:
            return await uow.commands.release_claims()

        return await self._store.run(job)

    async def delivered(self, command: Command, *, status: int | None = None) -> None:
        """The agent answered 2xx. (The run's `undelivered` flag is not this command's: a
        command that had run out of retries cleared it when it was sent again.)"""
        now = self._clock.now()

        async def job(uow: UnitOfWork) -> None:
            if await uow.commands.mark_delivered(command.id, at=now):
                await uow.commands.record_attempt(
                    Attempt(command.id, command.run_id, now, delivered=True, status_code=status)
                )

        await self._store.run(job)

    async def failed(
        self,
        command: Command,
        *,
        error: str,
        retry_after_s: float | None = None,
        gone: bool = False,
        status: int | None = None,
    ) -> None:
        """An attempt failed; schedule the next one, or give up (always, when the URL is gone)."""
        now = self._clock.now()

        async def job(uow: UnitOfWork) -> None:
            current = await uow.commands.get(command.id, for_update=True)
            if current is None or current.status is not CommandStatus.PENDING:
                return
            attempts = current.attempts + 1
            await uow.commands.record_attempt(
                Attempt(current.id, current.run_id, now, False, status_code=status, error=error)
            )
            # A webhook that refuses our signature is misconfigured, not busy: after a few
            # tries the command is given up and the owner told (redeliver once it is fixed).
            refused = status in REFUSED and attempts >= REFUSALS_BEFORE_GIVING_UP
            delay = (
                None
                if gone or refused
                else retry_delay(
                    attempts, self._schedule, retry_after_s=retry_after_s, jitter=self._jitter()
                )
            )
            if delay is not None:
                later = now + timedelta(seconds=delay)
                await uow.commands.update(
                    dataclasses.replace(
                        current, attempts=attempts, next_attempt_at=later, last_error=error
                    )
                )
                return
            await uow.commands.update(
                dataclasses.replace(
                    current,
                    status=CommandStatus.UNDELIVERED,
                    attempts=attempts,
                    next_attempt_at=None,
                    last_error=error,
                )
            )
            why = (
                "the agent's webhook answered 410 Gone"
                if gone
                else f"the agent's webhook refused it {attempts} times (HTTP {status}): it does"
                " not accept our signature or token; check its webhook secret"
                " (`opslayer token rotate`), then `opslayer commands redeliver`"
                if refused
                else f"{attempts} attempts failed"
            )
            detail = {
                "command_id": current.id,
                "kind": current.kind.value,
                "attempts": attempts,
                "error": error,
            }
            await uow.audit.add(
                AuditEvent("command.undelivered", now, SYSTEM, current.run_id, detail, why)
            )
            await set_undelivered_flag(uow, current.run_id, now=now)

        await self._store.run(job)

    async def counts(self) -> dict[CommandStatus, int]:
        """How many commands are in each state (for metrics and progress)."""
        async with self._store.read() as uow:
            return await uow.commands.count_by_status()

    async def listing(self, *, undelivered: bool = False, limit: int = 100) -> list[Command]:
        """Recent commands, newest first (only the undelivered ones, if asked)."""
        async with self._store.read() as uow:
            status = CommandStatus.UNDELIVERED if undelivered else None
            return await uow.commands.listing(status=status, limit=limit)


async def set_undelivered_flag(uow: UnitOfWork, run_id: str, *, now: datetime) -> None:
    """The run is `undelivered` while any of its commands is; keep the flag in step."""
    run = await uow.runs.get(run_id, for_update=True)
    if run is None:
        return
    stuck = bool(await uow.commands.for_run(run_id, status=CommandStatus.UNDELIVERED))
    flagged = Health.UNDELIVERED in run.health
    if stuck == flagged:
        return
    health = tuple(h for h in run.health if h is not Health.UNDELIVERED)
    flag = dataclasses.replace(run, health=(*health, Health.UNDELIVERED) if stuck else health)
    await save_run(uow, run, flag, now)
