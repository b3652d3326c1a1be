"""Engine set-up: SQLite in WAL mode with one writer connection, or PostgreSQL through asyncpg."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL (the embedded default)."""
    return make_url(url).get_backend_name() == "sqlite"


# Below this, a SQLite database is treated as out of space: its WAL may still take a small
# update in place, but the next insert, or the checkpoint that grows the file, fails.
SQLITE_MIN_FREE_BYTES = 1024 * 1024


def sqlite_space_left(url: str) -> int | None:
    """Free bytes on the filesystem a SQLite database file grows on; None for PostgreSQL and
    in-memory databases (a server refuses its own writes when its disk fills)."""
    database = make_url(url).database
    if not is_sqlite(url) or not database or database == ":memory:":
        return None
    try:
        return shutil.disk_usage(Path(database).resolve().parent).free
    except OSError:
        return None


def _sqlite_engine(url: str, *, pool_size: int, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The engine for writes, tuned for its backend.

    SQLite allows one writer at a time; with several pooled connections writers queue on its
    lock and the latency tail explodes (DESIGN §8), so the pool holds exactly one connection and
    every transaction starts with BEGIN IMMEDIATE, which takes the write lock up front instead
    of failing halfway when another process (the CLI) writes too.
    """
    if not is_sqlite(url):
        return create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    return _sqlite_engine(url, pool_size=1, begin="BEGIN IMMEDIATE")


def create_read_engine(url: str) -> AsyncEngine | None:
    """On SQLite, connections for readers, who (in WAL mode) never wait for the writer.

    Sixteen, not four: under load a read's time is mostly its turns on the busy event loop,
    not SQLite's, so with four connections loads queued behind each other (measured with
    bench/read_path.py). None elsewhere: PostgreSQL's pool serves reads and writes alike.
    """
    if not is_sqlite(url) or ":memory:" in url or url.rstrip("/").endswith(":"):
        return None
    return _sqlite_engine(url, pool_size=16, begin="BEGIN")
