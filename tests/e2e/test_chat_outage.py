"""A chat outage is not a server outage. Seen: with Socket Mode on and Slack unreachable,
`opslayer serve` retried the connection forever during start-up: no "startup complete",
/healthz timed out, agents and the console were down, and SIGTERM was ignored. Now chat
connects in the background with back-off, the server serves meanwhile, /readyz and /metrics
say chat is connecting, and a signal stops it within seconds."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.real_server import Server


@pytest.fixture
async def tarpit() -> AsyncIterator[str]:
    """A Slack Web API that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/api/"
        for writer in held:
            writer.close()


def refused() -> str:
    """A Slack Web API address where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


@pytest.mark.parametrize("where", ["tarpit", "refused"])
async def test_slack_unreachable_leaves_agents_served_and_a_signal_stops_the_server(
    tmp_path: Path, tarpit: str, where: str
) -> None:
    server = Server(tmp_path / "opslayer.db")
    server.env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-test",
        OPSLAYER_SLACK_API_URL=tarpit if where == "tarpit" else refused(),
    )
    started = time.monotonic()
    try:
        await asyncio.to_thread(server.start)  # waits for /healthz
        assert time.monotonic() - started < 15
        minted = json.loads(
            await asyncio.to_thread(server.cli, "token", "create", "--agent", "a", "--json")
        )
        headers = {"Authorization": f"Bearer {minted['token']}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=5) as api:
            run = {"external_id": "e", "title": "t", "owner": {"email": "a@example.com"}}
            assert (await api.post("/v1/runs", json=run)).status_code == 201
            ready = (await api.get("/readyz")).json()
            assert ready == {"status": "ready", "chat": {"slack": "connecting"}}
            metrics = (await api.get("/metrics")).text
            assert 'opslayer_chat_connected{platform="slack"} 0.0' in metrics
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        await asyncio.to_thread(server.process.wait, 15)
        assert time.monotonic() - stopping < 10
    finally:
        server.stop()
