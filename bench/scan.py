"""Scan benchmark: how long one scan takes as the number of registered runs grows.

    .venv/bin/python bench/scan.py [--sizes 1000,100000,1000000] [--due 100]
                                   [--backend sqlite,postgres]

For each size, registers that many runs (bulk-loaded), of which a fixed number are due, then
times `Scanner.scan()` (find the due runs through the next_check_at index, raise their alerts,
store their health) five times and prints the median. The claim to check: the scan's cost
follows the runs that are due, not the runs that exist.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import pg_admin_url, pg_database, progress, table  # noqa: E402
from sqlalchemy import delete, insert, update  # noqa: E402

from opslayer.bot.alerts.scan import Scanner  # noqa: E402
from opslayer.bot.ports import SystemClock  # noqa: E402
from opslayer.bot.runs.model import Policy
from opslayer.store import migrate  # noqa: E402
from opslayer.store.engine import create_engine  # noqa: E402
from opslayer.store.tables import agents, alerts, people, runs  # noqa: E402
from opslayer.store.uow import SqlStore  # noqa: E402

NOW = datetime.now(UTC)
CHUNK = 20_000


def _run_rows(start: int, count: int, due: set[int]) -> list[dict[str, Any]]:
    later = NOW + timedelta(hours=1)
    long_ago = NOW - timedelta(hours=2)
    p = Policy()
    policy = {
        "heartbeat_timeout_s": p.heartbeat_timeout_s,
        "stale_after_s": p.stale_after_s,
        "approval_reminder_s": p.approval_reminder_s,
        "escalate_after_s": p.escalate_after_s,
    }
    return [
        {
            "id": f"run_{i:012d}",
            "agent_id": "agt_bench",
            "external_id": f"e{i}",
            "title": f"run {i}",
            "status": "running",
            "owner_id": "per_bench",
            "policy": policy,
            "labels": {},
            "health": [],
            "attempt": 1,
            "version": 1,
            "created_at": long_ago,
            "updated_at": long_ago,
            "status_changed_at": long_ago,
            "last_heartbeat_at": long_ago if i in due else NOW,
            "next_check_at": long_ago if i in due else later,
        }
        for i in range(start, start + count)
    ]


async def load(store: SqlStore, size: int, due: set[int]) -> None:
    async with store.transaction() as uow:
        conn = uow.db.conn
        await conn.execute(
            insert(agents).values(
                id="agt_bench", name="bench", webhook_secret="whsec_x", created_at=NOW
            )
        )
        await conn.execute(
            insert(people).values(
                id="per_bench", name="Bench", email="b@example.com", timezone="UTC", created_at=NOW
            )
        )
    for start in range(0, size, CHUNK):
        async with store.transaction() as uow:
            await uow.db.conn.execute(insert(runs), _run_rows(start, min(CHUNK, size - start), due))
        if start and start % 200_000 == 0:
            progress(f"    loaded {start:,} runs")


async def reset(store: SqlStore, due: set[int]) -> None:
    """Make the same runs due again and forget their alerts, outside the timing."""
    async with store.transaction() as uow:
        ids = [f"run_{i:012d}" for i in due]
        await uow.db.conn.execute(
            update(runs)
            .where(runs.c.id.in_(ids))
            .values(next_check_at=NOW - timedelta(hours=2), health=[])
        )
        await uow.db.conn.execute(delete(alerts))


async def measure(url: str, size: int, due_count: int) -> list[float]:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    store = SqlStore(engine, SystemClock())
    step = max(1, size // due_count)
    due = {i * step for i in range(due_count)}
    progress(f"  {size:,} runs: loading")
    await load(store, size, due)
    scanner = Scanner(store, SystemClock())
    timings = []
    for _ in range(5):
        await reset(store, due)
        began = time.perf_counter()
        report = await scanner.scan()
        timings.append((time.perf_counter() - began) * 1000)
        assert report.scanned == due_count and report.raised == due_count, report
    await engine.dispose()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000,100000,1000000", help="runs registered (comma-separated)"
    )
    parser.add_argument("--due", type=int, default=100, help="runs due at each scan (default 100)")
    parser.add_argument(
        "--backend", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for backend in args.backend.split(","):
        medians = {}
        for size in sizes:
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    timings = asyncio.run(
                        measure(f"sqlite+aiosqlite:///{tmp}/scan.db", size, args.due)
                    )
            else:
                admin = pg_admin_url()
                if admin is None:
                    progress("postgres: no server answers (set OPSLAYER_BENCH_PG_URL); skipped")
                    break
                with pg_database(admin) as url:
                    timings = asyncio.run(measure(url, size, args.due))
            medians[size] = statistics.median(timings)
            ratio = medians[size] / medians[sizes[0]]
            rows.append(
                [
                    backend,
                    f"{size:,}",
                    str(args.due),
                    f"{medians[size]:.1f}",
                    f"{min(timings):.1f}",
                    f"{ratio:.2f}x",
                    "< 50 ms, within 2x of the smallest: "
                    + ("yes" if medians[size] < 50 and ratio <= 2 else "no"),
                ]
            )
    print(table(["backend", "runs", "due", "median ms", "best ms", "vs smallest", "target"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
