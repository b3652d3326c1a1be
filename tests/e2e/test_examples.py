"""Every example in examples/ runs as the README says, against a real `opslayer serve`, with no
model key: it asks, a person decides from the CLI, and the example finishes with that decision.
The LangGraph one stops after asking and another process takes the decision."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.real_server import ROOT, Server, free_port

OWNER = "alice@example.com"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "opslayer.db")
    running.start()
    running.cli("people", "add", "--email", OWNER, "--name", "Alice")
    yield running
    running.stop()


class Example:
    """One example running in its own process, its output read line by line."""

    def __init__(self, name: str, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / name), *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _running.append(self)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def said(self, start: str, within_s: float = 60.0) -> str:
        """The first line (from now) that starts with `start`."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if line.startswith(start):
                return line
        self.process.kill()
        raise AssertionError(f"no line starting {start!r}; it said: {self.seen}")

    def finished(self) -> None:
        assert self.process.wait(timeout=60) == 0, self.seen

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


_running: list[Example] = []


@pytest.fixture(autouse=True)
def _no_example_left_running() -> Iterator[None]:
    yield
    while _running:
        _running.pop().close()


def minted(server: Server, agent: str) -> dict[str, str]:
    found: dict[str, str] = json.loads(server.cli("token", "create", "--agent", agent, "--json"))
    return found


def connected(server: Server, agent: dict[str, str], *, webhook: bool = True) -> list[str]:
    """The flags every example takes: where opslayer is, the agent's credentials, the owner."""
    secret = ["--secret", agent["webhook_secret"]] if webhook else []
    return ["--url", server.url, "--token", agent["token"], *secret, "--owner", OWNER]


def waiting_run(server: Server, token: str) -> str:
    """The agent's run that waits for approval (once it does)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{server.url}/v1/runs?status=waiting_approval",
            headers={"Authorization": f"Bearer {token}"},
        )
        items = answer.json()["items"]
        if items:
            run_id: str = items[0]["id"]
            return run_id
        time.sleep(0.2)
    raise AssertionError("no run of the agent waits for approval")


def test_the_approval_agent_refunds_what_was_decided(server: Server, tmp_path: Path) -> None:
    agent = minted(server, "example-agent")
    example = Example(
        "approval_agent.py", *connected(server, agent), "--port", str(free_port()), cwd=tmp_path
    )
    run_id = example.said("registered run ").split()[-1]
    example.said("waiting for a decision on apr_")
    edit = json.dumps({"order": 1001, "amount_eur": 30})
    server.cli("runs", "approve", run_id, "--as", OWNER, "--edit", edit)
    example.said("received approve from Alice via cli")
    example.said("refunded 30 EUR; run succeeded")
    example.finished()


def test_the_langgraph_agent_stops_and_another_process_finishes_it(
    server: Server, tmp_path: Path
) -> None:
    agent = minted(server, "refund-graph")
    common = connected(server, agent)
    first = Example("langgraph_agent.py", *common, "--until-interrupt", cwd=tmp_path)
    run_id = first.said("asked for approval: ").split()[-1]
    first.finished()
    edit = json.dumps({"order": 1001, "amount_eur": 30})
    server.cli("runs", "approve", run_id, "--as", OWNER, "--edit", edit)
    second = Example("langgraph_agent.py", *common, "--resume", cwd=tmp_path)
    second.said("finished: refunded")
    second.finished()
    shown = server.cli("runs", "show", run_id)
    assert "succeeded" in shown and "refund:1001 (not idempotent)" in shown


def test_the_langchain_agent_sends_the_email_once_approved(server: Server, tmp_path: Path) -> None:
    agent = minted(server, "mailer")
    example = Example("langchain_hitl_agent.py", *connected(server, agent), cwd=tmp_path)
    run_id = example.said("waiting for a decision on run ").split()[-1]
    server.cli("runs", "approve", run_id, "--as", OWNER)
    example.said("sending 'Hi' to bob@example.com")
    example.said("Done.")
    example.finished()


def test_the_openai_agents_agent_refunds_once_approved(server: Server, tmp_path: Path) -> None:
    agent = minted(server, "support")
    example = Example(
        "openai_agents_agent.py", *connected(server, agent, webhook=False), cwd=tmp_path
    )
    example.said("asking for approval of refund")
    run_id = waiting_run(server, agent["token"])
    server.cli("runs", "approve", run_id, "--as", OWNER)
    example.said("refunding 42 EUR to order 1001")
    example.said("Done: the refund went the way the approver decided.")
    example.finished()
