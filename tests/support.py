"""Test doubles for what the core takes as ports: a movable clock, and database set-up."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

PG_HOWTO = (
    "PostgreSQL tests skipped: set OPSLAYER_TEST_PG_URL, e.g. "
    "postgresql+asyncpg://postgres@127.0.0.1:5432/test (CI does; see .ci/run)"
)


class MovableClock:
    """A frozen clock tests move by hand, so no test sleeps through a timeout."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def pg_admin_url() -> str | None:
    """The PostgreSQL server tests may use; under CI it must be reachable, elsewhere optional."""
    url = os.environ.get("OPSLAYER_TEST_PG_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI=true but OPSLAYER_TEST_PG_URL is not set: PostgreSQL tests must run in CI"
            )
        pytest.skip(PG_HOWTO)
    return url


async def create_pg_database(admin_url: str) -> str:
    """A fresh database for this test session; returns its URL."""
    name = f"opslayer_test_{secrets.token_hex(4)}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any connection failure: say how to fix it
        message = f"PostgreSQL at {admin_url} is unreachable ({exc.__class__.__name__}: {exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(f"{message}. {PG_HOWTO}")
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], *, within_s: float = 10.0) -> None:
    """Wait until `check()` holds, for work that finishes in the background (a delivery)."""
    steps = int(within_s / 0.01)
    for _ in range(steps):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not true within {within_s} s")
