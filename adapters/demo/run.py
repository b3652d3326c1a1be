"""`opslayer demo`: set up a fresh database, start opslayer, and let the simulated agents play."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from opslayer.adapters.app import create_app
from opslayer.adapters.core import Core
from opslayer.adapters.demo.agents import DemoAgent, webhook_router
from opslayer.adapters.demo.cast import ADMIN, COLLEAGUE, SCENES
from opslayer.adapters.listening import bind, cannot_listen
from opslayer.adapters.settings import Settings
from opslayer.adapters.web.console import Console
from opslayer.bot.audit import Via
from opslayer.bot.errors import ValidationFailed
from opslayer.bot.people.directory import add_person, check_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import mint_token

log = logging.getLogger("opslayer.demo")


@dataclass(frozen=True, slots=True)
class Newcomer:
    """Who the demo signs in as its admin, and where their alerts go in Slack or Teams."""

    name: str
    email: str
    slack_channel: str | None
    teams_channel: str | None


async def _cast(app: FastAPI, settings: Settings, admin: Newcomer) -> dict[str, DemoAgent]:
    core: Core = app.state.core
    await add_person(
        core.store,
        identity=Identity(email=admin.email, name=admin.name),
        role="admin",
        slack_channel=admin.slack_channel,
        teams_channel=admin.teams_channel,
    )
    await add_person(core.store, identity=Identity(email=COLLEAGUE[1], name=COLLEAGUE[0]))
    agents: dict[str, DemoAgent] = {}
    for name, situations in SCENES.items():
        async with core.store.read() as uow:  # a demo started again on its database
            known = await uow.agents.by_name(name) is not None
        minted = await mint_token(core.store, name, rotate=known, grace_s=0)
        agents[name] = DemoAgent(
            name=name,
            token=minted.token,
            secret=minted.webhook_secret,
            base_url=settings.base_url,
            owner=admin.email,
            situations=situations,
        )
    return agents


async def _offer_handoff(app: FastAPI, agent: DemoAgent, admin: Newcomer) -> None:
    """Bo hands his run to the admin, who has not accepted yet."""
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
        new_owner=Identity(email=admin.email),
        reason="I am on leave from Monday",
    )


async def _play(
    app: FastAPI, settings: Settings, agents: dict[str, DemoAgent], admin: Newcomer
) -> None:
    console: Console = app.state.console
    async with console.store.read() as uow:
        signing_in = await uow.people.find(Identity(email=admin.email))
    assert signing_in is not None
    token = await console.sign_in.link(signing_in, ttl=timedelta(days=1), via=Via.CLI)
    tasks = [asyncio.create_task(agent.live()) for agent in agents.values()]
    tasks.append(asyncio.create_task(_offer_handoff(app, agents["onboarding"], admin)))
    print(
        "\nopslayer demo: six simulated agents are producing every situation an operator meets"
        " (waiting for approval, stuck, stale, credentials expiring, failed after a side effect,"
        " a handoff waiting for acceptance); within a minute they are all in the inbox."
        " Approve, retry, reassign: the agents answer.\n"
        + _in_chat(settings, admin)
        + f"Sign in as {admin.name} (one-time link, valid a day):\n"
        f"{settings.base_url}/login/{token}",
        flush=True,
    )
    await asyncio.gather(*tasks)


def _in_chat(settings: Settings, admin: Newcomer) -> str:
    """Where the situations also appear, or how to make them."""
    places = []
    if settings.slack_enabled and admin.slack_channel:
        places.append(f"Slack channel {admin.slack_channel}")
    if settings.teams_enabled and admin.teams_channel:
        places.append("the Teams channel given")
    if places:
        return f"They are posted to {' and '.join(places)} too.\n"
    if settings.slack_enabled or settings.teams_enabled:
        return (
            "To see them in chat too, give the channel: opslayer demo --slack-channel C0123"
            " (or --teams-channel), and --email with your own address so your clicks act as"
            " the demo's admin.\n"
        )
    return ""


def run_demo(args: argparse.Namespace, configured: Settings | None = None) -> int:
    configured = configured or Settings()
    host = args.host or configured.host  # OPSLAYER_HOST / OPSLAYER_PORT, as serve reads them
    port = args.port or configured.port
    try:  # before anything is made: a busy port leaves nothing behind
        listening = bind(host, port)
    except OSError as why:
        print(f"opslayer demo: {cannot_listen(host, port, why)}", file=sys.stderr)
        return 2
    folder = Path(args.database_dir or tempfile.mkdtemp(prefix="opslayer-demo-"))
    database = folder / "opslayer-demo.db"
    if database.exists():
        database.unlink()  # always a fresh start
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        host=host,
        port=port,
        scan_interval_s=2.0,
        admins=[],
    )
    admin = Newcomer(
        name=args.name or ADMIN[0],
        email=args.email or ADMIN[1],
        slack_channel=args.slack_channel,
        teams_channel=args.teams_channel,
    )
    try:  # what would fail once started fails now, with the fix
        if admin.email.lower() == COLLEAGUE[1]:
            raise ValidationFailed(f"{COLLEAGUE[1]} is the demo's colleague: give your own email")
        check_person(
            Identity(email=admin.email, name=admin.name),
            slack_channel=admin.slack_channel,
            teams_channel=admin.teams_channel,
        )
    except ValidationFailed as wrong:
        print(f"opslayer demo: {wrong}", file=sys.stderr)
        listening.close()
        return 2
    agents: dict[str, DemoAgent] = {}
    started: list[asyncio.Task[None]] = []

    def ready() -> None:
        async def begin() -> None:
            agents.update(await _cast(app, settings, admin))
            await _play(app, settings, agents, admin)

        started.append(asyncio.get_running_loop().create_task(begin()))

    app = create_app(settings, on_ready=ready)
    app.include_router(webhook_router(agents))
    print(f"opslayer demo: database {database}", flush=True)
    config = uvicorn.Config(app, log_level="warning")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[listening])
    return 0


def add_demo_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="start opslayer with simulated agents that produce every situation",
        description="Start opslayer on a fresh SQLite file with simulated agents that, within a"
        " minute, produce every situation an operator meets, and print a sign-in link. With"
        " Slack or Teams configured (see README), the same situations appear there.",
    )
    demo.add_argument("--host", help="address to listen on (default 127.0.0.1, OPSLAYER_HOST)")
    demo.add_argument("--port", type=int, help="port to listen on (default 8080, OPSLAYER_PORT)")
    demo.add_argument(
        "--database-dir", help="folder for the demo's SQLite file (default: a new temp folder)"
    )
    demo.add_argument(
        "--email",
        help="the demo's admin is you: your address (with Slack or Teams configured, your clicks"
        " act as this admin once the platform vouches for the email; default ada@demo.example)",
    )
    demo.add_argument("--name", help="the admin's name (default Ada Admin)")
    demo.add_argument(
        "--slack-channel", help="with Slack configured: the channel (C…) the situations appear in"
    )
    demo.add_argument(
        "--teams-channel",
        help="with Teams configured: the channel (19:…@thread.tacv2) the situations appear in",
    )
    demo.set_defaults(plain=run_demo)


if __name__ == "__main__":
    defaults = {"host": None, "port": None}
    sys.exit(
        run_demo(
            argparse.Namespace(
                **defaults,
                database_dir=None,
                email=None,
                name=None,
                slack_channel=None,
                teams_channel=None,
            )
        )
    )
