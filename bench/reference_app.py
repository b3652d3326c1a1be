"""The yardsticks `bench/read_path.py` measures opslayer against: a bare FastAPI app (one JSON
answer) and a FastAPI app that does one SQLite write per request (aiosqlite, committed)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
from fastapi import FastAPI


@asynccontextmanager
async def _database(app: FastAPI) -> AsyncIterator[None]:
    path = os.environ.get("REFERENCE_DB", "reference.db")
    async with aiosqlite.connect(path) as db:
        await db.execute("pragma journal_mode=wal")
        await db.execute("create table if not exists t (id integer primary key, body text)")
        await db.commit()
        app.state.db = db
        yield


bare = FastAPI()
writing = FastAPI(lifespan=_database)


@bare.get("/item/{item_id}")
async def item(item_id: str) -> dict[str, object]:
    return {"id": item_id, "status": "running", "health": [], "attempt": 1}


@writing.post("/item/{item_id}")
async def write(item_id: str) -> dict[str, str]:
    db: aiosqlite.Connection = writing.state.db
    await db.execute("insert into t (body) values (?)", (item_id,))
    await db.commit()
    return {"id": item_id}
