"""One replica's worth of the bot over a store, without HTTP: the parts `opslayer serve` wires
(Core), for tests that drive use cases directly. Two calls give two replicas (each its own
lease holder and caches) sharing one database."""

from __future__ import annotations

from collections.abc import Sequence

from opslayer.adapters.core import Core
from opslayer.adapters.settings import Settings
from opslayer.bot.ports import ChatNotifier, Clock, Store


def replica(
    store: Store,
    clock: Clock,
    *,
    notifiers: Sequence[ChatNotifier] = (),
    run_cache_ttl_s: float = 0,
    admins: Sequence[str] = (),
    holder: str | None = None,
) -> Core:
    settings = Settings(
        database_url="sqlite+aiosqlite:///unused.db",  # the store is given; never opened
        run_cache_ttl_s=run_cache_ttl_s,
        admins=list(admins),
    )
    return Core.build(settings, store, clock, notifiers=list(notifiers), holder=holder)
