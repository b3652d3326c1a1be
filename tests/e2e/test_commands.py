"""Operator decisions reach the agent: signed, retried, never lost, never doubled.

The agent speaks HTTP to the bot's real app; the bot delivers over real HTTP to a local
receiver; the signature is checked with the `standardwebhooks` package, as an agent would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from opslayer.bot.audit import Via
from opslayer.bot.commands.model import CommandStatus
from opslayer.bot.errors import ConfirmationRequired, Conflict, InvalidTransition, NotAuthorized
from opslayer.bot.operations import Operations
from opslayer.bot.people.directory import add_person, find_person
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.people.tokens import MintedToken
from tests.agent_receiver import AgentReceiver, agent_receiver
from tests.harness import BotClient, running
from tests.support import MovableClock, eventually


@pytest.fixture
async def receiver() -> AsyncIterator[AgentReceiver]:
    """The agent's webhook endpoint, on loopback."""
    async with agent_receiver() as r:
        yield r


@pytest.fixture(autouse=True)
async def named_people(app_client: BotClient) -> None:
    """Alice, Bob and Mallory as an admin added them (an agent's claim names nobody)."""
    for name in ("Alice", "Bob", "Mallory"):
        identity = Identity(email=f"{name.lower()}@example.com", name=name)
        await add_person(app_client.store, identity=identity)


def ops(client: BotClient) -> Operations:
    return client.operations


async def person(client: BotClient, email: str) -> Person:
    return await find_person(client.store, Identity(email=email))


async def started_run(
    client: httpx.AsyncClient, auth: dict[str, str], receiver: AgentReceiver, **extra: Any
) -> dict[str, Any]:
    body = {
        "external_id": "job-1",
        "title": "Refunds",
        "owner": {"email": "alice@example.com", "name": "Alice"},
        "webhook_url": receiver.url,
        **extra,
    }
    run = (await client.post("/v1/runs", json=body, headers=auth)).json()
    await client.post(f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth)
    result: dict[str, Any] = run
    return result


def verified(agent: MintedToken, delivery: Any) -> dict[str, Any]:
    """What a real agent does: verify with the Standard Webhooks library, then parse."""
    message: dict[str, Any] = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)
    return message


async def test_approval_decision_reaches_the_agent_signed_with_its_state(
    app_client: BotClient, auth: dict[str, str], agent: MintedToken, receiver: AgentReceiver
) -> None:
    run = await started_run(app_client, auth, receiver)
    approval = (
        await app_client.post(
            f"/v1/runs/{run['id']}/approvals",
            json={"request_id": "r1", "title": "Refund 40 EUR?", "state": {"cursor": [1, 2]}},
            headers=auth,
        )
    ).json()
    alice = await person(app_client, "alice@example.com")
    decision = await ops(app_client).approvals.approve(
        approval["id"], person=alice, via=Via.CLI, comment="fine"
    )

    assert decision.command is not None
    [delivery] = await receiver.wait_for(1)
    message = verified(agent, delivery)
    command = message["command"]
    assert message["type"] == "command" and delivery.headers["webhook-id"] == decision.command.id
    assert command["kind"] == "approve" and command["approval_id"] == approval["id"]
    assert command["state"] == {"cursor": [1, 2]} and command["reason"] == "fine"
    assert command["actor"] == {"id": alice.id, "name": "Alice", "via": "cli"}
    assert command["run_id"] == run["id"] and command["external_id"] == "job-1"

    seen = (await app_client.get(f"/v1/approvals/{approval['id']}", headers=auth)).json()
    assert (
        seen["status"] == "approved"
        and seen["decided_by"] == alice.id
        and seen["comment"] == "fine"
    )
    audit = [
        e["action"]
        for e in (await app_client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()
    ]
    assert audit[-2:] == ["approval.approved", "command.issued"]
    await _until_status(app_client, auth, run["id"], decision.command.id, "delivered")


async def _until_status(
    client: httpx.AsyncClient, auth: dict[str, str], run_id: str, command_id: str, status: str
) -> None:
    async def reached() -> bool:
        commands = (await client.get(f"/v1/runs/{run_id}/commands", headers=auth)).json()
        return any(c["id"] == command_id and c["status"] == status for c in commands)

    await eventually(reached)


async def test_second_click_is_told_who_decided_first(
    app_client: BotClient, auth: dict[str, str], receiver: AgentReceiver
) -> None:
    run = await started_run(app_client, auth, receiver)
    approval = (
        await app_client.post(
            f"/v1/runs/{run['id']}/approvals",
            json={"request_id": "r1", "title": "Ship?", "approvers": ["bob@example.com"]},
            headers=auth,
        )
    ).json()
    await app_client.post(
        "/v1/runs",
        json={
            "external_id": "b",
            "title": "t",
            "owner": {"email": "bob@example.com", "name": "Bob"},
        },
        headers=auth,
    )
    alice, bob = (
        await person(app_client, "alice@example.com"),
        await person(app_client, "bob@example.com"),
    )
    results = await asyncio.gather(
        ops(app_client).approvals.approve(approval["id"], person=alice, via=Via.SLACK),
        ops(app_client).approvals.reject(approval["id"], person=bob, via=Via.TEAMS),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    [loser] = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and isinstance(loser, Conflict)
    assert "already" in loser.message and ("by Alice" in loser.message or "by Bob" in loser.message)
    await receiver.wait_for(1)
    commands = (await app_client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json()
    assert len(commands) == 1
    refusals = [
        e
        for e in (await app_client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()
        if e["action"] == "action.refused"
    ]
    assert len(refusals) == 1 and refusals[0]["detail"]["refusal"] == "Conflict"


async def test_stranger_is_refused_and_the_refusal_audited(
    app_client: BotClient, auth: dict[str, str], receiver: AgentReceiver
) -> None:
    run = await started_run(app_client, auth, receiver)
    await app_client.post(
        "/v1/runs",
        json={
            "external_id": "m",
            "title": "t",
            "owner": {"email": "mallory@example.com", "name": "Mallory"},
        },
        headers=auth,
    )
    mallory = await person(app_client, "mallory@example.com")
    with pytest.raises(NotAuthorized, match="Mallory may not cancel"):
        await ops(app_client).commands.cancel(
            run["id"], person=mallory, via=Via.SLACK, reason="because"
        )
    audit = (await app_client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()
    assert audit[-1]["action"] == "action.refused" and audit[-1]["actor"]["name"] == "Mallory"
    assert (await app_client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json() == []


async def test_commands_the_status_does_not_allow_change_nothing(
    app_client: BotClient, auth: dict[str, str], receiver: AgentReceiver
) -> None:
    run = await started_run(app_client, auth, receiver)
    alice = await person(app_client, "alice@example.com")
    with pytest.raises(InvalidTransition, match="running"):
        await ops(app_client).commands.resume(run["id"], person=alice, via=Via.CLI)
    await app_client.post(
        f"/v1/runs/{run['id']}/status", json={"status": "succeeded"}, headers=auth
    )
    with pytest.raises(InvalidTransition, match="succeeded"):
        await ops(app_client).commands.retry(run["id"], person=alice, via=Via.CLI)
    assert (await app_client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json() == []


async def test_double_click_sends_one_command(
    app_client: BotClient,
    auth: dict[str, str],
    receiver: AgentReceiver,
    clock: MovableClock,
) -> None:
    run = await started_run(app_client, auth, receiver)
    alice = await person(app_client, "alice@example.com")
    first, second = await asyncio.gather(
        ops(app_client).commands.pause(run["id"], person=alice, via=Via.SLACK),
        ops(app_client).commands.pause(run["id"], person=alice, via=Via.SLACK),
    )
    assert (
        first.command.id == second.command.id and [first.created, second.created].count(True) == 1
    )
    await receiver.wait_for(1)
    # Once the agent acted (it paused, then resumed), pausing again is a new command.
    clock.advance(seconds=1)
    await app_client.post(f"/v1/runs/{run['id']}/status", json={"status": "paused"}, headers=auth)
    await app_client.post(f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth)
    third = await ops(app_client).commands.pause(run["id"], person=alice, via=Via.SLACK)
    assert third.created and third.command.id != first.command.id


async def test_retry_warns_before_replaying_unsafe_side_effects(
    app_client: BotClient, auth: dict[str, str], agent: MintedToken, receiver: AgentReceiver
) -> None:
    run = await started_run(app_client, auth, receiver)
    for cid, effects in [
        ("fetch", []),
        ("charge", [{"key": "charge:9", "idempotent": False, "description": "charged 40 EUR"}]),
        ("mail", [{"key": "mail:9", "idempotent": True}]),
    ]:
        await app_client.post(
            f"/v1/runs/{run['id']}/checkpoints",
            json={"checkpoint_id": cid, "step": cid, "side_effects": effects},
            headers=auth,
        )
    await app_client.post(
        f"/v1/runs/{run['id']}/status",
        json={"status": "failed", "error": "smtp down"},
        headers=auth,
    )
    alice = await person(app_client, "alice@example.com")
    with pytest.raises(ConfirmationRequired, match="charge:9 \\(charged 40 EUR\\)"):
        await ops(app_client).commands.retry(
            run["id"], person=alice, via=Via.CLI, from_checkpoint_id="fetch"
        )
    assert (await app_client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json() == []
    # From after the charge nothing unsafe repeats; from before it, only with a yes.
    safe = await ops(app_client).commands.retry(
        run["id"], person=alice, via=Via.CLI, from_checkpoint_id="charge"
    )
    risky = await ops(app_client).commands.retry(
        run["id"], person=alice, via=Via.CLI, from_checkpoint_id="fetch", confirm_replay=True
    )
    deliveries = await receiver.wait_for(2)
    by_id = {d.headers["webhook-id"]: verified(agent, d)["command"] for d in deliveries}
    assert by_id[safe.command.id]["from_checkpoint_id"] == "charge"
    assert by_id[safe.command.id]["skip_side_effects"] == ["mail:9"]
    assert by_id[risky.command.id]["skip_side_effects"] == ["charge:9", "mail:9"]


async def test_resuming_a_stale_run_needs_confirmation(
    app_client: BotClient,
    auth: dict[str, str],
    receiver: AgentReceiver,
    clock: MovableClock,
) -> None:
    run = await started_run(app_client, auth, receiver, policy={"stale_after_s": 3600})
    await app_client.post(f"/v1/runs/{run['id']}/status", json={"status": "paused"}, headers=auth)
    alice = await person(app_client, "alice@example.com")
    clock.advance(hours=2)
    with pytest.raises(ConfirmationRequired, match="has been paused since"):
        await ops(app_client).commands.resume(run["id"], person=alice, via=Via.CLI)
    decision = await ops(app_client).commands.resume(
        run["id"], person=alice, via=Via.CLI, confirm_stale=True
    )
    assert decision.command.kind.value == "resume"


async def test_failed_deliveries_retry_on_schedule_honouring_retry_after(
    app_client: BotClient,
    auth: dict[str, str],
    agent: MintedToken,
    receiver: AgentReceiver,
    clock: MovableClock,
) -> None:
    run = await started_run(app_client, auth, receiver)
    receiver.script = [(503, {"Retry-After": "120"}), (302, {"Location": "http://elsewhere/"})]
    alice = await person(app_client, "alice@example.com")
    decision = await ops(app_client).commands.cancel(
        run["id"], person=alice, via=Via.CLI, reason="wrong data"
    )
    deliverer = app_client.deliverer
    await receiver.wait_for(1)
    await _until_attempts(app_client, auth, run["id"], 1)
    clock.advance(seconds=100)  # the schedule says 5 s, the agent asked for 120: not yet
    assert await deliverer.deliver_due() == 0
    clock.advance(seconds=30)
    await deliverer.deliver_due()  # a redirect is a failure, not a success
    clock.advance(seconds=400)
    await deliverer.deliver_due()
    deliveries = await receiver.wait_for(3)
    assert {d.headers["webhook-id"] for d in deliveries} == {decision.command.id}
    assert len({d.body for d in deliveries}) == 1  # the same message every time
    for d in deliveries:
        verified(agent, d)
    await _until_status(app_client, auth, run["id"], decision.command.id, "delivered")


async def _until_attempts(
    client: httpx.AsyncClient, auth: dict[str, str], run_id: str, attempts: int
) -> None:
    async def reached() -> bool:
        commands = (await client.get(f"/v1/runs/{run_id}/commands", headers=auth)).json()
        return bool(commands[0]["attempts"] >= attempts)

    await eventually(reached)


async def test_gone_stops_delivery_and_flags_the_run_undelivered(
    app_client: BotClient, auth: dict[str, str], receiver: AgentReceiver
) -> None:
    run = await started_run(app_client, auth, receiver)
    receiver.script = [(410, {})]
    alice = await person(app_client, "alice@example.com")
    decision = await ops(app_client).commands.pause(run["id"], person=alice, via=Via.CLI)
    await receiver.wait_for(1)
    await _until_status(app_client, auth, run["id"], decision.command.id, "undelivered")
    stored = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert stored["health"] == ["undelivered"]
    audit = (await app_client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()
    assert audit[-1]["action"] == "command.undelivered" and "410" in audit[-1]["reason"]
    # Fixed on the agent's side: redelivery clears the flag once it arrives.
    await ops(app_client).commands.redeliver(decision.command.id, person=alice, via=Via.CLI)
    await receiver.wait_for(2)
    await _until_status(app_client, auth, run["id"], decision.command.id, "delivered")
    assert (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()["health"] == []


async def test_exhausted_schedule_marks_undelivered(
    app_client: BotClient,
    auth: dict[str, str],
    receiver: AgentReceiver,
    clock: MovableClock,
) -> None:
    run = await started_run(app_client, auth, receiver)
    schedule = app_client.settings.webhook_retry_s
    receiver.script = [(500, {})] * len(schedule)
    alice = await person(app_client, "alice@example.com")
    decision = await ops(app_client).commands.cancel(run["id"], person=alice, via=Via.CLI)
    deliverer = app_client.deliverer
    await receiver.wait_for(1)
    await _until_attempts(app_client, auth, run["id"], 1)
    for attempt in range(2, len(schedule) + 1):
        clock.advance(seconds=schedule[attempt - 1] * 1.25)
        await deliverer.deliver_due()
        await receiver.wait_for(attempt)
    await _until_status(app_client, auth, run["id"], decision.command.id, "undelivered")
    command = (await app_client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json()[0]
    assert command["attempts"] == len(schedule) and command["last_error"] == "HTTP 500"


async def test_polling_agent_gets_and_acks_its_commands(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    body = {"external_id": "poller", "title": "No webhook", "owner": {"email": "alice@example.com"}}
    run = (await app_client.post("/v1/runs", json=body, headers=auth)).json()
    alice = await person(app_client, "alice@example.com")
    decision = await ops(app_client).commands.pause(run["id"], person=alice, via=Via.CLI)
    pending = (
        await app_client.get(f"/v1/runs/{run['id']}/commands?status=pending", headers=auth)
    ).json()
    assert [c["id"] for c in pending] == [decision.command.id]
    assert pending[0]["payload"]["command"]["kind"] == "pause"
    acked = await app_client.post(
        f"/v1/commands/{decision.command.id}/ack", json={"result": "done"}, headers=auth
    )
    assert acked.status_code == 200 and acked.json()["status"] == CommandStatus.ACKED.value
    again = await app_client.post(
        f"/v1/commands/{decision.command.id}/ack", json={"result": "done"}, headers=auth
    )
    assert again.status_code == 200
    assert (
        await app_client.post(
            f"/v1/commands/{decision.command.id}/ack", json={"result": "failed"}, headers=auth
        )
    ).status_code == 409
    assert (
        await app_client.get(f"/v1/runs/{run['id']}/commands?status=pending", headers=auth)
    ).json() == []
    detail = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert detail["pending_commands"] == []
    assert json.dumps(detail)  # the whole answer is plain JSON


async def test_an_agent_that_never_answers_does_not_hold_up_the_others(
    app_client: BotClient, auth: dict[str, str], receiver: AgentReceiver
) -> None:
    async with agent_receiver() as slow:
        slow.hang = asyncio.Event()  # takes the request, never answers (until the timeout)
        stuck = await started_run(app_client, auth, slow)
        body = {
            "external_id": "job-2",
            "title": "Other",
            "owner": {"email": "alice@example.com"},
            "webhook_url": receiver.url,
        }
        other = (await app_client.post("/v1/runs", json=body, headers=auth)).json()
        alice = await person(app_client, "alice@example.com")
        await ops(app_client).commands.cancel(stuck["id"], person=alice, via=Via.CLI)
        await slow.wait_for(1)
        decision = await ops(app_client).commands.cancel(other["id"], person=alice, via=Via.CLI)
        [delivery] = await receiver.wait_for(1)
        assert delivery.headers["webhook-id"] == decision.command.id
        slow.hang.set()


async def test_a_webhook_name_that_resolves_into_a_denied_network_is_never_called(
    db_url: str, clock: MovableClock, receiver: AgentReceiver
) -> None:
    """OPSLAYER_WEBHOOK_DENY=private: `localhost` passes registration (a name), but its address
    is checked when the connection is made, and the delivery fails saying why."""
    from opslayer.adapters.settings import Settings
    from opslayer.bot.people.tokens import mint_token

    settings = Settings(database_url=db_url, webhook_deny=["default", "private"])
    async with running(settings, clock) as client:
        agent = await mint_token(client.store, "billing-bot")
        auth = {"Authorization": f"Bearer {agent.token}"}
        literal = await client.post(
            "/v1/runs",
            json={
                "external_id": "x",
                "title": "t",
                "owner": {"email": "a@example.com"},
                "webhook_url": receiver.url,
            },  # 127.0.0.1: refused at once
            headers=auth,
        )
        assert literal.status_code == 422
        named = receiver.url.replace("127.0.0.1", "localhost")
        run = await started_run(client, auth, receiver, webhook_url=named)
        decision = await ops(client).commands.pause(
            run["id"], person=await person(client, "alice@example.com"), via=Via.CLI
        )

        async def tried() -> list[dict[str, Any]]:
            url = f"/v1/runs/{run['id']}/commands"
            commands: list[dict[str, Any]] = (await client.get(url, headers=auth)).json()
            return [c for c in commands if c["id"] == decision.command.id and c["attempts"]]

        async def tried_once() -> bool:
            return bool(await tried())

        await eventually(tried_once)
        [command] = await tried()
        assert "OPSLAYER_WEBHOOK_DENY" in command["last_error"]
    assert receiver.received == []


async def test_a_rotated_secret_signs_beside_the_old_one_until_the_grace_ends(
    app_client: BotClient,
    auth: dict[str, str],
    agent: MintedToken,
    receiver: AgentReceiver,
    clock: MovableClock,
) -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    from opslayer.bot.people.tokens import mint_token

    with pytest.raises(Conflict, match="token rotate"):
        await mint_token(app_client.store, "billing-bot")  # no silent rotation
    rotated = await mint_token(
        app_client.store, "billing-bot", rotate=True, grace_s=3600, clock=clock
    )
    run = await started_run(app_client, auth, receiver)  # the old token still works
    alice = await person(app_client, "alice@example.com")
    await ops(app_client).commands.pause(run["id"], person=alice, via=Via.CLI)
    [during] = await receiver.wait_for(1)
    assert len(during.headers["webhook-signature"].split()) == 2
    assert verified(agent, during)["command"]["kind"] == "pause"  # the agent not yet switched
    assert verified(rotated, during)["command"]["kind"] == "pause"  # nor the one that has

    clock.advance(minutes=61)
    await app_client.post(f"/v1/runs/{run['id']}/status", json={"status": "paused"}, headers=auth)
    await ops(app_client).commands.resume(run["id"], person=alice, via=Via.CLI)
    deliveries = await receiver.wait_for(2)
    after = deliveries[1]
    assert verified(rotated, after)["command"]["kind"] == "resume"
    with pytest.raises(WebhookVerificationError):
        verified(agent, after)  # the grace is over: only the new secret signs


@pytest.mark.parametrize("refusal", [401, 403])
async def test_a_webhook_that_refuses_our_signature_is_given_up_after_three_tries(
    app_client: BotClient,
    auth: dict[str, str],
    receiver: AgentReceiver,
    clock: MovableClock,
    refusal: int,
) -> None:
    """A 401/403 is configuration, not load: the owner hears of it after a few minutes, not
    after the day-long retry schedule; redelivered once fixed."""
    run = await started_run(app_client, auth, receiver)
    schedule = app_client.settings.webhook_retry_s
    assert len(schedule) > 3
    receiver.script = [(refusal, {})] * 3
    alice = await person(app_client, "alice@example.com")
    decision = await ops(app_client).commands.pause(run["id"], person=alice, via=Via.CLI)
    await receiver.wait_for(1)
    for attempt in (2, 3):
        await _until_attempts(app_client, auth, run["id"], attempt - 1)
        clock.advance(seconds=schedule[attempt - 1] * 1.25)
        await app_client.deliverer.deliver_due()
        await receiver.wait_for(attempt)
    await _until_status(app_client, auth, run["id"], decision.command.id, "undelivered")
    stored = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert "undelivered" in stored["health"]  # the owner's alert follows from this flag
    audit = (await app_client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()
    assert audit[-1]["action"] == "command.undelivered"
    assert f"HTTP {refusal}" in audit[-1]["reason"] and "token rotate" in audit[-1]["reason"]
    await ops(app_client).commands.redeliver(decision.command.id, person=alice, via=Via.CLI)
    await receiver.wait_for(4)
    await _until_status(app_client, auth, run["id"], decision.command.id, "delivered")
