"""Shared pieces of the benchmarks: a real `opslayer serve` process, databases, load, tables."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import psutil
from aiohttp import web
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
OPSLAYER = str(Path(sys.executable).with_name("opslayer"))
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_admin_url() -> str | None:
    """The PostgreSQL server to benchmark on, or None when none answers."""
    url = (
        os.environ.get("OPSLAYER_BENCH_PG_URL")
        or os.environ.get("OPSLAYER_TEST_PG_URL")
        or DEFAULT_PG
    )
    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5432), timeout=1):
            return url
    except OSError:
        return None


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one benchmark, dropped afterwards."""
    name = f"opslayer_bench_{secrets.token_hex(4)}"
    _pg_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_execute(admin_url: str, statement: str) -> None:
    async def run() -> None:
        u = make_url(admin_url)
        conn = await asyncpg.connect(
            host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
        )
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@dataclass
class Server:
    """A real `opslayer serve` process pinned to one core."""

    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    started_in_s: float

    @property
    def rss_mb(self) -> float:
        rss: int = psutil.Process(self.process.pid).memory_info().rss
        return rss / 2**20

    def cli(self, *args: str) -> str:
        return subprocess.run(
            [OPSLAYER, *args], env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def mint(self, agent: str) -> dict[str, str]:
        minted: dict[str, str] = json.loads(self.cli("token", "create", "--agent", agent, "--json"))
        return minted


@contextmanager
def serve(
    database_url: str, *, cpu: int | None = 0, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start `opslayer serve` and wait until /healthz answers; stop it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "OPSLAYER_DATABASE_URL": database_url,
        "OPSLAYER_LOG_LEVEL": "warning",
        # The load is one agent on purpose: measure the server, not the per-agent rate limit.
        "OPSLAYER_AGENT_RATE_PER_S": "1000000",
        **(extra_env or {}),
    }
    started = time.perf_counter()
    process = subprocess.Popen([OPSLAYER, "serve", "--port", str(port)], env=env, cwd=ROOT)
    if cpu is not None and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(process.pid, {cpu})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield Server(url=url, process=process, env=env, started_in_s=time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    *,
    path: str = "/healthz",
    what: str = "opslayer serve",
) -> None:
    """Wait until `url + path` answers 200; fail if the process exits or 30 s pass."""
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{what} was not healthy within 30 s")


def pin_self(cpu: int = 1) -> None:
    """Keep the load generator off the server's core."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


@dataclass
class Result:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0.5: median) by nearest rank; NaN when there is nothing to rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def start_local(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` in this process on a free loopback port (the stand-ins a benchmark plays:
    Slack, the Bot Connector, an agent); returns the runner to clean up, and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def load(
    name: str,
    *,
    concurrency: int,
    seconds: float,
    request: Callable[[aiohttp.ClientSession, int, int], Awaitable[int]],
    on_progress: Callable[[str], None] | None = None,
) -> Result:
    """`concurrency` clients each calling `request(session, client, i)` in a loop for `seconds`."""
    result = Result(name)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop = time.perf_counter() + seconds

        async def client(n: int) -> None:
            i = 0
            while time.perf_counter() < stop:
                began = time.perf_counter()
                status = await request(session, n, i)
                if 200 <= status < 300:
                    result.latencies_ms.append((time.perf_counter() - began) * 1000)
                else:
                    result.errors[status] = result.errors.get(status, 0) + 1
                i += 1

        began = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(concurrency)))
        result.seconds = time.perf_counter() - began
    if on_progress:
        on_progress(f"  {name}: {len(result.latencies_ms)} requests in {result.seconds:.1f} s")
    return result


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
