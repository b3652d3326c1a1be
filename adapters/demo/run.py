"""`opslayer demo`: set up a fresh database, start opslayer, and let the simulated agents play."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from opslayer.adapters.app import create_app
from opslayer.adapters.core import Core
from opslayer.adapters.demo.agents import DemoAgent, webhook_router
from opslayer.adapters.demo.cast import ADMIN, COLLEAGUE, SCENES
from opslayer.adapters.settings import Settings
from opslayer.adapters.web.console import Console
from opslayer.bot.audit import Via
from opslayer.bot.errors import Conflict
from opslayer.bot.people.directory import add_person
from opslayer.bot.people.model import Identity, Role
from opslayer.bot.people.tokens import mint_token

log = logging.getLogger("opslayer.demo")


async def _cast(app: FastAPI, settings: Settings) -> dict[str, DemoAgent]:
    core: Core = app.state.core
    cast: list[tuple[str, str, Role]] = [(*ADMIN, "admin"), (*COLLEAGUE, "member")]
    for name, email, role in cast:
        with contextlib.suppress(Conflict):  # a kept database has them already
            await add_person(core.store, identity=Identity(email=email, name=name), role=role)
    agents: dict[str, DemoAgent] = {}
    for name, situations in SCENES.items():
        minted = await mint_token(core.store, name, rotate=True, grace_s=0)
        agents[name] = DemoAgent(
            name=name,
            token=minted.token,
            secret=minted.webhook_secret,
            base_url=settings.base_url,
            owner=ADMIN[1],
            situations=situations,
        )
    return agents


async def _offer_handoff(app: FastAPI, agent: DemoAgent) -> None:
    """Bo hands his run to Ada, who has not accepted yet."""
    core: Core = app.state.core
    for _ in range(100):
        if "vendor-onboarding" in agent.runs:
            break
        await asyncio.sleep(0.2)
    run_id = agent.runs["vendor-onboarding"]
    async with core.store.read() as uow:
        bo = await uow.people.find(Identity(email=COLLEAGUE[1]))
    assert bo is not None
    await core.operations.handoffs.reassign(
        run_id,
        person=bo,
        via=Via.CLI,
        new_owner=Identity(email=ADMIN[1]),
        reason="I am on leave from Monday",
    )


async def _play(app: FastAPI, settings: Settings, agents: dict[str, DemoAgent]) -> None:
    console: Console = app.state.console
    async with console.store.read() as uow:
        ada = await uow.people.find(Identity(email=ADMIN[1]))
    assert ada is not None
    token = await console.sign_in.link(ada, ttl=timedelta(days=1), via=Via.CLI)
    tasks = [asyncio.create_task(agent.live()) for agent in agents.values()]
    tasks.append(asyncio.create_task(_offer_handoff(app, agents["onboarding"])))
    print(
        "\nopslayer demo: six simulated agents are producing every situation an operator meets"
        " (waiting for approval, stuck, stale, credentials expiring, failed after a side effect,"
        " a handoff waiting for acceptance); within a minute they are all in the inbox."
        " Approve, retry, reassign: the agents answer.\n"
        f"Sign in as {ADMIN[0]} (one-time link, valid a day):\n"
        f"{settings.base_url}/login/{token}",
        flush=True,
    )
    await asyncio.gather(*tasks)


def run_demo(args: argparse.Namespace) -> int:
    folder = Path(args.database_dir or tempfile.mkdtemp(prefix="opslayer-demo-"))
    database = folder / "opslayer-demo.db"
    if database.exists():
        database.unlink()  # always a fresh start
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        host=args.host,
        port=args.port,
        scan_interval_s=2.0,
        admins=[],
    )
    agents: dict[str, DemoAgent] = {}
    started: list[asyncio.Task[None]] = []

    def ready() -> None:
        async def begin() -> None:
            agents.update(await _cast(app, settings))
            await _play(app, settings, agents)

        started.append(asyncio.get_running_loop().create_task(begin()))

    app = create_app(settings, on_ready=ready)
    app.include_router(webhook_router(agents))
    print(f"opslayer demo: database {database}", flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
    return 0


def add_demo_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="start opslayer with simulated agents that produce every situation",
        description="Start opslayer on a fresh SQLite file with simulated agents that, within a"
        " minute, produce every situation an operator meets, and print a sign-in link. With"
        " Slack or Teams configured (see README), the same situations appear there.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    demo.add_argument(
        "--database-dir", help="folder for the demo's SQLite file (default: a new temp folder)"
    )
    demo.set_defaults(plain=lambda a, _settings: run_demo(a))


if __name__ == "__main__":
    sys.exit(run_demo(argparse.Namespace(host="127.0.0.1", port=8080, database_dir=None)))
