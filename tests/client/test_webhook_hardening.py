"""The agent's webhook (`Opslayer(...).webhook()`) against what an attacker would send: a huge
unsigned body is refused from its headers, a large signed one before it is read, and a signed
command replayed to a freshly started agent is not acted on again."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from opslayer_client._runtime import MAX_WEBHOOK_BODY, Runtime
from opslayer_client.contract import CommandBody
from opslayer_client.functions import Opslayer
from opslayer_client.signing import signed_headers
from tests.real_server import free_port

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTMyLWJ5dGVzISE="
COMMAND = {
    "type": "command",
    "command": {
        "id": "cmd_1",
        "kind": "cancel",
        "run_id": "run_1",
        "external_id": "job-1",
        "actor": {"id": "per_1", "name": "Alice", "via": "web"},
        "issued_at": "2026-12-05T09:00:00Z",
    },
}


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[str]:
    """The SDK's webhook under uvicorn, as an agent serves it; its base URL."""
    ops = Opslayer(
        "http://127.0.0.1:9", token="opl_x", webhook_secret=SECRET, handled_path=tmp_path / "h"
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(ops.webhook(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        ops.close()


async def raw_post(address: str, head: dict[str, str], body: bytes = b"") -> tuple[int, float]:
    """Send the request line and headers (and `body`, if any) only; the status and how long it
    took to come. A server that waited for a declared 200 MiB would never answer."""
    host, port = address.split(":")
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = ["POST / HTTP/1.1", f"Host: {address}", *(f"{k}: {v}" for k, v in head.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    async with asyncio.timeout(5):
        status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1]), time.perf_counter() - started


async def test_a_huge_unsigned_body_is_refused_from_its_headers(webhook: str) -> None:
    status, took = await raw_post(webhook, {"Content-Length": str(200 * 1024 * 1024)})
    assert status == 401 and took < 1


async def test_a_large_signed_body_is_refused_before_it_is_read(webhook: str) -> None:
    head = signed_headers(SECRET, "msg_big", b"")
    status, took = await raw_post(webhook, {**head, "Content-Length": str(MAX_WEBHOOK_BODY + 1)})
    assert status == 413 and took < 1


async def test_a_large_chunked_body_is_refused_once_it_passes_the_limit(webhook: str) -> None:
    head = signed_headers(SECRET, "msg_chunked", b"")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4 * MAX_WEBHOOK_BODY // 65536):
            yield b"x" * 65536

    async with httpx.AsyncClient() as client:
        answer = await client.post(f"http://{webhook}/", content=chunks(), headers=head)
    assert answer.status_code == 413


async def deliver(runtime: Runtime, body: bytes, head: dict[str, str]) -> int:
    acted: list[CommandBody] = []

    async def on_command(command: CommandBody) -> None:
        acted.append(command)

    transport = httpx.ASGITransport(app=runtime.asgi(on_command))
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
        answer = await client.post("/", content=body, headers=head)
    assert answer.status_code == 204, answer.text
    await asyncio.sleep(0)
    return len(acted)


async def test_a_command_replayed_after_a_restart_is_not_acted_on_again(tmp_path: Path) -> None:
    body = json.dumps(COMMAND).encode()
    head = signed_headers(SECRET, "cmd_1", body)  # the captured delivery, replayed as it was
    kept = tmp_path / "handled"
    first = Runtime("http://127.0.0.1:9", "opl_x", webhook_secret=SECRET, handled_path=kept)
    try:
        assert await deliver(first, body, head) == 1
        assert await deliver(first, body, head) == 0
    finally:
        first.close()
    restarted = Runtime("http://127.0.0.1:9", "opl_x", webhook_secret=SECRET, handled_path=kept)
    try:
        assert await deliver(restarted, body, head) == 0
        other: dict[str, Any] = json.loads(json.dumps(COMMAND))
        other["command"]["id"] = "cmd_2"
        fresh = json.dumps(other).encode()
        assert await deliver(restarted, fresh, signed_headers(SECRET, "cmd_2", fresh)) == 1
    finally:
        restarted.close()


def test_handled_commands_are_forgotten_once_no_copy_could_verify(tmp_path: Path) -> None:
    from opslayer_client.handled import KEEP_S, HandledCommands

    now = [1_000_000.0]
    kept = tmp_path / "handled"
    handled = HandledCommands(kept, clock=lambda: now[0])
    assert handled.first_time("a") and not handled.first_time("a")
    now[0] += KEEP_S + 1
    later = HandledCommands(kept, clock=lambda: now[0])
    assert later.first_time("a")  # its signature could no longer verify: nothing to refuse
    assert kept.read_text().split() == [f"{now[0]:.0f}", "a"]
