"""How long ended runs are kept: a prune removes those that ended before a moment, in batches,
with their checkpoints, approvals, commands and alerts; the audit trail stays unless asked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from opslayer.bot.audit import Actor, AuditEvent
from opslayer.bot.ports import Clock, Store, UnitOfWork

BATCH = 2000


class Retention:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def would_remove(self, older_than: timedelta) -> dict[str, int]:
        """What `prune` would remove now (the dry run)."""
        async with self._store.read() as uow:
            return await uow.retention.count_ended_before(self._clock.now() - older_than)

    async def prune(
        self,
        older_than: timedelta,
        *,
        actor: Actor,
        audit: bool = False,
        batch: int = BATCH,
        on_progress: Callable[[dict[str, int]], None] | None = None,
    ) -> dict[str, int]:
        """Remove runs that ended more than `older_than` ago; return what was removed."""
        moment = self._clock.now() - older_than
        total: dict[str, int] = {}

        async def one_batch(uow: UnitOfWork) -> dict[str, int]:
            ids = await uow.retention.ended_before(moment, limit=batch)
            return await uow.retention.purge(ids, audit=audit) if ids else {}

        while True:
            removed = await self._store.run(one_batch)
            if not removed.get("runs"):
                break
            for name, count in removed.items():
                total[name] = total.get(name, 0) + count
            if on_progress is not None:
                on_progress(total)
        detail = {
            "ended_before": moment.isoformat(),
            "with_audit": audit,
            "removed": total,
        }
        event = AuditEvent("retention.pruned", self._clock.now(), actor, None, detail)

        async def record(uow: UnitOfWork) -> None:
            await uow.audit.add(event)

        await self._store.run(record)
        return total
