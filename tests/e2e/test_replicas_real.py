"""Two real `opslayer serve` replicas on one PostgreSQL database: every alert and every digest
is posted once, whichever replica found it first."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import _empty_tables
from tests.e2e.test_real_server import Server


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two servers scanning every 0.3 s, with a digest every minute, sharing one database."""
    asyncio.run(_empty_tables(pg_url))
    servers = []
    for name in ("a", "b"):
        server = Server(tmp_path / f"replica-{name}.db")
        server.env.update(
            OPSLAYER_DATABASE_URL=pg_url,
            OPSLAYER_SCAN_INTERVAL_S="0.3",
            OPSLAYER_DIGEST_CRON="* * * * *",
        )
        servers.append(server)
    servers[0].cli("db", "upgrade")
    servers[0].cli("groups", "add", "payments", "--slack-channel", "C-PAY")
    servers[0].cli(
        "people", "add", "--email", "alice@example.com", "--name", "Alice", "--group", "payments"
    )
    for server in servers:
        server.start()
    yield servers[0], servers[1]
    for server in servers:
        server.stop()


def posted(servers: tuple[Server, Server], kind: str) -> int:
    return sum(s.log.read_text().count(f"[{kind} → ") for s in servers)


def until(check: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {within_s} s")


def test_two_replicas_post_each_alert_and_digest_once(replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    minted = json.loads(a.cli("token", "create", "--agent", "billing-bot", "--json"))
    auth = {"Authorization": f"Bearer {minted['token']}"}
    for i, server in enumerate([a, b, a]):
        body = {
            "external_id": f"job-{i}",
            "title": f"job {i}",
            "owner": {"email": "alice@example.com"},
            "policy": {"heartbeat_timeout_s": 1},
        }
        assert httpx.post(f"{server.url}/v1/runs", json=body, headers=auth).status_code == 201
    until(lambda: posted(replicas, "stuck") >= 3, within_s=30)
    time.sleep(2)  # both replicas keep scanning: nothing more may appear
    assert posted(replicas, "stuck") == 3
    until(lambda: posted(replicas, "digest") >= 1, within_s=75)
    time.sleep(3)
    assert posted(replicas, "digest") == 1
