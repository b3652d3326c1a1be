"""Whole flows against a real `opslayer serve` process: the example agent approved from the
CLI, and a server killed with SIGKILL mid-delivery that loses no command after restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
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

ROOT = Path(__file__).resolve().parents[2]
OPSLAYER = str(Path(sys.executable).with_name("opslayer"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`opslayer serve` on a port of its own, against one SQLite file."""

    def __init__(self, db: Path) -> None:
        self.log = db.with_suffix(".log")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "OPSLAYER_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "OPSLAYER_DELIVERY_POLL_S": "0.2",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [OPSLAYER, "serve", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"opslayer serve did not become healthy: {self.log.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [OPSLAYER, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


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
