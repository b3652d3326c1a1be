"""Whole flows against a real `opslayer serve` process: the example agent approved from the
CLI, and a server killed with SIGKILL mid-delivery that loses no command after restart."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from opslayer.bot.audit import Via
from opslayer.bot.operations import Operations
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.rights import Admins
from opslayer.bot.ports import SystemClock
from opslayer.store.engine import create_engine
from opslayer.store.uow import SqlStore
from tests.agent_receiver import agent_receiver
from tests.real_server import OPSLAYER, ROOT, Server, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real server process, stopped after the test whatever happened."""
    running = Server(tmp_path / "opslayer.db")
    running.start()
    yield running
    running.stop()


def test_example_agent_waits_for_approval_given_on_the_cli(server: Server) -> None:
    minted = json.loads(server.cli("token", "create", "--agent", "example-agent", "--json"))
    command = [
        sys.executable,
        str(ROOT / "examples" / "approval_agent.py"),
        "--url",
        server.url,
        "--token",
        minted["token"],
        "--secret",
        minted["webhook_secret"],
        "--owner",
        "alice@example.com",
        "--port",
        str(free_port()),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as agent:
        assert agent.stdout is not None
        registered = agent.stdout.readline()
        waiting = agent.stdout.readline()
        assert "registered run" in registered and "waiting for a decision" in waiting, waiting
        run_id = registered.split()[-1]
        edit = json.dumps({"order": 1001, "amount_eur": 30})
        server.cli("runs", "approve", run_id, "--as", "alice@example.com", "--edit", edit)
        rest = agent.stdout.read()
        assert agent.wait(timeout=30) == 0, rest
    assert "received approve from alice" in rest and "refunded 30 EUR; run succeeded" in rest
    shown = server.cli("runs", "show", run_id)
    assert "succeeded" in shown and "refund:1001 (not idempotent)" in shown


async def test_sigkill_mid_delivery_loses_nothing_and_never_changes_an_id(
    server: Server, tmp_path: Path
) -> None:
    minted = json.loads(server.cli("token", "create", "--agent", "billing-bot", "--json"))
    auth = {"Authorization": f"Bearer {minted['token']}"}
    async with (
        agent_receiver() as receiver,
        httpx.AsyncClient(base_url=server.url, headers=auth) as api,
    ):
        receiver.hang = asyncio.Event()  # the agent takes every delivery and never answers
        run_ids = []
        for i in range(5):
            body = {
                "external_id": f"job-{i}",
                "title": f"job {i}",
                "owner": {"email": "alice@example.com"},
                "webhook_url": receiver.url,
            }
            run_ids.append((await api.post("/v1/runs", json=body)).json()["id"])
        engine = create_engine(server.env["OPSLAYER_DATABASE_URL"])
        store = SqlStore(engine, SystemClock())
        alice = await find_person(store, Identity(email="alice@example.com"))
        operations = Operations.build(store, SystemClock(), admins=Admins())
        issued = {
            (
                await operations.commands.cancel(r, person=alice, via=Via.CLI, reason="stop")
            ).command.id
            for r in run_ids
        }
        await engine.dispose()

        await receiver.wait_for(5)  # all five are mid-delivery: sent, unanswered
        server.kill()
        receiver.hang.set()
        server.start()
        deliveries = await receiver.wait_for(10, within_s=30)

    ids = [d.headers["webhook-id"] for d in deliveries]
    assert set(ids) == issued
    for command_id in issued:
        bodies = {d.body for d in deliveries if d.headers["webhook-id"] == command_id}
        assert len(bodies) == 1  # a redelivery is the same message, byte for byte
    for delivery in deliveries:
        message = Webhook(minted["webhook_secret"]).verify(delivery.body, delivery.headers)
        assert message["command"]["id"] == delivery.headers["webhook-id"]
    listed = await asyncio.to_thread(server.cli, "commands", "list")
    assert listed.count("delivered") == 5 and "pending" not in listed


def test_serve_says_it_is_up_only_once_it_listens(server: Server, tmp_path: Path) -> None:
    assert "opslayer is up" in server.log.read_text()  # the healthy one said so
    other = Server(tmp_path / "second.db")
    other.port = server.port  # the port is taken
    done = subprocess.run(
        [OPSLAYER, "serve", "--port", str(other.port)],
        env=other.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert f"cannot listen on 127.0.0.1:{server.port}" in said and "--port" in said
    assert "opslayer is up" not in said and "Traceback" not in said
