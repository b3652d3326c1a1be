"""Retry from the console starts where it is safe unless a person chooses otherwise: the inbox's
Retry button (which names no checkpoint) retries from the latest resumable checkpoint; a
confirmation asked is audited as what it is, not as a refusal."""

from __future__ import annotations

from opslayer.bot.people.tokens import MintedToken
from tests.console_support import Person
from tests.harness import BotClient


async def test_the_inbox_retry_starts_from_the_latest_checkpoint_without_a_replay(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {"external_id": "inv", "title": "Send invoices", "owner": {"email": "alice@example.com"}}
    run_id = (await client.post("/v1/runs", json=body, headers=auth)).json()["id"]
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
    effect = {"key": "email:invoices", "idempotent": False}
    point = {"checkpoint_id": "emailed", "step": "email", "side_effects": [effect]}
    await client.post(f"/v1/runs/{run_id}/checkpoints", json=point, headers=auth)
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "failed"}, headers=auth)
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        answer = await alice.act(run_id, "retry")  # the inbox's button: no checkpoint named
        assert answer.status_code == 303  # sent, not a confirmation page
    commands = (await client.get(f"/v1/runs/{run_id}/commands", headers=auth)).json()
    [retry] = [c["payload"]["command"] for c in commands if c["kind"] == "retry"]
    assert retry["from_checkpoint_id"] == "emailed"
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        await client.post(f"/v1/runs/{run_id}/status", json={"status": "failed"}, headers=auth)
        asked = await alice.act(run_id, "retry", checkpoint="")  # the start, on purpose
        assert asked.status_code == 409 and "Send invoices" in asked.text
    trail = (await client.get(f"/v1/runs/{run_id}/audit", headers=auth)).json()
    assert trail[-1]["action"] == "action.confirmation_asked"
    assert "email:invoices" in trail[-1]["detail"]["risks"]
