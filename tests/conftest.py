"""Shared fixtures: a movable clock, a database on each backend, and the bot's app over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from opslayer.adapters.settings import Settings
from opslayer.bot.people.tokens import MintedToken, mint_token
from opslayer.store import migrate
from opslayer.store.engine import create_engine
from opslayer.store.tables import metadata
from opslayer.store.uow import SqlStore
from tests.harness import BotClient, running
from tests.support import MovableClock, create_pg_database, drop_pg_database, pg_admin_url


@pytest.fixture(autouse=True)
def agent_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Agents' webhooks keep the commands they handled under XDG_STATE_HOME: a test's own."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def clock() -> MovableClock:
    """Time stands still until a test moves it."""
    return MovableClock()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One fresh PostgreSQL database per test session, dropped at the end."""
    admin = pg_admin_url()
    assert admin is not None
    url = asyncio.run(create_pg_database(admin))
    yield url
    asyncio.run(drop_pg_database(admin, url))


async def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if await conn.run_sync(lambda sync: sync.dialect.has_table(sync, "runs")):
                names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both backends: a SQLite file per test, or the session's PostgreSQL
    database, emptied before the test."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'opslayer.db'}"
    url: str = request.getfixturevalue("pg_url")
    asyncio.run(_empty_tables(url))
    return url


@pytest.fixture
async def store(db_url: str, clock: MovableClock) -> AsyncIterator[SqlStore]:
    """A migrated store on the backend under test."""
    engine = create_engine(db_url)
    await migrate.upgrade(engine)
    yield SqlStore(engine, clock)
    await engine.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, heartbeat_flush_s=3600, run_cache_ttl_s=0)


@pytest.fixture
async def app_client(settings: Settings, clock: MovableClock) -> AsyncIterator[BotClient]:
    """The bot's real ASGI app with its lifespan running, reached over httpx."""
    async with running(settings, clock) as client:
        yield client


@pytest.fixture
async def agent(app_client: BotClient) -> MintedToken:
    """A minted token for agent `billing-bot`."""
    return await mint_token(app_client.store, "billing-bot")


@pytest.fixture
def auth(agent: MintedToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent.token}"}
