"""Slack through the real Bolt code: requests signed as Slack signs them, a local fake Web API,
and the whole approval path from an agent's request to the updated message."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from opslayer.adapters.app import create_app
from opslayer.adapters.settings import Settings
from opslayer.adapters.slack.blocks import retry_modal
from opslayer.bot.audit import Via
from opslayer.bot.people.directory import add_person, find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken, mint_token
from tests.agent_receiver import AgentReceiver
from tests.fake_slack import FakeSlack
from tests.harness import BotClient
from tests.slack_support import (
    asks_approval,
    assert_valid_blocks,
    buttons,
    click,
    opened,
    signed,
    slash,
    submit,
)
from tests.support import MovableClock


async def test_approval_from_a_slack_button_reaches_the_agent_and_updates_the_message(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, receiver: AgentReceiver
) -> None:
    client, agent = bot
    body = {
        "external_id": "j1",
        "title": "Refunds",
        "owner": {"email": "alice@example.com"},
        "webhook_url": receiver.url,
    }
    approval = {"request_id": "r1", "title": "Refund 40 EUR?", "state": {"order": 7}}
    await asks_approval(client, agent, body, approval, running=True)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [message] = slack.api("chat.postMessage")
    assert message["channel"] == "C-PAY" and "<@UALICE>" in json.dumps(message["blocks"])
    assert_valid_blocks(message["blocks"])
    approve = buttons(message)["opslayer_approve"]

    started = time.perf_counter()
    answer = await client.post(
        "/slack/events", content=(form := click(slack, "UALICE", approve)), headers=signed(form)
    )
    assert answer.status_code == 200 and time.perf_counter() - started < 3  # acked in time
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "approve" and command["state"] == {"order": 7}
    assert command["actor"]["via"] == "slack" and command["actor"]["name"] == "Alice"
    await slack.wait_for(lambda: slack.api("chat.update"))
    update = slack.api("chat.update")[-1]
    text = json.dumps(update["blocks"])
    assert "Approved by Alice" in text and "opslayer_approve" not in text  # buttons gone


async def test_clicks_from_strangers_and_on_decided_approvals_are_refused_ephemerally(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {"external_id": "j2", "title": "T", "owner": {"email": "alice@example.com"}}
    run = await asks_approval(client, agent, body)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    approve = buttons(slack.api("chat.postMessage")[0])["opslayer_approve"]
    form = click(slack, "UMALLORY", approve, n=1)
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    await slack.wait_for(lambda: slack.responses)
    assert (
        slack.responses[0]["response_type"] == "ephemeral"
        and "not linked to opslayer yet" in slack.responses[0]["text"]
    )
    trail = (await client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()
    assert trail[-1]["action"] == "action.refused" and trail[-1]["actor"]["id"] == "slack:UMALLORY"
    details = buttons(slack.api("chat.postMessage")[0])["opslayer_details"]
    form = click(slack, "UMALLORY", details, n=9)
    await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: len(slack.responses) >= 2)
    assert slack.api("views.open") == []  # no timeline for strangers
    slack.responses.pop()
    for n in (2, 3):  # Alice approves; her second click (or Slack's retry) changes nothing
        form = click(slack, "UALICE", approve, n=n)
        await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: len(slack.responses) >= 2)
    assert "no longer pending: already approved by Alice" in slack.responses[1]["text"]
    commands = (await client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json()
    assert len(commands) == 1


async def test_forged_or_stale_signatures_are_refused(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, _ = bot
    form = urlencode(slash(slack, "help"))
    assert (
        await client.post("/slack/events", content=form, headers=signed(form, secret="wrong"))
    ).status_code == 401
    assert (
        await client.post("/slack/events", content=form, headers=signed(form, age_s=600))
    ).status_code == 401
    assert slack.responses == []


async def test_agent_command_answers_ephemerally(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    run = (
        await client.post(
            "/v1/runs",
            json={
                "external_id": "j3",
                "title": "Nightly sync",
                "owner": {"email": "alice@example.com"},
            },
            headers=auth,
        )
    ).json()
    for n, text in enumerate(["help", "status", f"status {run['id']}", "frobnicate"], start=1):
        form = urlencode(slash(slack, text, n=n))
        assert (
            await client.post("/slack/events", content=form, headers=signed(form))
        ).status_code == 200
    await slack.wait_for(lambda: len(slack.responses) >= 4)
    by_text = [r["text"] for r in slack.responses]
    assert any("/agent status RUN" in t for t in by_text)  # help, and the answer to an unknown word
    assert any("Nightly sync" in t and run["id"] in t for t in by_text)
    assert all(r["response_type"] == "ephemeral" for r in slack.responses)


async def test_manifest_and_handlers_agree(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    """Every slash command the manifest declares is answered; one it does not declare is not."""
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load(
        (Path(__file__).parents[2] / "manifests/slack/manifest.yaml").read_text()
    )
    declared = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert declared and manifest["settings"]["interactivity"]["is_enabled"] is True
    client, _ = bot
    for n, command in enumerate([*declared, "/undeclared"], start=1):
        form = urlencode(slash(slack, "help", n=n, command=command))
        answer = await client.post("/slack/events", content=form, headers=signed(form))
        assert answer.status_code == (404 if command == "/undeclared" else 200), command
    await slack.wait_for(lambda: len(slack.responses) >= len(declared))


async def test_owner_known_by_email_is_found_and_messaged_directly(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    slack.users["bob@example.com"] = "UBOB"
    await asks_approval(
        client,
        agent,
        {"external_id": "j9", "title": "Bob's", "owner": {"email": "bob@example.com"}},
    )
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [message] = slack.api("chat.postMessage")
    assert message["channel"] == "UBOB" and "<@UBOB>" in json.dumps(message["blocks"])
    assert len(slack.api("users.lookupByEmail")) == 1


async def test_modals_reject_with_a_reason_and_retry_with_a_yes(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, receiver: AgentReceiver
) -> None:
    from slack_sdk.models.views import View

    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {
        "external_id": "m1",
        "title": "Payouts",
        "owner": {"email": "alice@example.com"},
        "webhook_url": receiver.url,
    }
    run = (await client.post("/v1/runs", json=body, headers=auth)).json()
    await client.post(f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth)
    effect = [{"key": "payout:1", "idempotent": False, "description": "paid 10 EUR"}]
    await client.post(
        f"/v1/runs/{run['id']}/checkpoints",
        json={"checkpoint_id": "c1", "step": "pay", "side_effects": []},
        headers=auth,
    )
    await client.post(
        f"/v1/runs/{run['id']}/checkpoints",
        json={"checkpoint_id": "c2", "step": "paid", "side_effects": effect},
        headers=auth,
    )
    await client.post(
        f"/v1/runs/{run['id']}/approvals",
        json={"request_id": "r", "title": "Pay more?"},
        headers=auth,
    )
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    reject = buttons(slack.api("chat.postMessage")[0])["opslayer_reject"]
    form = click(slack, "UALICE", reject)
    await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: slack.api("views.open"))
    [modal] = opened(slack)
    View(**modal).validate_json()
    facts = json.dumps(slack.api("chat.postMessage")[0]["blocks"], ensure_ascii=False)
    assert "c2 · paid" in facts and "payout:1" in facts  # what an operator decides on
    form = submit("UALICE", modal, {"reason": {"type": "plain_text_input", "value": "too much"}})
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "reject" and command["reason"] == "too much"

    await client.post(
        f"/v1/runs/{run['id']}/status",
        json={"status": "failed", "error": "bank down"},
        headers=auth,
    )
    retry_view = retry_modal(
        run["id"], [{"checkpoint_id": "c1", "step": "pay"}, {"checkpoint_id": "c2", "step": "paid"}]
    )
    View(**retry_view).validate_json()
    chosen: dict[str, dict[str, Any]] = {
        "checkpoint": {"type": "static_select", "selected_option": {"value": "c1"}},
        "confirm": {"type": "checkboxes", "selected_options": []},
    }
    form = submit("UALICE", retry_view, chosen)
    refused = await client.post("/slack/events", content=form, headers=signed(form))
    assert (
        refused.json()["response_action"] == "errors"
        and "payout:1" in refused.json()["errors"]["confirm"]
    )
    chosen["confirm"]["selected_options"] = [{"value": "yes"}]
    form = submit("UALICE", retry_view, chosen)
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    deliveries = await receiver.wait_for(2)
    command = Webhook(agent.webhook_secret).verify(deliveries[1].body, deliveries[1].headers)[
        "command"
    ]
    assert command["kind"] == "retry" and command["from_checkpoint_id"] == "c1"
    assert command["skip_side_effects"] == ["payout:1"]


async def test_reassign_modal_offers_the_run_and_details_shows_the_timeline(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    from opslayer.bot.people.directory import add_person

    client, agent = bot
    await add_person(
        client.store, identity=Identity(email="bob@example.com", name="Bob", slack_user_id="UBOB")
    )
    body = {"external_id": "m2", "title": "Sync", "owner": {"email": "alice@example.com"}}
    await asks_approval(client, agent, body, {"request_id": "r", "title": "Go?"})
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    message_buttons = buttons(slack.api("chat.postMessage")[0])
    for n, verb in enumerate(["opslayer_reassign", "opslayer_details"], start=1):
        form = click(slack, "UALICE", message_buttons[verb], n=n)
        await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: len(slack.api("views.open")) >= 2)
    views = [
        v["view"] if isinstance(v["view"], dict) else json.loads(v["view"])
        for v in slack.api("views.open")
    ]
    reassign = next(v for v in views if v["callback_id"] == "opslayer_reassign")
    details = next(v for v in views if v["callback_id"] == "opslayer_details")
    assert "approval.requested" in json.dumps(details["blocks"])
    form = submit(
        "UALICE",
        reassign,
        {
            "user": {"type": "users_select", "selected_user": "UBOB"},
            "reason": {"type": "plain_text_input", "value": "holiday"},
        },
    )
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    await slack.wait_for(
        lambda: any(b.get("channel") == "UBOB" for b in slack.api("chat.postMessage"))
    )
    offer = next(b for b in slack.api("chat.postMessage") if b.get("channel") == "UBOB")
    assert "opslayer_accept" in json.dumps(offer["blocks"])


async def test_status_here_is_shared_and_digests_fit_block_kit(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    from opslayer.adapters.slack.blocks import MAX_BLOCKS, digest_blocks
    from opslayer.bot.views.digest import digest_view
    from opslayer.bot.views.model import DigestLineView

    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    run = (
        await client.post(
            "/v1/runs",
            json={"external_id": "h1", "title": "Shared", "owner": {"email": "alice@example.com"}},
            headers=auth,
        )
    ).json()
    form = urlencode(slash(slack, f"status {run['id']} here"))
    await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: slack.responses)
    assert (
        slack.responses[0]["response_type"] == "in_channel"
        and "Shared" in slack.responses[0]["text"]
    )

    def line(i: int) -> DigestLineView:
        return {
            "run_id": f"run_{i}",
            "title": f"run {i}",
            "status": "running",
            "health": ["stuck"],
            "since": "3 h",
        }

    owners = {f"Owner {i}": [line(i)] for i in range(80)}
    blocks = digest_blocks(digest_view("payments", "2026-11-26", {"stuck": owners}))
    assert len(blocks) == MAX_BLOCKS and "/agent status all" in json.dumps(blocks[-1])
    assert_valid_blocks(blocks)


async def test_subscribe_binds_a_slack_channel_to_the_asker(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, _ = bot
    form = urlencode(slash(slack, "subscribe", channel="C-ALICE"))
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    await slack.wait_for(lambda: slack.responses)
    assert "Alice's alerts now come to this channel" in slack.responses[0]["text"]
    store = client.store
    alice = await find_person(store, Identity(slack_user_id="UALICE"))
    assert alice.slack_channel == "C-ALICE"


async def test_socket_mode_takes_commands_and_clicks_over_the_websocket(
    db_url: str, slack: FakeSlack, receiver: AgentReceiver, clock: MovableClock
) -> None:
    """No public URL: the bot dials Slack (here, the fake) and gets the same events there."""
    settings = Settings(
        database_url=db_url,
        slack_bot_token="xoxb-test",
        slack_app_token="xapp-test",
        slack_api_url=f"{slack.url}/api/",
        run_cache_ttl_s=0,
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        store = app.state.core.store
        await add_person(
            store,
            identity=Identity(email="alice@example.com", name="Alice", slack_user_id="UALICE"),
        )
        agent = await mint_token(store, "billing-bot")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://opslayer.test"
        ) as client:
            assert (await client.post("/slack/events", content="{}")).status_code == 404
            body = {
                "external_id": "s1",
                "title": "Refunds",
                "webhook_url": receiver.url,
                "owner": {"email": "alice@example.com"},
            }
            await asks_approval(client, agent, body)
        # The bot asks Slack for a Socket Mode URL in the background, start-up never waits.
        await slack.wait_for(lambda: slack.api("apps.connections.open"))
        command = slash(slack, "help", channel="C1")
        await slack.envelope("slash_commands", command, "env-1")
        await slack.wait_for(lambda: any(a.get("envelope_id") == "env-1" for a in slack.acks))
        await slack.wait_for(lambda: slack.responses)
        assert "/agent status RUN" in slack.responses[0]["text"]

        await slack.wait_for(lambda: slack.api("chat.postMessage"))
        approve = buttons(slack.api("chat.postMessage")[0])["opslayer_approve"]
        clicked = json.loads(parse_qs(click(slack, "UALICE", approve, n=2))["payload"][0])
        await slack.envelope("interactive", clicked, "env-2")
        [delivery] = await receiver.wait_for(1)
        sent = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
        assert sent["kind"] == "approve" and sent["actor"]["via"] == "slack"
        assert any(a.get("envelope_id") == "env-2" for a in slack.acks)


async def test_a_deleted_message_is_not_updated_forever(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    body = {"external_id": "d1", "title": "Gone", "owner": {"email": "alice@example.com"}}
    await asks_approval(client, agent, body)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    app = client
    approval_id = buttons(slack.api("chat.postMessage")[0])["opslayer_approve"]["value"]
    alice = await find_person(app.store, Identity(slack_user_id="UALICE"))
    slack.fail["chat.update"] = "message_not_found"  # someone deleted the message
    await app.operations.approvals.approve(approval_id.partition("|")[2], person=alice, via=Via.CLI)
    await slack.wait_for(lambda: slack.api("chat.update"))
    await app.core.sync.sync()
    async with app.store.read() as uow:
        assert await uow.alerts.to_sync(limit=10) == []  # given up, not retried every round
    assert len(slack.api("chat.update")) == 1


async def test_a_channel_without_the_bot_is_not_posted_to_forever(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    client, agent = bot
    slack.fail["chat.postMessage"] = "not_in_channel"
    body = {"external_id": "n1", "title": "Nowhere", "owner": {"email": "alice@example.com"}}
    await asks_approval(client, agent, body)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    app = client
    await app.core.sync.sync()
    async with app.store.read() as uow:
        assert await uow.alerts.to_sync(limit=10) == []
    assert len(slack.api("chat.postMessage")) == 1
    assert any("/invite @opslayer" in r.message for r in caplog.records)


async def test_strangers_get_only_the_help_and_are_audited(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, _ = bot
    for n, text in enumerate(["status all", "help"], start=1):
        form = urlencode(slash(slack, text, user="USTRANGER", channel="C1", n=n))
        await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: len(slack.responses) >= 2)
    texts = sorted(r["text"] for r in slack.responses)
    assert any("not linked to opslayer yet" in t for t in texts)
    assert any("/agent status RUN" in t for t in texts)
    async with client.store.read() as uow:
        events = await uow.audit.listing()
    assert [(e.action, e.actor.name) for e in events] == [("action.refused", "USTRANGER")]


async def test_agent_text_cannot_ping_the_channel_or_disguise_links(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    title = "<!channel> urgent <https://evil.example|invoice>"
    body = {"external_id": "x1", "title": title, "owner": {"email": "alice@example.com"}}
    approval = {"request_id": "r", "title": "<@UALICE> & <!here>", "details": "<https://x|y>"}
    await asks_approval(client, agent, body, approval)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [message] = slack.api("chat.postMessage")
    shown = message["text"] + json.dumps(message["blocks"])
    assert "<!channel>" not in shown and "<!here>" not in shown and "<https://" not in shown
    assert "&lt;!channel&gt; urgent" in shown and "&amp;" in shown
    form = urlencode(slash(slack, "status all", channel="C1"))
    await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: slack.responses)
    assert "<!channel>" not in slack.responses[0]["text"]
