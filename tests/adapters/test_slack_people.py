"""Slack as people meet it: an owner known only by email clicks their own button (Slack vouches
for their email), strangers are told in plain words how to get linked, and the bot answers in a
direct message, when mentioned, and under the slash command's configured name."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from opslayer.bot.people.tokens import MintedToken
from tests.agent_receiver import AgentReceiver
from tests.fake_slack import FakeSlack
from tests.harness import BotClient
from tests.slack_support import (
    asks_approval,
    buttons,
    click,
    event,
    signed,
    signed_json,
    slash,
)


async def test_an_owner_known_only_by_email_acts_as_themselves_once_slack_confirms_it(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, receiver: AgentReceiver
) -> None:
    client, agent = bot
    slack.users["bob@example.com"] = "UBOB"  # Slack knows Bob by that (confirmed) email
    body = {
        "external_id": "b1",
        "title": "Bob's refund",
        "owner": {"email": "bob@example.com"},  # opslayer knows Bob by email only
        "webhook_url": receiver.url,
    }
    run = await asks_approval(client, agent, body, running=True)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    message = slack.api("chat.postMessage")[0]
    assert message["channel"] == "UBOB"  # found by email, messaged directly
    form = click(slack, "UBOB", buttons(message)["opslayer_approve"])
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    [delivery] = await receiver.wait_for(1)
    assert b'"kind":"approve"' in delivery.body
    async with client.store.read() as uow:
        events = await uow.audit.listing()
    linked = [e for e in events if e.action == "person.linked"]
    assert len(linked) == 1 and linked[0].detail["slack_user_id"] == "UBOB"
    trail = [e.action for e in await client.core.reads.audit_trail(run["id"])]
    assert "approval.approved" in trail


async def test_a_stranger_is_told_in_plain_words_how_to_get_linked(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    body = {"external_id": "s1", "title": "T", "owner": {"email": "alice@example.com"}}
    await asks_approval(client, agent, body)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    form = click(slack, "UNOBODY", buttons(slack.api("chat.postMessage")[0])["opslayer_approve"])
    await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: slack.responses)
    said = slack.responses[0]["text"]
    assert "You're not linked to opslayer yet" in said
    assert "opslayer people add --slack UNOBODY" in said and "may not" not in said


async def test_the_bot_answers_a_mention_in_its_thread_and_a_direct_message(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    body = {"external_id": "m1", "title": "Mine", "owner": {"email": "alice@example.com"}}
    await asks_approval(client, agent, body)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    mention = event("app_mention", "<@UBOT> status", thread_ts="1700000000.000001")
    answer = await client.post("/slack/events", content=mention, headers=signed_json(mention))
    assert answer.status_code == 200

    def posts(channel: str) -> list[dict[str, Any]]:
        return [m for m in slack.api("chat.postMessage") if m.get("channel") == channel]

    await slack.wait_for(lambda: len(posts("C-PAY")) >= 2)
    reply = posts("C-PAY")[-1]
    assert reply["thread_ts"] == "1700000000.000001" and "Mine" in reply["text"]
    direct = event("message", "mine", channel="D-ALICE", channel_type="im")
    await client.post("/slack/events", content=direct, headers=signed_json(direct))
    await slack.wait_for(lambda: posts("D-ALICE"))
    assert "Mine" in posts("D-ALICE")[0]["text"]
    # The bot's own messages (and edits) in a DM are not commands.
    own = event("message", "status", channel="D-ALICE", channel_type="im", bot_id="BBOT")
    await client.post("/slack/events", content=own, headers=signed_json(own))
    help_me = event("message", "help", channel="D-ALICE", channel_type="im")
    await client.post("/slack/events", content=help_me, headers=signed_json(help_me))
    await slack.wait_for(lambda: len(posts("D-ALICE")) >= 2)
    assert len(posts("D-ALICE")) == 2 and "`status`" in posts("D-ALICE")[1]["text"]


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    """The workspace has its own /agent: opslayer's command is /ops."""
    return {"slack_command": "/ops"}


async def test_the_slash_command_answers_to_its_configured_name(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, _ = bot
    form = urlencode(slash(slack, "help", command="/ops"))
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    await slack.wait_for(lambda: slack.responses)
    assert "/ops status" in slack.responses[0]["text"]
    other = urlencode(slash(slack, "help", command="/agent", n=2))
    assert (
        await client.post("/slack/events", content=other, headers=signed(other))
    ).status_code == 404


async def test_a_name_an_agent_claims_is_not_a_persons_name_until_slack_gives_one(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, receiver: AgentReceiver
) -> None:
    """Seen: an agent registered `{"email": "mallory@evil.example", "name": "Admin"}` and its
    owner's decisions read "by Admin"; `people list` had three "Admin"s."""
    client, agent = bot
    slack.users["mallory@evil.example"] = "UMAL"
    slack.names["UMAL"] = "Mallory Evans"
    body = {
        "external_id": "m1",
        "title": "Harmless",
        "owner": {"email": "mallory@evil.example", "name": "Admin"},
        "webhook_url": receiver.url,
    }
    run = await asks_approval(client, agent, body, running=True)
    assert run["owner"]["name"] == "mallory@evil.example"
    assert run["owner_claim"]["name"] == "Admin"  # kept as what it is: the agent's claim
    async with client.store.read() as uow:
        assert "Admin" not in [p.name for p in await uow.people.everyone()]
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    message = slack.api("chat.postMessage")[0]
    form = click(slack, "UMAL", buttons(message)["opslayer_approve"])
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    [delivery] = await receiver.wait_for(1)
    assert b'"name":"Mallory Evans"' in delivery.body  # the name Slack vouches for
    async with client.store.read() as uow:
        [linked] = [e for e in await uow.audit.listing() if e.action == "person.linked"]
    assert linked.detail["name"] == "Mallory Evans"
