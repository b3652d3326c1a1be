"""Two real `opslayer serve` replicas on one PostgreSQL database: every alert and every digest
is posted once, whichever replica found it first."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import _empty_tables
from tests.real_server import Server


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two servers scanning every 0.3 s, sharing one database."""
    asyncio.run(_empty_tables(pg_url))
    servers = []
    for name in ("a", "b"):
        server = Server(tmp_path / f"replica-{name}.db")
        server.env.update(OPSLAYER_DATABASE_URL=pg_url, OPSLAYER_SCAN_INTERVAL_S="0.3")
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


def rounds(server: Server, metric: str) -> int:
    """How many scans (or chat sync rounds) the server ran: what its /metrics say."""
    metrics = httpx.get(f"{server.url}/metrics").text
    found = re.search(rf"^{metric} (\S+)$", metrics, re.MULTILINE)
    assert found is not None, metrics
    return int(float(found[1]))


def more_rounds(servers: tuple[Server, Server], metric: str, count: int = 2) -> None:
    """Until each server ran `count` more rounds of `metric` than now."""
    seen = {s.url: rounds(s, metric) for s in servers}
    until(lambda: all(rounds(s, metric) >= seen[s.url] + count for s in servers), within_s=30)


def until(check: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)  # polling an outside process; the condition, not the sleep, decides
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
    # Both replicas keep scanning and posting (rounds each): nothing more may appear.
    more_rounds(replicas, "opslayer_scans", 3)
    more_rounds(replicas, "opslayer_sync_rounds")
    assert posted(replicas, "stuck") == 3
    # Both replicas queue today's digest at the same moment: one row, one post.
    with ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(lambda s: s.cli("digest", "send"), replicas))
    assert sum(o.startswith("queued 1 digest") for o in outputs) == 1, outputs
    until(lambda: posted(replicas, "digest") >= 1, within_s=30)
    more_rounds(replicas, "opslayer_sync_rounds")
    assert posted(replicas, "digest") == 1


def test_two_replicas_take_a_deadline_default_once(replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    minted = json.loads(a.cli("token", "create", "--agent", "billing-bot", "--json"))
    auth = {"Authorization": f"Bearer {minted['token']}"}
    runs = []
    for i, server in enumerate([a, b, a, b]):
        body = {"external_id": f"job-{i}", "title": f"job {i}", "owner": {"email": "alice@x.io"}}
        run = httpx.post(f"{server.url}/v1/runs", json=body, headers=auth).json()
        asked = {"request_id": "r", "title": "Ship?", "timeout_s": 1, "on_timeout": "reject"}
        answer = httpx.post(f"{server.url}/v1/runs/{run['id']}/approvals", json=asked, headers=auth)
        assert answer.status_code == 201, answer.text
        runs.append((run["id"], answer.json()["id"]))

    def decided() -> bool:
        return all(
            httpx.get(f"{a.url}/v1/approvals/{approval}", headers=auth).json()["status"]
            == "rejected"
            for _, approval in runs
        )

    until(decided, within_s=30)
    more_rounds(replicas, "opslayer_scans", 3)  # both keep looking: nothing is decided twice
    for run_id, _ in runs:
        commands = httpx.get(f"{b.url}/v1/runs/{run_id}/commands", headers=auth).json()
        assert [(c["kind"], c["payload"]["command"]["actor"]["via"]) for c in commands] == [
            ("reject", "timeout")
        ], commands
