"""Signed requests are acted on once: a replay of a valid signature inside its window is refused.

A signature only bounds a request's age (Slack: five minutes); within that window the same
bytes would be accepted again, and a click issue its command twice. Every signed request a
surface accepts is remembered in the database (so all replicas see it) for longer than the
window, and a second sighting is refused.
"""

from __future__ import annotations

from datetime import timedelta

from opslayer.bot.audit import SYSTEM, AuditEvent
from opslayer.bot.ports import Clock, Store, UnitOfWork

# Longer than any window a surface accepts a signature in (Slack: 5 minutes), with room for
# clocks that disagree.
REMEMBER_FOR = timedelta(minutes=15)


class ReplayGuard:
    """Remembers signed requests by a key the surface derives from the signature."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def first_sighting(self, key: str, *, surface: str) -> bool:
        """True the first time `key` is seen; False (and audited) for a replay."""

        async def remember(uow: UnitOfWork) -> bool:
            return await uow.seen.remember(key, at=self._clock.now())

        if await self._store.run(remember):
            return True
        event = AuditEvent(
            "request.replayed",
            self._clock.now(),
            SYSTEM,
            None,
            {"surface": surface, "key": key[:80]},
            "a signed request was sent again; it was not acted on",
        )

        async def record(uow: UnitOfWork) -> None:
            await uow.audit.add(event)

        await self._store.run(record)
        return False

    async def forget_old(self) -> int:
        """Drop what no surface would accept again anyway; return how many."""

        async def prune(uow: UnitOfWork) -> int:
            return await uow.seen.forget_before(self._clock.now() - REMEMBER_FOR)

        return await self._store.run(prune)
