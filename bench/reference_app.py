"""The yardsticks `bench/read_path.py` measures opslayer against: a bare FastAPI app (one JSON
answer), and two FastAPI apps that do one SQLite write per request:

- `orm`: the stack of DESIGN §8 as an application on it would be written: a pydantic body, a
  bearer-token header dependency, and one UPDATE committed in its own transaction through
  SQLAlchemy async (aiosqlite, WAL, one pooled connection);
- `writing`: the least a write can cost here: one INSERT on a shared raw aiosqlite connection,
  no transaction of its own (concurrent requests' commits fold into one)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aiosqlite
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@asynccontextmanager
async def _database(app: FastAPI) -> AsyncIterator[None]:
    path = os.environ.get("REFERENCE_DB", "reference.db")
    async with aiosqlite.connect(path) as db:
        await db.execute("pragma journal_mode=wal")
        await db.execute("create table if not exists t (id integer primary key, body text)")
        await db.commit()
        app.state.db = db
        yield


@asynccontextmanager
async def _engine(app: FastAPI) -> AsyncIterator[None]:
    path = os.environ.get("REFERENCE_DB", "reference.db")
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", pool_size=1, max_overflow=0)

    @event.listens_for(engine.sync_engine, "connect")
    def _wal(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("pragma journal_mode=wal")
        dbapi_connection.execute("pragma synchronous=normal")

    async with engine.begin() as conn:
        await conn.execute(text("create table if not exists r (id text primary key, step text)"))
        await conn.execute(
            text("insert or ignore into r (id, step) values (:id, '')"),
            [{"id": f"r{n}"} for n in range(1000)],
        )
    app.state.engine = engine
    yield
    await engine.dispose()


bare = FastAPI()
writing = FastAPI(lifespan=_database)
orm = FastAPI(lifespan=_engine)


@bare.get("/item/{item_id}")
async def item(item_id: str) -> dict[str, object]:
    return {"id": item_id, "status": "running", "health": [], "attempt": 1}


@writing.post("/item/{item_id}")
async def write(item_id: str) -> dict[str, str]:
    db: aiosqlite.Connection = writing.state.db
    await db.execute("insert into t (body) values (?)", (item_id,))
    await db.commit()
    return {"id": item_id}


class Step(BaseModel):
    checkpoint_id: str
    step: str


async def _bearer(authorization: Annotated[str, Header()]) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "a bearer token, please")
    return token


@orm.post("/item/{item_id}")
async def update_one(
    item_id: str, body: Step, _token: Annotated[str, Depends(_bearer)]
) -> dict[str, str]:
    engine: AsyncEngine = orm.state.engine
    async with engine.begin() as conn:
        await conn.execute(
            text("update r set step = :step where id = :id"), {"id": item_id, "step": body.step}
        )
    return {"id": item_id, "checkpoint_id": body.checkpoint_id}
