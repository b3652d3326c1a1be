"""The deny list end to end: unspecified addresses never reach this host's listeners, and with
`default,private` neither does any loopback spelling, at registration or, for names, at
delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from opslayer.adapters.settings import Settings
from opslayer.bot.audit import Via
from opslayer.bot.operations import Operations
from opslayer.bot.people.directory import add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import mint_token
from tests.agent_receiver import AgentReceiver
from tests.harness import BotClient, running
from tests.support import MovableClock, eventually


@pytest.fixture(params=[["default"], ["default", "private"]], ids=["default", "private"])
async def bot(
    request: pytest.FixtureRequest, tmp_path: Path, clock: MovableClock
) -> AsyncIterator[tuple[BotClient, dict[str, str], list[str]]]:
    deny: list[str] = request.param
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'deny.db'}",
        webhook_deny=deny,
        run_cache_ttl_s=0,
        webhook_retry_s=[0],
    )
    async with running(settings, clock) as client:
        await add_person(client.store, identity=Identity(email="a@example.com", name="A"))
        minted = await mint_token(client.store, "deny-bot")
        yield client, {"Authorization": f"Bearer {minted.token}"}, deny


async def test_spellings_of_this_host_are_refused_at_registration(
    bot: tuple[BotClient, dict[str, str], list[str]], receiver: AgentReceiver
) -> None:
    client, auth, deny = bot
    port = httpx.URL(receiver.url).port
    always = [f"http://0.0.0.0:{port}/hook", f"http://[::]:{port}/hook", f"http://0:{port}/hook"]
    loopback = [
        f"http://127.1:{port}/hook",
        f"http://2130706433:{port}/hook",
        f"http://0x7f000001:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        f"http://[::1]:{port}/hook",
    ]
    for n, url in enumerate(always + loopback):
        body = {"external_id": f"e{n}", "title": "t", "owner": {"email": "a@example.com"}}
        answer = await client.post("/v1/runs", json={**body, "webhook_url": url}, headers=auth)
        refused = url in always or "private" in deny
        assert answer.status_code == (422 if refused else 201), (url, answer.text)


async def test_a_name_resolving_to_loopback_is_refused_at_delivery_when_private_is_denied(
    bot: tuple[BotClient, dict[str, str], list[str]], receiver: AgentReceiver
) -> None:
    client, auth, deny = bot
    url = receiver.url.replace("127.0.0.1", "localhost")  # a name: checked when it resolves
    body = {"external_id": "n", "title": "t", "owner": {"email": "a@example.com"}}
    run = (await client.post("/v1/runs", json={**body, "webhook_url": url}, headers=auth)).json()
    ops: Operations = client.operations
    store = client.store
    async with store.read() as uow:
        alice = await uow.people.find(Identity(email="a@example.com"))
    assert alice is not None
    await ops.commands.pause(run["id"], person=alice, via=Via.CLI)

    async def settled() -> bool:
        commands = (await client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json()
        return bool(commands) and (commands[0]["status"] != "pending" or bool(receiver.received))

    await eventually(settled)
    commands = (await client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json()
    if "private" in deny:
        assert receiver.received == []
        assert commands[0]["status"] == "undelivered"
        assert "OPSLAYER_WEBHOOK_DENY" in commands[0]["last_error"]
    else:
        assert len(receiver.received) == 1 and commands[0]["status"] == "delivered"
