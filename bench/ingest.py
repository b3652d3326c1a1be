"""Ingest benchmark: N concurrent agents against a real `opslayer serve` on loopback.

    .venv/bin/python bench/ingest.py [--concurrency 16] [--seconds 5] [--backend sqlite,postgres]

Prints requests/s and p50/p99 latency for heartbeats, status changes and checkpoints on each
backend, the server's memory at idle and under load, and its time from start to healthy.
The server is pinned to core 0 and the load to core 1 (DESIGN §8 measured the same way).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    Result,
    Server,
    load,
    pg_admin_url,
    pg_database,
    pin_self,
    progress,
    serve,
    table,
)  # noqa: E402

TARGETS = {"heartbeat": (2500, 50), "status": (1000, 75), "checkpoint": (1000, 75)}


async def _register(server: Server, token: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        ids = []
        for i in range(count):
            body = {
                "external_id": f"bench-{i}",
                "title": f"bench run {i}",
                "owner": {"email": "bench@example.com"},
            }
            async with session.post(f"{server.url}/v1/runs", json=body) as answer:
                ids.append((await answer.json())["id"])
            async with session.post(
                f"{server.url}/v1/runs/{ids[-1]}/status", json={"status": "running"}
            ) as answer:
                assert answer.status == 200, await answer.text()
        return ids


async def _measure(
    server: Server, *, concurrency: int, seconds: float
) -> tuple[list[Result], float]:
    token = server.mint("bench-agent")["token"]
    headers = {"Authorization": f"Bearer {token}"}
    runs = await _register(server, token, concurrency)
    peak_rss = server.rss_mb

    async def sample_rss(stop: asyncio.Event) -> None:
        nonlocal peak_rss
        while not stop.is_set():
            peak_rss = max(peak_rss, server.rss_mb)
            await asyncio.sleep(0.2)

    async def heartbeat(session: aiohttp.ClientSession, n: int, i: int) -> int:
        body = {"step": f"step-{i % 10}", "progress": (i % 100) / 100}
        async with session.post(
            f"{server.url}/v1/runs/{runs[n]}/heartbeat", json=body, headers=headers
        ) as r:
            await r.read()
            return r.status

    async def status(session: aiohttp.ClientSession, n: int, i: int) -> int:
        body = {"status": "paused" if i % 2 == 0 else "running", "reason": "bench"}
        async with session.post(
            f"{server.url}/v1/runs/{runs[n]}/status", json=body, headers=headers
        ) as r:
            await r.read()
            return r.status

    async def checkpoint(session: aiohttp.ClientSession, n: int, i: int) -> int:
        body = {
            "checkpoint_id": f"c-{n}-{i}",
            "step": "write",
            "side_effects": [{"key": f"row-{n}-{i}", "idempotent": i % 2 == 0}],
        }
        async with session.post(
            f"{server.url}/v1/runs/{runs[n]}/checkpoints", json=body, headers=headers
        ) as r:
            await r.read()
            return r.status

    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(stop))
    results = []
    for name, fn in [("heartbeat", heartbeat), ("status", status), ("checkpoint", checkpoint)]:
        results.append(
            await load(
                name, concurrency=concurrency, seconds=seconds, request=fn, on_progress=progress
            )
        )
    stop.set()
    await sampler
    return results, peak_rss


def bench_backend(backend: str, url: str, args: argparse.Namespace) -> list[list[str]]:
    progress(f"{backend}: starting opslayer serve")
    with serve(url) as server:
        idle = server.rss_mb
        results, peak = asyncio.run(
            _measure(server, concurrency=args.concurrency, seconds=args.seconds)
        )
    rows = []
    for r in results:
        rate_goal, p99_goal = TARGETS[r.name]
        met = "yes" if r.rate >= rate_goal and r.pct(0.99) <= p99_goal and not r.errors else "no"
        rows.append(
            [
                backend,
                r.name,
                f"{r.rate:,.0f}",
                f"{r.pct(0.5):.1f}",
                f"{r.pct(0.99):.1f}",
                str(sum(r.errors.values())),
                f">={rate_goal}/s, p99<{p99_goal}ms: {met}",
            ]
        )
    rows.append(
        [
            backend,
            "memory idle / load",
            f"{idle:.0f} / {peak:.0f} MB",
            "",
            "",
            "",
            "idle < 150 MB: " + ("yes" if idle < 150 else "no"),
        ]
    )
    rows.append(
        [
            backend,
            "start to healthy",
            f"{server.started_in_s:.2f} s",
            "",
            "",
            "",
            "< 3 s: " + ("yes" if server.started_in_s < 3 else "no"),
        ]
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="concurrent agents (default 16)"
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="seconds per request kind (default 5)"
    )
    parser.add_argument(
        "--backend", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    args = parser.parse_args()
    pin_self(1)
    rows: list[list[str]] = []
    backends = [b.strip() for b in args.backend.split(",")]
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            rows += bench_backend("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", args)
    if "postgres" in backends:
        admin = pg_admin_url()
        if admin is None:
            progress("postgres: no server answers (set OPSLAYER_BENCH_PG_URL); skipped")
        else:
            with pg_database(admin) as url, contextlib.suppress(KeyboardInterrupt):
                rows += bench_backend("postgres", url, args)
    print(table(["backend", "kind", "req/s", "p50 ms", "p99 ms", "errors", "target"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
