"""Retention benchmark: what runs cost on disk, and how long a prune takes (SQLite).

    .venv/bin/python bench/retention.py [--runs 10000,1000000] [--checkpoints 10]

For each size: a fresh SQLite file, one run registered through the agent API with its
checkpoints and its audit trail as the template, copied to N ended runs (100 days old). Prints
the file size per 10,000 runs before the prune, the prune's time (the `opslayer prune` code,
batches of 2,000 runs), and the size after it (with and without the audit trail kept), each
after VACUUM.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import progress, table  # noqa: E402

from opslayer.adapters.app import create_app  # noqa: E402
from opslayer.adapters.settings import Settings  # noqa: E402
from opslayer.bot.audit import SYSTEM  # noqa: E402
from opslayer.bot.ids import new_id  # noqa: E402
from opslayer.bot.people.tokens import mint_token  # noqa: E402
from opslayer.bot.ports import SystemClock  # noqa: E402
from opslayer.bot.runs.retention import Retention  # noqa: E402
from opslayer.store.engine import create_engine  # noqa: E402
from opslayer.store.uow import SqlStore  # noqa: E402

BATCH = 20_000


async def _template(url: str, checkpoints: int) -> str:
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        minted = await mint_token(app.state.core.store, "bench")
        auth = {"Authorization": f"Bearer {minted.token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as api:
            body = {"external_id": "t", "title": "Nightly sync", "owner": {"email": "o@x.io"}}
            run_id = str((await api.post("/v1/runs", json=body, headers=auth)).json()["id"])
            await api.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
            for n in range(checkpoints):
                effect = [{"key": f"effect-{n}", "idempotent": n % 2 == 0}]
                point = {"checkpoint_id": f"c{n}", "step": f"step {n}", "side_effects": effect}
                await api.post(f"/v1/runs/{run_id}/checkpoints", json=point, headers=auth)
            await api.post(f"/v1/runs/{run_id}/status", json={"status": "succeeded"}, headers=auth)
    return run_id


def _rows(db: sqlite3.Connection, table_name: str, key: str, run_id: str) -> list[dict[str, Any]]:
    cursor = db.execute(f"select * from {table_name} where {key} = ?", (run_id,))  # noqa: S608
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _copy(database: Path, template: str, count: int) -> None:
    """`count` ended runs like the template (with its checkpoints and audit events)."""
    old = (datetime.now(UTC) - timedelta(days=100)).replace(tzinfo=None).isoformat(" ")
    with sqlite3.connect(database) as db:
        run = _rows(db, "runs", "id", template)[0]
        points = _rows(db, "checkpoints", "run_id", template)
        events = _rows(db, "audit_events", "run_id", template)
        inserts = {}
        for name, sample in (("runs", run), ("checkpoints", points[0] if points else None)):
            if sample:
                columns = list(sample)
                marks = ", ".join("?" for _ in columns)
                inserts[name] = (
                    f"insert into {name} ({', '.join(columns)}) values ({marks})",
                    columns,
                )
        event_columns = [c for c in events[0] if c != "id"]
        event_sql = (
            f"insert into audit_events ({', '.join(event_columns)})"
            f" values ({', '.join('?' for _ in event_columns)})"
        )
        made = 0
        while made < count:
            size = min(BATCH, count - made)
            run_rows, point_rows, event_rows = [], [], []
            for n in range(made, made + size):
                run_id = new_id("run")
                copy = {**run, "id": run_id, "external_id": f"job-{n}", "status_changed_at": old}
                run_rows.append([copy[c] for c in inserts["runs"][1]])
                for point in points:
                    moved = {**point, "id": new_id("chk"), "run_id": run_id}
                    point_rows.append([moved[c] for c in inserts["checkpoints"][1]])
                for event in events:
                    event_rows.append([{**event, "run_id": run_id}[c] for c in event_columns])
            db.executemany(inserts["runs"][0], run_rows)
            if point_rows:
                db.executemany(inserts["checkpoints"][0], point_rows)
            db.executemany(event_sql, event_rows)
            made += size
            progress(f"  {made:,} of {count:,} runs written")
        db.commit()


def _size(database: Path) -> int:
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.execute("pragma wal_checkpoint(truncate)")
        db.execute("vacuum")
        db.execute("pragma wal_checkpoint(truncate)")
    finally:
        db.close()
    return database.stat().st_size


async def _prune(url: str, *, audit: bool) -> float:
    engine = create_engine(url)
    store = SqlStore(engine, SystemClock())
    began = time.perf_counter()
    await Retention(store, SystemClock()).prune(
        timedelta(days=90),
        actor=SYSTEM,
        audit=audit,
        on_progress=lambda t: progress(f"  pruned {t.get('runs', 0):,} runs"),
    )
    took = time.perf_counter() - began
    await store.close()
    await engine.dispose()
    return took


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="10000,1000000")
    parser.add_argument("--checkpoints", type=int, default=10)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for count in (int(n) for n in args.runs.split(",")):
            for audit in (False, True):
                database = Path(folder) / f"r-{count}-{audit}.db"
                url = f"sqlite+aiosqlite:///{database}"
                progress(f"{count:,} runs, {args.checkpoints} checkpoints each")
                template = await _template(url, args.checkpoints)
                _copy(database, template, count)
                before = _size(database)
                took = await _prune(url, audit=audit)
                after = _size(database)
                per = 10_000 / count
                rows.append(
                    [
                        f"{count:,}",
                        "removed" if audit else "kept",
                        f"{before * per / 1e6:.1f}",
                        f"{after * per / 1e6:.2f}",
                        f"{took:.1f}",
                        f"{count / took:,.0f}",
                    ]
                )
                database.unlink()
    headers = ["runs", "audit trail", "MB/10k before", "MB/10k after", "prune s", "runs/s"]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
