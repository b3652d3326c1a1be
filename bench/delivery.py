"""Delivery benchmark: commands enqueued by operators → received by a local agent.

    .venv/bin/python bench/delivery.py [--commands 2000] [--concurrency 32] [--fail 0,0.1]

The bot runs in this process (store, operations, the real deliverer over HTTP), pinned to one
core; the agent is a separate process on the other core that fails the first attempt of a
given share of commands. Prints commands/s and p50/p99 from enqueue (the operator's decision
committed) to receipt (the first 2xx-answered arrival) for each share. With failures, the
retry schedule is shortened to 0, 0.2 s, 0.5 s so the table measures the mechanism, not the
default's 5-second second step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import free_port, progress, table  # noqa: E402

from opslayer.adapters.app import create_app  # noqa: E402
from opslayer.adapters.settings import Settings
from opslayer.bot.audit import Via
from opslayer.bot.commands.model import CommandStatus
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import mint_token
from opslayer_client.contract import RunCreate  # noqa: E402

TARGET_RATE, TARGET_P99_MS = 500, 250


def measure(commands: int, concurrency: int, fail_share: float, workdir: Path) -> list[str]:
    """One row of the table: start the agent, run the bot against it, read what arrived."""
    port = free_port()
    out = workdir / f"arrivals-{fail_share}.json"
    receiver = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("receiver.py")),
            str(port),
            str(fail_share),
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(receiver.pid, {1})
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    started, enqueued = asyncio.run(drive(commands, concurrency, fail_share, workdir, port))
    receiver.terminate()
    receiver.wait(timeout=10)
    arrivals: dict[str, list[float]] = json.loads(out.read_text())
    return row(fail_share, started, enqueued, arrivals)


async def drive(
    commands: int, concurrency: int, fail_share: float, workdir: Path, port: int
) -> tuple[float, dict[str, float]]:
    """The bot's side: register runs, then operators cancel them all, as fast as they can."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir}/delivery-{fail_share}.db",
        webhook_retry_s=[0, 0.2, 0.5, 1, 2],
        delivery_poll_s=0.1,
    )
    app = create_app(settings)
    enqueued: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        store, service, operations = app.state.store, app.state.service, app.state.operations
        await mint_token(store, "bench-agent")
        progress(f"  fail {fail_share:.0%}: registering {commands} runs")
        url = f"http://127.0.0.1:{port}/hook"
        run_ids = []
        for i in range(commands):
            body = {
                "external_id": f"d-{i}",
                "title": "bench",
                "owner": {"email": "ops@example.com"},
                "webhook_url": url,
            }
            run, _ = await service.register_run("bench-agent", RunCreate.model_validate(body))
            run_ids.append(run.id)
        ops = await find_person(store, Identity(email="ops@example.com"))
        queue = list(run_ids)
        progress(f"  fail {fail_share:.0%}: enqueuing {commands} commands, {concurrency} at a time")
        started = time.time()

        async def operator() -> None:
            while queue:
                run_id = queue.pop()
                decision = await operations.commands.cancel(
                    run_id, person=ops, via=Via.CLI, reason="bench"
                )
                enqueued[decision.command.id] = time.time()

        await asyncio.gather(*(operator() for _ in range(concurrency)))
        outbox = app.state.outbox
        for _ in range(600):  # until nothing is left to deliver (a minute at most)
            if not (await outbox.counts()).get(CommandStatus.PENDING):
                break
            await asyncio.sleep(0.1)
    return started, enqueued


def row(
    fail_share: float, started: float, enqueued: dict[str, float], arrivals: dict[str, list[float]]
) -> list[str]:
    latencies = sorted((arrivals[c][-1] - t) * 1000 for c, t in enqueued.items() if c in arrivals)
    finished = max(arrivals[c][-1] for c in enqueued if c in arrivals)
    rate = len(latencies) / (finished - started)
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    missing = len(enqueued) - len(latencies)
    target = f">= {TARGET_RATE}/s, p99 < {TARGET_P99_MS} ms"
    met = "yes" if rate >= TARGET_RATE and p99 < TARGET_P99_MS else "no"
    return [
        f"{fail_share:.0%}",
        str(len(enqueued)),
        f"{rate:,.0f}",
        f"{p50:.0f}",
        f"{p99:.0f}",
        str(missing),
        target + (f": {met}" if fail_share == 0 else " (nothing fails only)"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--commands", type=int, default=2000, help="commands per run (default 2000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="concurrent operators (default 32)"
    )
    parser.add_argument(
        "--fail", default="0,0.1", help="shares of first attempts that fail (default 0,0.1)"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for share in (float(s) for s in args.fail.split(",")):
            rows.append(measure(args.commands, args.concurrency, share, Path(tmp)))
    print(
        table(
            [
                "first attempts failing",
                "commands",
                "commands/s",
                "p50 ms",
                "p99 ms",
                "lost",
                "target",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
