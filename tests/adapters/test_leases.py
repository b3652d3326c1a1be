"""No blind spot after a restart: a process gives up its scan and notify leases when it stops,
a restarted one takes its own back at once, a peer takes over a dead holder's within a few scan
intervals, and /metrics tells when the last scan and notify round ran."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from opslayer.adapters.app import create_app
from opslayer.adapters.settings import Settings
from opslayer.store.engine import create_engine
from opslayer.store.tables import leases
from tests.support import MovableClock


async def _held(db_url: str) -> dict[str, str]:
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        rows = await conn.execute(select(leases.c.name, leases.c.holder))
        held = {row.name: row.holder for row in rows}
    await engine.dispose()
    return held


async def test_leases_are_given_up_at_shutdown_and_a_restart_takes_its_own_back(
    db_url: str, clock: MovableClock
) -> None:
    settings = Settings(database_url=db_url, port=8123, scan_interval_s=5)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        core = app.state.core
        assert not (await core.scanner.scan()).skipped
        await core.sync.sync()
        held = await _held(db_url)
        assert held["scan"] == held["notify"] and held["scan"].endswith(":8123")
    assert await _held(db_url) == {}  # stopped: given up
    peer = create_app(Settings(database_url=db_url, port=8124, scan_interval_s=5), clock=clock)
    async with peer.router.lifespan_context(peer):
        assert not (await peer.state.core.scanner.scan()).skipped  # at once, no 60 s wait


async def test_a_killed_holder_is_replaced_by_itself_at_once_and_by_a_peer_soon(
    db_url: str, clock: MovableClock
) -> None:
    first = create_app(Settings(database_url=db_url, port=8123, scan_interval_s=5), clock=clock)
    async with first.router.lifespan_context(first):
        assert not (await first.state.core.scanner.scan()).skipped
        # As after kill -9: the lease stays behind. The same process restarted takes it back;
        restarted = create_app(
            Settings(database_url=db_url, port=8123, scan_interval_s=5), clock=clock
        )
        async with restarted.router.lifespan_context(restarted):
            assert not (await restarted.state.core.scanner.scan()).skipped
        # a peer waits while the holder may be alive, and takes over within 3 scan intervals.
        peer = create_app(Settings(database_url=db_url, port=8124, scan_interval_s=5), clock=clock)
        async with peer.router.lifespan_context(peer):
            await first.state.core.scanner.scan()
            assert (await peer.state.core.scanner.scan()).skipped
            clock.advance(seconds=16)
            assert not (await peer.state.core.scanner.scan()).skipped


async def test_metrics_tell_when_the_last_scan_and_notify_round_ran(
    db_url: str, clock: MovableClock
) -> None:
    app = create_app(Settings(database_url=db_url), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            before = (await client.get("/metrics")).text
            assert "opslayer_scan_last_timestamp_seconds 0.0" in before
            await app.state.core.scanner.scan()
            await app.state.core.sync.sync()
            after = (await client.get("/metrics")).text
    scanned = next(
        line for line in after.splitlines() if line.startswith("opslayer_scan_last_timestamp")
    )
    assert float(scanned.split()[-1]) == clock.now().timestamp()
    assert "opslayer_notify_last_timestamp_seconds 0.0" not in after
