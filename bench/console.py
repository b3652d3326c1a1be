"""Console benchmark: server time to render /runs (first page and a deep page) and a run page
with 1,000 timeline events, at 1,000 / 100,000 / 1,000,000 runs on SQLite.

    .venv/bin/python bench/console.py [--sizes 1000,100000,1000000] [--repeat 30]

Each size gets a fresh SQLite file: one run is registered through the agent API as a template,
copied in bulk to N runs, one more run gets 900 audit events and 100 checkpoints, and 100 runs
ask for approval (the inbox); a member owns 5 runs, and their /runs is measured too. Pages
are fetched in-process through the real ASGI app (a signed-in admin's session), so the time is
the server's: routing, queries, rendering. Prints the median and p95 per page and size, and
each page's 1,000,000-run median as a ratio of its 1,000-run one (target: under 150 ms and
within 2x). The other pages an operator opens (a filter, a search, the inbox, the agents) are
measured alike, outside the target.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import progress, table  # noqa: E402

from opslayer.adapters.app import create_app  # noqa: E402
from opslayer.adapters.settings import Settings  # noqa: E402
from opslayer.bot.audit import Via  # noqa: E402
from opslayer.bot.ids import new_id  # noqa: E402
from opslayer.bot.people.directory import add_person  # noqa: E402
from opslayer.bot.people.model import Identity  # noqa: E402
from opslayer.bot.people.tokens import mint_token  # noqa: E402

TARGET_MS = 150.0
BATCH = 20_000
INBOX = 100  # approvals waiting in the inbox
OPS = {"email": "ops@example.com"}  # the admin who owns the runs
MEMBERS_RUNS = 5  # runs of a member (not an admin): their /runs shows only these
TARGETED = (
    "/runs (first page)",
    "/runs (deep page)",
    "/runs/{id} (1,000 events)",
    f"/runs (a member's {MEMBERS_RUNS})",
)


def _ids(count: int, start: datetime) -> Iterator[str]:
    """Time-ordered run ids, a millisecond apart, as agents registering over time make them."""
    for n in range(count):
        moment = start + timedelta(milliseconds=n)
        stamp = int(moment.timestamp() * 1000)
        yield "run_" + _ulid(stamp, n)


def _ulid(millis: int, salt: int) -> str:
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    value = millis << 80 | (salt * 2654435761) % (1 << 80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))


async def _prepare(url: str, database: Path) -> str:
    """Through the real app: an agent, an admin, a template run and the story run."""
    app = create_app(Settings(database_url=url, admins=[]))
    async with app.router.lifespan_context(app):
        core = app.state.core
        minted = await mint_token(core.store, "bench-agent")
        await add_person(
            core.store, identity=Identity(email="ops@example.com", name="Ops"), role="admin"
        )
        await add_person(core.store, identity=Identity(email="mia@example.com", name="Mia"))
        auth = {"Authorization": f"Bearer {minted.token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as api:
            body = {"external_id": "template", "title": "t", "owner": OPS}
            template = (await api.post("/v1/runs", json=body, headers=auth)).json()["id"]
            await api.post(f"/v1/runs/{template}/status", json={"status": "running"}, headers=auth)
            body = {"external_id": "story", "title": "The long story", "owner": OPS}
            story = (await api.post("/v1/runs", json=body, headers=auth)).json()["id"]
            # A member who owns a few runs among all of them.
            for n in range(MEMBERS_RUNS):
                body = {
                    "external_id": f"mia-{n}",
                    "title": f"Mia's {n}",
                    "owner": {"email": "mia@example.com"},
                }
                await api.post("/v1/runs", json=body, headers=auth)
            # A full inbox: approvals waiting, each with its arguments.
            for n in range(INBOX):
                body = {"external_id": f"ask-{n}", "title": f"Refund {n}", "owner": OPS}
                asking = (await api.post("/v1/runs", json=body, headers=auth)).json()["id"]
                await api.post(
                    f"/v1/runs/{asking}/approvals",
                    json={
                        "request_id": "refund",
                        "title": f"Refund order {n}?",
                        "action": "refund",
                        "arguments": {"order": n, "amount_eur": 42},
                    },
                    headers=auth,
                )
        await core.cache.flush()
    with sqlite3.connect(database) as db:
        now = datetime.now(UTC).replace(tzinfo=None)
        db.executemany(
            "insert into audit_events (run_id, at, action, actor_id, actor_name, via, detail)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    story,
                    now + timedelta(seconds=n),
                    "run.status_changed",
                    "agent:bench-agent",
                    "bench-agent",
                    "api",
                    json.dumps({"from": "running", "to": "running"}),
                )
                for n in range(900)
            ],
        )
        db.executemany(
            "insert into checkpoints (id, run_id, checkpoint_id, seq, step, summary, resumable,"
            " side_effects, created_at) values (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            [
                (
                    new_id("chk"),
                    story,
                    f"c{n}",
                    n,
                    f"step {n}",
                    None,
                    json.dumps([{"key": f"e{n}", "idempotent": n % 2 == 0}]),
                    now + timedelta(seconds=n, milliseconds=500),
                )
                for n in range(100)
            ],
        )
    return str(template)


def _copy(database: Path, template: str, count: int) -> None:
    """`count` runs like the template, created over time, in batches with progress."""
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("select * from runs where id = ?", (template,)).fetchone())
        columns = list(row)
        marks = ", ".join("?" for _ in columns)
        statement = f"insert into runs ({', '.join(columns)}) values ({marks})"
        start = datetime(2026, 1, 1, tzinfo=UTC)
        made = 0
        batch = []
        # As a fleet's history looks: most runs ended, a few percent open.
        statuses = (
            ("running",) * 2
            + ("waiting_approval", "paused")
            + ("failed",) * 5
            + ("canceled",)
            + ("succeeded",) * 90
        )
        for n, run_id in enumerate(_ids(count, start)):
            copy = {
                **row,
                "id": run_id,
                "external_id": f"job-{n}",
                "title": f"{'Nightly' if n % 2 else 'Weekly'} sync {n}",
                "status": statuses[n % len(statuses)],
                "next_check_at": None,
            }
            batch.append([copy[c] for c in columns])
            if len(batch) == BATCH:
                db.executemany(statement, batch)
                made += len(batch)
                batch = []
                progress(f"  {made:,} of {count:,} runs written")
        if batch:
            db.executemany(statement, batch)
        db.commit()
        db.execute("analyze")


async def _measure(url: str, repeat: int) -> dict[str, list[float]]:
    app = create_app(Settings(database_url=url, admins=[]))
    async with app.router.lifespan_context(app):
        # As `opslayer serve` does once started (adapters/cli.py): what start-up allocated is
        # not walked by the collector again.
        gc.collect()
        gc.freeze()
        console = app.state.console
        async with console.store.read() as uow:
            ops = await uow.people.find(Identity(email="ops@example.com"))
        assert ops is not None
        token = await console.sign_in.link(ops, via=Via.CLI)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as browser:
            await browser.post(f"/login/{token}")
            story = (await browser.get("/runs?q=The+long+story")).text
            story_id = story.split('href="/runs/run_', 1)[1].split('"', 1)[0]
            assert "Older runs" in (await browser.get("/runs")).text
            # A page deep into the list: "Older runs" from the middle of the ids.
            async with console.store.read() as uow:
                middle = await uow.db.conn.exec_driver_sql(
                    "select id from runs order by id limit 1 offset (select count(*) / 2 from runs)"
                )
                cursor = middle.scalar_one()
            pages = {
                "/runs (first page)": "/runs",
                "/runs (deep page)": f"/runs?after={cursor}",
                "/runs/{id} (1,000 events)": f"/runs/run_{story_id}",
                # Not in the target: what else an operator opens, measured alike.
                "/runs?status=failed": "/runs?status=failed",
                "/runs?status=waiting_auth (none)": "/runs?status=waiting_auth",
                "/runs?health=stuck (none)": "/runs?health=stuck",
                "/runs?q= (search, 1 match)": "/runs?q=The+long+story",
                "/ (inbox)": "/",
                "/agents": "/agents",
                "/agents/{name}": "/agents/bench-agent",
            }
            times = {name: await _timed(browser, path, repeat) for name, path in pages.items()}
            timeline = (await browser.get(pages["/runs/{id} (1,000 events)"])).text
            shown = int(timeline.split("<small>(", 1)[1].split(" events", 1)[0])
            assert shown >= 1000, f"the story run shows {shown} timeline events, not 1,000"
        async with console.store.read() as uow:
            mia = await uow.people.find(Identity(email="mia@example.com"))
        assert mia is not None
        token = await console.sign_in.link(mia, via=Via.CLI)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as member:
            await member.post(f"/login/{token}")
            mine = (await member.get("/runs")).text
            theirs = set(re.findall(r'href="/runs/(run_\w+)"', mine))
            assert len(theirs) == MEMBERS_RUNS, f"a member sees only theirs, not {len(theirs)}"
            times[f"/runs (a member's {MEMBERS_RUNS})"] = await _timed(member, "/runs", repeat)
    return times


async def _timed(browser: httpx.AsyncClient, path: str, repeat: int) -> list[float]:
    """Milliseconds per request for `path`, after one request to warm it."""
    answer = await browser.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await browser.get(path)
        times.append((time.perf_counter() - began) * 1000)
    return times


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=30, help="requests per page and size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            database = Path(folder) / f"console-{size}.db"
            url = f"sqlite+aiosqlite:///{database}"
            progress(f"{size:,} runs: preparing")
            template = await _prepare(url, database)
            _copy(database, template, size - 2 - INBOX - MEMBERS_RUNS)
            progress(f"{size:,} runs: measuring")
            results[size] = await _measure(url, args.repeat)
    rows = []
    first = sizes[0]
    for size in sizes:
        for page, values in results[size].items():
            median = statistics.median(values)
            p95 = sorted(values)[int(len(values) * 0.95) - 1]
            ratio = median / statistics.median(results[first][page])
            if page not in TARGETED:
                verdict = "-"
            else:
                verdict = "ok" if median < TARGET_MS and ratio <= 2 else "MISSED"
            rows.append(
                [f"{size:,}", page, f"{median:.1f}", f"{p95:.1f}", f"{ratio:.2f}x", verdict]
            )
    print(table(["runs", "page", "median ms", "p95 ms", f"vs {first:,}", "target"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
