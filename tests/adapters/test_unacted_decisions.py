"""A decision the agent received and never acted on is seen: the run keeps waiting with no open
approval, and after the policy's decision_ack_s (5 minutes) its owner is told, with the time of
the decision; when the run moves the alert clears. (Users of every HITL tool report exactly
this: "approved, but the run never continued".)"""

from __future__ import annotations

import json
from typing import Any

from opslayer.bot.audit import Via
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.agent_receiver import AgentReceiver
from tests.fake_slack import FakeSlack
from tests.harness import BotClient
from tests.support import MovableClock


async def _asking(
    client: BotClient, auth: dict[str, str], url: str, *request_ids: str
) -> tuple[str, list[dict[str, Any]]]:
    body = {"external_id": "x", "title": "Ship it", "owner": {"email": "alice@example.com"}}
    run_id = (
        await client.post("/v1/runs", json={**body, "webhook_url": url}, headers=auth)
    ).json()["id"]
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
    approvals = [
        (
            await client.post(
                f"/v1/runs/{run_id}/approvals",
                json={"request_id": r, "title": f"{r}?"},
                headers=auth,
            )
        ).json()
        for r in request_ids
    ]
    return run_id, approvals


async def test_a_decision_the_agent_never_acts_on_is_told_and_clears_when_it_moves(
    bot: tuple[BotClient, MintedToken],
    slack: FakeSlack,
    receiver: AgentReceiver,
    clock: MovableClock,
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    run_id, [approval] = await _asking(client, auth, receiver.url, "ship")
    alice = await find_person(client.store, Identity(email="alice@example.com"))
    decided = clock.now()
    await client.operations.approvals.approve(approval["id"], person=alice, via=Via.SLACK)
    await receiver.wait_for(1)  # delivered: the agent answered 2xx, and then did nothing
    clock.advance(seconds=299)
    await client.core.scanner.scan()
    assert "unacted" not in (await client.get(f"/v1/runs/{run_id}", headers=auth)).json()["health"]
    clock.advance(seconds=2)
    await client.core.scanner.scan()
    await client.core.sync.sync()
    run = (await client.get(f"/v1/runs/{run_id}", headers=auth)).json()
    assert run["status"] == "waiting_approval" and "unacted" in run["health"]
    told = [m for m in slack.api("chat.postMessage") if "has not acted on it" in m["text"]]
    assert told and f"was decided at {decided:%d %b %H:%M} UTC" in told[0]["text"]

    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
    await client.core.scanner.scan()
    await client.core.sync.sync()
    run = (await client.get(f"/v1/runs/{run_id}", headers=auth)).json()
    assert "unacted" not in run["health"]
    assert "the agent acted on the decision" in json.dumps(slack.api("chat.update"))


async def test_a_run_still_waiting_for_another_approval_is_not_unacted(
    bot: tuple[BotClient, MintedToken], receiver: AgentReceiver, clock: MovableClock
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    run_id, [first, _second] = await _asking(client, auth, receiver.url, "one", "two")
    alice = await find_person(client.store, Identity(email="alice@example.com"))
    await client.operations.approvals.approve(first["id"], person=alice, via=Via.SLACK)
    clock.advance(seconds=3600)
    await client.core.scanner.scan()
    run = (await client.get(f"/v1/runs/{run_id}", headers=auth)).json()
    assert "unacted" not in run["health"]
