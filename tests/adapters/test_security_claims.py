"""The exploit of an agent's owner claim, end to end: refused, audited, no command.

An agent with its own token names the admin's email beside an attacker's chat id as the owner
of one of its runs. The attacker then clicks Approve on *another* agent's approval (a signed
Slack click, a Teams invoke with a valid Bot Framework token) and force-cancels a run from the
command line as that chat id. Each is refused and audited; the other agent receives nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from opslayer.adapters.cli import main
from opslayer.bot.people.tokens import MintedToken, mint_token
from tests.agent_receiver import AgentReceiver
from tests.fake_connector import FakeConnector
from tests.fake_slack import FakeSlack
from tests.harness import BotClient
from tests.slack_support import asks_approval, buttons, click, signed
from tests.teams_support import Teams, audit_rows, run_waiting_for_approval

ROOT = "root@corp.example"


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    """The admin is known by email only, as OPSLAYER_ADMINS=email:root@corp.example."""
    return {"admins": [f"email:{ROOT}"]}


async def _claims_admin(client: httpx.AsyncClient, store: Any, **chat_id: str) -> dict[str, Any]:
    """Another agent pairs the admin's email with the attacker's chat id."""
    rogue = await mint_token(store, "rogue-bot")
    answer = await client.post(
        "/v1/runs",
        json={"external_id": "x", "title": "innocent", "owner": {"email": ROOT, **chat_id}},
        headers={"Authorization": f"Bearer {rogue.token}"},
    )
    assert answer.status_code == 201, answer.text  # routing still works: it is a claim
    run: dict[str, Any] = answer.json()
    assert run["owner"]["email"] == ROOT and not any(run["owner"].get(k) for k in chat_id)
    assert run["owner_claim"]["unverified"] == list(chat_id)
    return run


async def test_a_claimed_slack_id_cannot_approve_another_agents_run(
    bot: tuple[BotClient, MintedToken],
    slack: FakeSlack,
    receiver: AgentReceiver,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, agent = bot
    store = client.store
    await _claims_admin(client, store, slack_user_id="UEVIL")
    body = {
        "external_id": "pay-1",
        "title": "Payout",
        "owner": {"email": "alice@example.com"},
        "webhook_url": receiver.url,
    }
    victim = await asks_approval(client, agent, body, running=True)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    approve = buttons(slack.api("chat.postMessage")[-1])["opslayer_approve"]

    form = click(slack, "UEVIL", approve)
    answer = await client.post("/slack/events", content=form, headers=signed(form))
    assert answer.status_code == 200
    await slack.wait_for(lambda: slack.responses)
    assert slack.responses[0]["response_type"] == "ephemeral"
    auth = {"Authorization": f"Bearer {agent.token}"}
    trail = (await client.get(f"/v1/runs/{victim['id']}/audit", headers=auth)).json()
    assert trail[-1]["action"] == "action.refused" and trail[-1]["actor"]["id"] == "slack:UEVIL"
    approval = (await client.get(f"/v1/runs/{victim['id']}", headers=auth)).json()["approvals"]
    assert approval[0]["status"] == "pending"

    # The command line: `runs force-cancel RUN --as slack:UEVIL` is refused too.
    monkeypatch.setenv("OPSLAYER_DATABASE_URL", db_url)
    monkeypatch.setenv("OPSLAYER_ADMINS", f"email:{ROOT}")
    argv = ["runs", "force-cancel", victim["id"], "--as", "slack:UEVIL", "--reason", "mine"]
    assert await asyncio.to_thread(main, argv) == 1
    run = (await client.get(f"/v1/runs/{victim['id']}", headers=auth)).json()
    assert run["status"] == "waiting_approval" and run["pending_commands"] == []
    assert await client.core.outbox.listing() == []
    assert receiver.received == []


async def test_a_claimed_teams_id_cannot_approve_another_agents_run(
    teams: tuple[Teams, MintedToken], connector: FakeConnector, receiver: AgentReceiver
) -> None:
    bot, agent = teams
    store = bot.client.store
    await _claims_admin(bot.client, store, teams_user_id="aad-evil")
    run, card = await run_waiting_for_approval(bot, agent, receiver)

    answer = await bot.send(bot.click(card, "approve", user="aad-evil"))
    assert answer.status_code == 200
    assert "Nothing changed" in json.dumps(answer.json()["value"])
    refused = [e for e in await audit_rows(bot, run["id"]) if e.action == "action.refused"]
    assert refused and refused[-1].actor.id == "teams:aad-evil"
    auth = {"Authorization": f"Bearer {agent.token}"}
    detail = (await bot.client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert detail["approvals"][0]["status"] == "pending" and detail["pending_commands"] == []
    assert await bot.client.core.outbox.listing() == []
    assert receiver.received == []
