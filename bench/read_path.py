"""The agent-facing read path and the tail, side by side with yardsticks in one run.

    .venv/bin/python bench/read_path.py [--connections 50] [--seconds 5] [--runs 100]

The server (opslayer serve on SQLite, or a reference app) is pinned to core 0, the load to core
1: `--connections` clients spread over `--runs` runs. Yardsticks (bench/reference_app.py): a
bare FastAPI app answering JSON; "FastAPI + 1 write", the stack of DESIGN §8 (a pydantic body,
a bearer header dependency, one UPDATE committed through SQLAlchemy async on one pooled
aiosqlite connection); and "FastAPI + raw insert", one INSERT on a shared raw aiosqlite
connection whose commits fold together (the floor of a write here). Prints req/s and
p50/p90/p99 per endpoint and the ratios the issue sets as targets: every read ≥ 50 % of bare
FastAPI's req/s; heartbeat p99 ≤ 3× bare FastAPI's p99; checkpoints ≥ 90 % of FastAPI + one
write (and, beside it, the share of a raw insert).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    Result,
    free_port,
    load,
    pin_self,
    progress,
    serve,
    table,
    wait_healthy,
)

HERE = Path(__file__).resolve().parent
Request = Callable[[aiohttp.ClientSession, int, int], Awaitable[int]]


@contextmanager
def reference(app: str, folder: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "REFERENCE_DB": str(folder / "reference.db")}
    command = [sys.executable, "-m", "uvicorn", f"reference_app:{app}", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning"], cwd=HERE, env=env, stdout=subprocess.DEVNULL
    )
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(process.pid, {0})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, path="/openapi.json", what=f"the reference app {app!r}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _runs(url: str, token: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        ids = []
        for n in range(count):
            body = {"external_id": f"r{n}", "title": f"run {n}", "owner": {"email": "o@x.io"}}
            async with session.post(f"{url}/v1/runs", json=body) as answer:
                ids.append((await answer.json())["id"])
            async with session.post(f"{url}/v1/runs/{ids[-1]}/status", json={"status": "running"}):
                pass
        return ids


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    pin_self(1)
    n, secs = args.connections, args.seconds
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with reference("bare", folder) as url:

            async def bare(s: aiohttp.ClientSession, c: int, i: int) -> int:
                async with s.get(f"{url}/item/r{(c + i) % args.runs}") as answer:
                    await answer.read()
                    return answer.status

            results["bare FastAPI GET"] = await load(
                "bare", concurrency=n, seconds=secs, request=bare, on_progress=progress
            )
        with reference("writing", folder) as url:

            async def write(s: aiohttp.ClientSession, c: int, i: int) -> int:
                async with s.post(f"{url}/item/r{c}-{i}") as answer:
                    await answer.read()
                    return answer.status

            results["FastAPI + raw insert"] = await load(
                "raw insert", concurrency=n, seconds=secs, request=write, on_progress=progress
            )
        with reference("orm", folder) as url:

            async def update_one(s: aiohttp.ClientSession, c: int, i: int) -> int:
                body = {"checkpoint_id": f"c{c}-{i}", "step": "s"}
                headers = {"Authorization": "Bearer t"}
                async with s.post(
                    f"{url}/item/r{(c + i) % args.runs}", json=body, headers=headers
                ) as answer:
                    await answer.read()
                    return answer.status

            results["FastAPI + 1 write"] = await load(
                "write", concurrency=n, seconds=secs, request=update_one, on_progress=progress
            )
        with serve(f"sqlite+aiosqlite:///{folder / 'opslayer.db'}") as server:
            token = server.mint("bench")["token"]
            ids = await _runs(server.url, token, args.runs)
            auth = {"Authorization": f"Bearer {token}"}

            def getter(path: str) -> Request:
                async def get(s: aiohttp.ClientSession, c: int, i: int) -> int:
                    run = ids[(c + i) % len(ids)]
                    async with s.get(server.url + path.format(run=run), headers=auth) as answer:
                        await answer.read()
                        return answer.status

                return get

            async def beat(s: aiohttp.ClientSession, c: int, i: int) -> int:
                run = ids[(c + i) % len(ids)]
                async with s.post(
                    f"{server.url}/v1/runs/{run}/heartbeat", json={"step": "s"}, headers=auth
                ) as answer:
                    await answer.read()
                    return answer.status

            async def point(s: aiohttp.ClientSession, c: int, i: int) -> int:
                run = ids[(c + i) % len(ids)]
                body = {"checkpoint_id": f"c{c}-{i}", "step": "s"}
                async with s.post(
                    f"{server.url}/v1/runs/{run}/checkpoints", json=body, headers=auth
                ) as answer:
                    await answer.read()
                    return answer.status

            poll = getter("/v1/runs/{run}/commands?status=pending")

            async def fleet(s: aiohttp.ClientSession, c: int, i: int) -> int:
                """What a fleet does: a heartbeat, then a poll for commands, and again."""
                return await (beat if i % 2 else poll)(s, c, i)

            for name, request in (
                ("GET /v1/runs/{id}/commands", poll),
                ("GET /v1/runs/{id}", getter("/v1/runs/{run}")),
                ("GET /v1/runs", getter("/v1/runs?limit=20")),
                ("POST heartbeat", beat),
                ("POST checkpoint", point),
                ("heartbeat + poll, mixed", fleet),
            ):
                results[name] = await load(
                    name, concurrency=n, seconds=secs, request=request, on_progress=progress
                )
    bare_r, write_r = results["bare FastAPI GET"], results["FastAPI + 1 write"]
    raw_r = results["FastAPI + raw insert"]
    rows = []
    for name, r in results.items():
        if name == "heartbeat + poll, mixed":
            target = (
                f"{r.rate / bare_r.rate:.0%} of bare, p99 {r.pct(0.99) / bare_r.pct(0.99):.1f}×"
            )
        elif name.startswith("GET /v1"):
            target = f"{r.rate / bare_r.rate:.0%} of bare (≥ 50 %)"
        elif name == "POST heartbeat":
            target = f"p99 {r.pct(0.99) / bare_r.pct(0.99):.1f}× bare's (≤ 3×)"
        elif name == "POST checkpoint":
            target = (
                f"{r.rate / write_r.rate:.0%} of FastAPI + write (≥ 90 %);"
                f" {r.rate / raw_r.rate:.0%} of a raw insert"
            )
        else:
            target = ""
        errors = sum(r.errors.values())
        rows.append(
            [
                name,
                f"{r.rate:,.0f}",
                f"{r.pct(0.5):.1f}",
                f"{r.pct(0.9):.1f}",
                f"{r.pct(0.99):.1f}",
                str(errors),
                target,
            ]
        )
    print(table(["endpoint", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "target"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
