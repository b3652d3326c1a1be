"""Teams conversations: where the bot may post, who it talks to, and what it says there:
commands, subscriptions, personal chats, reminders and digests, throttling, and forgetting."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from opslayer.adapters.settings import Settings
from opslayer.bot.people.directory import add_group, add_person, find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from opslayer.store.uow import SqlStore
from tests.adaptive_cards import assert_valid_cards
from tests.agent_receiver import AgentReceiver
from tests.bot_framework import (
    BOT_ID,
    new_key,
)
from tests.fake_connector import FakeConnector
from tests.harness import running
from tests.support import MovableClock
from tests.teams_support import (
    ALICE,
    BOB,
    CHANNEL,
    STRANGER,
    Teams,
    audit_rows,
    buttons,
    ids,
    run_waiting_for_approval,
)


async def test_agent_commands_in_a_channel_and_in_a_personal_chat(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, _ = await run_waiting_for_approval(bot, agent, receiver)
    said = len(await bot.replies(1))
    asked = [
        ("agent help", "agent status RUN"),
        ("agent status", "Refund batch"),
        (f"status {run['id']}", "waiting_approval"),
        ("waiting", run["id"]),
        ("stuck", "No runs here."),
        ("mine", "Refund batch"),
        (f"agent ack {run['id']}", "no open alert to acknowledge"),  # approvals are decided
        ("frobnicate", "agent status RUN"),  # an unknown word gets the help
    ]
    for n, (text, expected) in enumerate(asked, start=1):
        assert (await bot.send(bot.say(text))).status_code == 200
        answer = (await bot.replies(said + n))[-1]
        assert expected in answer, (text, answer)
    stranger = bot.activity(
        text="agent status",
        user=STRANGER,
        conversation="a:personal-stranger",
        conversation_type="personal",
    )
    await bot.send(stranger)
    refused = (await bot.replies(said + len(asked) + 1))[-1]
    assert "not linked to opslayer yet" in refused
    assert any(
        e.actor.name == STRANGER for e in await audit_rows(bot) if e.action == "action.refused"
    )


async def test_subscribe_binds_the_channel_and_alerts_follow(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    elsewhere = "19:bob-ops@thread.tacv2"
    said = len(await bot.replies(1))
    await bot.send(bot.say("agent subscribe", user=BOB, conversation=elsewhere))
    assert "Bob's alerts now come to this channel" in (await bot.replies(said + 1))[-1]
    await bot.send(bot.say("agent subscribe team payments", user=BOB, conversation=elsewhere))
    assert "may not bind group payments" in (await bot.replies(said + 2))[-1]  # not a member
    store = bot.client.store
    async with store.read() as uow:
        group = await uow.people.group("payments")
    assert group is not None and group.teams_channel == CHANNEL  # unchanged
    actions = [e.action for e in await audit_rows(bot)]
    assert "channel.subscribed" in actions and "action.refused" in actions

    # Bob's run now alerts in his channel, not in a direct message.
    _, card = await run_waiting_for_approval(bot, agent, receiver, teams_user_id=BOB)
    [post] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    assert post.conversation == elsewhere
    assert_valid_cards([card])


async def test_direct_alerts_go_to_the_personal_chat_the_bot_was_given(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    store = bot.client.store
    await add_person(store, identity=Identity(name="Carol", teams_user_id="aad-carol"))
    personal = "a:1carol-personal"
    hello = bot.activity(
        text="hi", user="aad-carol", conversation=personal, conversation_type="personal"
    )
    await bot.send(hello)  # Carol talked to the bot once: it may write to her since
    _, card = await run_waiting_for_approval(bot, agent, receiver, teams_user_id="aad-carol")
    [post] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    assert post.conversation == personal
    assert_valid_cards([card])


async def test_the_bot_opens_a_personal_chat_with_an_owner_it_never_heard_from(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    bot, agent = teams
    store = bot.client.store
    await add_person(store, identity=Identity(name="Erin", teams_user_id="aad-erin"))
    await bot.replies(1)
    _, card = await run_waiting_for_approval(bot, agent, receiver, teams_user_id="aad-erin")
    [opened] = bot.connector.of("create")
    assert opened.body["members"] == [{"id": "aad-erin"}]
    assert opened.body["channelData"]["tenant"]["id"] == "tenant-1"
    [post] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    assert post.conversation.startswith("a:opened-")  # the card went into the new chat
    async with store.read() as uow:
        remembered = await uow.conversations.personal("teams", "aad-erin")
    assert remembered is not None and remembered.conversation_id == post.conversation

    # Someone without the app: Teams refuses, nothing is posted, the log says what to do.
    await add_person(store, identity=Identity(name="Fay", teams_user_id="aad-fay"))
    bot.connector.script = [(403, {})]
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {"external_id": "fay-1", "title": "Fay's", "owner": {"teams_user_id": "aad-fay"}}
    run = (await bot.client.post("/v1/runs", json=body, headers=auth)).json()
    await bot.client.post(
        f"/v1/runs/{run['id']}/approvals", json={"request_id": "r", "title": "OK?"}, headers=auth
    )
    app = bot.client
    await app.core.sync.sync()
    assert bot.connector.script == [] and len(bot.connector.of("post")) == 2  # greeting, Erin's
    assert any("installed" in r.message for r in caplog.records if r.name == "opslayer.teams")
    assert_valid_cards([card])


async def test_a_throttled_post_is_retried_after_retry_after(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    await bot.replies(1)
    bot.connector.script = [(429, {"Retry-After": "0"}), (429, {"Retry-After": "0"})]
    _, card = await run_waiting_for_approval(bot, agent, receiver)
    assert bot.connector.script == []  # both 429s were met, then the card went through
    assert "Refund batch" in json.dumps(card)


async def test_dev_mode_takes_unauthenticated_traffic_and_teams_is_off_without_it(
    db_url: str, connector: FakeConnector, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    for dev, expected in ((True, 200), (False, 404)):
        async with running(Settings(database_url=db_url, teams_dev=dev), clock) as client:
            bot = Teams(client, connector, new_key())
            answer = await client.post("/api/messages", json=bot.say("agent help"))
            assert answer.status_code == expected
    assert any("UNAUTHENTICATED" in r.message for r in caplog.records)


async def test_reminders_escalations_and_digests_reach_teams(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver, clock: MovableClock
) -> None:
    bot, agent = teams
    app = bot.client
    escalations = "19:payments-escalations@thread.tacv2"
    await bot.send(
        bot.activity(
            "conversationUpdate",
            conversation=escalations,
            membersAdded=[{"id": BOT_ID, "name": "opslayer"}],
        )
    )
    await add_group(
        app.store,
        name="risk",
        teams_channel=CHANNEL,
        teams_escalation_channel=escalations,
        all_clear=True,
    )
    await add_person(
        app.store, identity=Identity(name="Dora", teams_user_id="aad-dora"), group="risk"
    )
    await run_waiting_for_approval(bot, agent, receiver, teams_user_id="aad-dora")

    def posted_cards(conversation: str) -> list[dict[str, Any]]:
        return [
            c.body["attachments"][0]["content"]
            for c in bot.connector.of("post")
            if c.conversation == conversation and c.body.get("attachments")
        ]

    clock.advance(hours=1, minutes=1)
    await app.core.scanner.follow_ups()
    await app.core.sync.sync()
    # The reminder is a reply in the approval card's thread, with the card's buttons.
    [first] = [
        c
        for c in bot.connector.of("post")
        if c.conversation == CHANNEL and c.body.get("attachments")
    ]
    [reply] = bot.connector.of("reply")
    assert reply.conversation.startswith(CHANNEL) and reply.activity_id == first.answered_id
    reminder = reply.body["attachments"][0]["content"]
    assert "Reminder" in json.dumps(reminder) and "Refund 1,200 EUR?" in json.dumps(reminder)
    assert [b["verb"] for b in buttons(reminder)][:2] == ["approve", "reject"]

    clock.advance(hours=3)
    await app.core.scanner.follow_ups()
    await app.core.sync.sync()
    [escalated] = posted_cards(escalations)
    assert "Escalated" in json.dumps(escalated)

    assert await app.core.digests.queue(groups={"risk"}) == 1
    await app.core.sync.sync()
    digest = posted_cards(CHANNEL)[-1]
    text = json.dumps(digest)
    assert "waiting for approval" in text and "Dora" in text and "Refund batch" in text
    assert not digest.get("actions")
    # The reminder's buttons work like the first card's: Dora approves from it.
    approved = (await bot.send(bot.click(reminder, "approve", user="aad-dora"))).json()["value"]
    assert "approved by dora" in json.dumps(approved).lower()
    assert_valid_cards([reminder, escalated, digest, approved])


async def test_a_channel_that_removed_the_bot_is_forgotten(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    store = bot.client.store
    await bot.replies(1)
    # Teams answers 403 when the bot is no longer in the channel: the post is given up, not
    # retried every round, and the channel is forgotten.
    bot.connector.script = [(403, {})]
    await _run_waiting_for_approval_quietly(bot, agent, receiver)
    async with store.read() as uow:
        assert await uow.conversations.get("teams", CHANNEL) is None
        assert await uow.alerts.to_sync(limit=10) == []  # in step: nothing left to retry
    assert len(bot.connector.of("post")) == 1  # the greeting only

    # Removing the bot from a channel forgets it too.
    other = "19:other@thread.tacv2"
    await bot.send(
        bot.activity(
            "conversationUpdate",
            conversation=other,
            membersAdded=[{"id": BOT_ID, "name": "opslayer"}],
        )
    )
    await bot.send(
        bot.activity(
            "conversationUpdate",
            conversation=other,
            membersRemoved=[{"id": BOT_ID, "name": "opslayer"}],
        )
    )
    async with store.read() as uow:
        assert await uow.conversations.get("teams", other) is None
    # So does uninstalling the app from a personal chat.
    personal = "a:1uninstalled"
    await bot.send(
        bot.activity("message", text="hi", conversation=personal, conversation_type="personal")
    )
    async with store.read() as uow:
        assert await uow.conversations.personal("teams", ALICE) is not None
    await bot.send(
        bot.activity(
            "installationUpdate",
            action="remove",
            conversation=personal,
            conversation_type="personal",
        )
    )
    async with store.read() as uow:
        assert await uow.conversations.personal("teams", ALICE) is None


async def _run_waiting_for_approval_quietly(
    bot: Teams, agent: MintedToken, receiver: AgentReceiver
) -> None:
    """An approval request whose card Teams refuses; returns once the sync tried it."""
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {
        "external_id": f"q-{next(ids)}",
        "title": "Quiet",
        "owner": {"teams_user_id": ALICE},
        "webhook_url": receiver.url,
    }
    run = (await bot.client.post("/v1/runs", json=body, headers=auth)).json()
    await bot.client.post(
        f"/v1/runs/{run['id']}/approvals", json={"request_id": "r", "title": "OK?"}, headers=auth
    )
    await bot.client.core.sync.sync()
    assert bot.connector.script == []


async def test_a_deleted_card_is_not_updated_forever(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    _, card = await run_waiting_for_approval(bot, agent, receiver)
    bot.connector.script = [(404, {})]  # someone deleted the post
    answer = await bot.send(bot.click(card, "approve"))
    assert "approved" in json.dumps(answer.json()["value"]).lower()
    app = bot.client
    await app.core.sync.sync()
    assert bot.connector.script == [] and bot.connector.of("update") == []
    async with app.store.read() as uow:
        assert await uow.alerts.to_sync(limit=10) == []  # given up, not retried every round


async def test_someone_known_by_email_is_recognised_on_their_first_message(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    """An agent named the owner by email; Teams knows them by Entra object id. The Bot
    Connector's member record has both, so the first message links them (audited)."""
    bot, agent = teams
    store = bot.client.store
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {"external_id": "g1", "title": "Gus's run", "owner": {"email": "gus@example.com"}}
    await bot.client.post("/v1/runs", json=body, headers=auth)
    bot.connector.members["29:aad-gus"] = {
        "id": "29:aad-gus",
        "name": "Gus",
        "aadObjectId": "aad-gus",
        "email": "gus@example.com",
        "userPrincipalName": "gus@example.com",
    }
    said = len(await bot.replies(1))
    await bot.send(bot.say("agent mine", user="aad-gus"))
    assert "Gus's run" in (await bot.replies(said + 1))[-1]
    gus = await find_person(store, Identity(email="gus@example.com"))
    assert gus.teams_user_id == "aad-gus"
    assert gus.name == "Gus"  # Teams' name for them, not whatever the agent might have claimed
    assert [e.action for e in await audit_rows(bot)].count("person.linked") == 1

    # Someone whose address opslayer does not know stays a stranger; so does someone whose
    # tenant merely set a known address as their mail: only the verified UPN counts.
    await add_person(store, identity=Identity(email="ivy@example.com", name="Ivy"))
    bot.connector.members["29:aad-hal"] = {
        "id": "29:aad-hal",
        "aadObjectId": "aad-hal",
        "userPrincipalName": "hal@elsewhere.example",
    }
    bot.connector.members["29:aad-eve"] = {
        "id": "29:aad-eve",
        "aadObjectId": "aad-eve",
        "email": "ivy@example.com",
        "userPrincipalName": "eve@evil.example",
    }
    for n, who in enumerate(("aad-hal", "aad-eve"), start=2):
        await bot.send(bot.say("agent mine", user=who))
        assert "not linked to opslayer yet" in (await bot.replies(said + n))[-1]
    ivy = await find_person(store, Identity(email="ivy@example.com"))
    assert ivy.teams_user_id is None  # not taken over


async def test_strangers_may_read_nothing_but_the_help(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    """Anyone in a tenant that installed the app can write to the bot: only known people read."""
    bot, agent = teams
    run, _ = await run_waiting_for_approval(bot, agent, receiver)
    said = len(await bot.replies(1))
    for n, text in enumerate(["agent status all", "stuck", "waiting", f"status {run['id']}"], 1):
        await bot.send(bot.say(text, user=STRANGER))
        answer = (await bot.replies(said + n))[-1]
        assert "not linked to opslayer yet" in answer and "Refund" not in answer, (text, answer)
    await bot.send(bot.say("agent help", user=STRANGER))
    assert "agent status RUN" in (await bot.replies(said + 5))[-1]


async def test_conversations_keep_their_names_for_the_cli(
    teams: tuple[Teams, MintedToken], capsys: pytest.CaptureFixture[str]
) -> None:
    """`opslayer teams conversations` lists where the bot is, with the names Teams gave on
    install (a later message, which carries no names, keeps them)."""
    from opslayer.adapters.cli_directory import _teams_conversations

    bot, _ = teams
    alerts = "19:alerts@thread.tacv2"
    names = {
        "tenant": {"id": "tenant-1"},
        "team": {"id": "19:team", "name": "Payments"},
        "channel": {"id": alerts, "name": "Alerts"},
    }
    await bot.send(
        bot.activity(
            "conversationUpdate",
            conversation=alerts,
            channelData=names,
            membersAdded=[{"id": BOT_ID, "name": "opslayer"}],
        )
    )
    await bot.send(bot.say("agent help", conversation=alerts))
    store = bot.client.store
    assert isinstance(store, SqlStore)
    assert await _teams_conversations(argparse.Namespace(), store) == 0
    listed = capsys.readouterr().out
    assert alerts in listed and "Payments › Alerts" in listed and CHANNEL in listed
