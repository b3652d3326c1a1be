"""Teams through the real botbuilder code: Bot Framework tokens minted against a local signing
key (the real JWT validation runs), a local fake Bot Connector at the activity's serviceUrl,
and the whole approval path from an agent's request to the updated card."""

from __future__ import annotations

import argparse
import itertools
import json
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from adapters.app import create_app
from adapters.teams.auth import signing_keys
from bot.config import Settings
from bot.directory import add_group, add_person, find_person
from bot.domain.models import Identity
from bot.domain.status import Via
from bot.tokens import MintedToken, mint_token
from tests.adaptive_cards import assert_valid_cards
from tests.agent_receiver import AgentReceiver, agent_receiver
from tests.bot_framework import (
    APP_ID,
    BOT_ID,
    OUTBOUND_TOKEN,
    SigningKey,
    install,
    new_key,
    token,
)
from tests.fake_connector import FakeConnector, fake_connector
from tests.support import MovableClock

ALICE = "aad-alice-0001"  # Microsoft Entra object ids
BOB = "aad-bob-0002"
STRANGER = "aad-stranger-0003"
CHANNEL = "19:payments@thread.tacv2"
_ids = itertools.count(1)


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[AgentReceiver]:
    async with agent_receiver() as r:
        yield r


ENTRA_THREADS: list[int] = []  # the threads the outbound token was fetched on


def _entra(credentials: object) -> str:
    ENTRA_THREADS.append(threading.get_ident())
    return OUTBOUND_TOKEN


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """The key Bot Connector tokens are signed with here; Entra ID's outbound token, stood in."""
    signing = new_key()
    install(signing)
    ENTRA_THREADS.clear()
    monkeypatch.setattr("adapters.teams.auth.fetch_token", _entra)
    return signing


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    """A card's Action.Execute buttons, those under "More…" included."""
    found = []
    for action in card.get("actions", []):
        if action["type"] == "Action.ShowCard":
            found.extend(buttons(action["card"]))
        else:
            found.append(action)
    return found


class Teams:
    """The bot over HTTP, spoken to as the Bot Connector speaks to it."""

    def __init__(self, client: httpx.AsyncClient, connector: FakeConnector, key: SigningKey):
        self.client = client
        self.connector = connector
        self.key = key

    def activity(
        self,
        kind: str = "message",
        *,
        user: str = ALICE,
        conversation: str = CHANNEL,
        conversation_type: str = "channel",
        **fields: Any,
    ) -> dict[str, Any]:
        n = next(_ids)
        thread = f"{conversation};messageid={n}" if conversation_type == "channel" else conversation
        return {
            "type": kind,
            "id": f"in-{n}",
            "channelId": "msteams",
            "serviceUrl": f"{self.connector.url}/",
            "from": {"id": f"29:{user}", "name": user, "aadObjectId": user},
            "recipient": {"id": BOT_ID, "name": "opslayer"},
            "conversation": {
                "id": thread,
                "conversationType": conversation_type,
                "tenantId": "tenant-1",
            },
            "channelData": {"tenant": {"id": "tenant-1"}},
            **fields,
        }

    def say(self, text: str, **where: Any) -> dict[str, Any]:
        """A message @mentioning the bot, as Teams sends it from a channel."""
        mention = {
            "type": "mention",
            "text": "<at>opslayer</at>",
            "mentioned": {"id": BOT_ID, "name": "opslayer"},
        }
        return self.activity(text=f"<at>opslayer</at> {text}", entities=[mention], **where)

    def click(
        self, card: dict[str, Any], verb: str, *, user: str = ALICE, **inputs: Any
    ) -> dict[str, Any]:
        """An Action.Execute of `card`, inputs merged into its data as Teams does."""
        [action] = [a for a in buttons(card) if a["verb"] == verb]
        value = {
            "action": {
                "type": "Action.Execute",
                "verb": verb,
                "data": {**action["data"], **inputs},
            },
            "trigger": "manual",
        }
        return self.activity("invoke", user=user, name="adaptiveCard/action", value=value)

    async def send(self, activity: dict[str, Any], **claims: Any) -> httpx.Response:
        bearer = token(self.key, service_url=activity["serviceUrl"], **claims)
        return await self.client.post(
            "/api/messages", json=activity, headers={"Authorization": f"Bearer {bearer}"}
        )

    def texts(self) -> list[str]:
        """What the bot said in words (answers and greetings), in order."""
        return [c.body["text"] for c in self.connector.calls if c.body.get("text")]

    async def replies(self, count: int) -> list[str]:
        await self.connector.wait_for(lambda: len(self.texts()) >= count)
        return self.texts()


@pytest.fixture
async def teams(
    db_url: str, connector: FakeConnector, key: SigningKey, clock: MovableClock
) -> AsyncIterator[tuple[Teams, MintedToken]]:
    """The bot with Teams on; Alice (payments) and Bob are known; the bot is in the channel."""
    settings = Settings(
        database_url=db_url,
        microsoft_app_id=APP_ID,
        microsoft_app_password="app-secret",
        run_cache_ttl_s=0,
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        store = app.state.store
        await add_group(store, name="payments", teams_channel=CHANNEL)
        await add_person(
            store,
            identity=Identity(email="alice@example.com", name="Alice", teams_user_id=ALICE),
            group="payments",
        )
        await add_person(
            store, identity=Identity(email="bob@example.com", name="Bob", teams_user_id=BOB)
        )
        minted = await mint_token(store, "billing-bot")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://opslayer.test"
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            bot = Teams(client, connector, key)
            installed = bot.activity(
                "conversationUpdate", membersAdded=[{"id": BOT_ID, "name": "opslayer"}]
            )
            assert (await bot.send(installed)).status_code == 200
            yield bot, minted


async def test_installing_the_bot_greets_and_remembers_the_channel(
    teams: tuple[Teams, MintedToken],
) -> None:
    bot, _ = teams
    [welcome] = await bot.replies(1)
    assert "agent subscribe" in welcome
    async with bot.client.app.state.store.read() as uow:  # type: ignore[attr-defined]
        place = await uow.conversations.get("teams", CHANNEL)
    assert place is not None and place.kind == "channel"
    assert place.reference["serviceUrl"] == f"{bot.connector.url}/"
    assert place.reference["conversation"]["id"] == CHANNEL  # the channel, not the thread
    assert place.reference["conversation"]["tenantID"] == "tenant-1"  # from channelData


def _forged(bot: Teams, activity: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """Every way a token can be wrong, each with the header it makes."""
    url = activity["serviceUrl"]
    stranger_key = new_key()
    impostor = SigningKey(kid=bot.key.kid, private=stranger_key.private)  # right kid, wrong key

    def bearer(value: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {value}"}

    return [
        ("no Authorization header", {}),
        ("not a JWT", bearer("not-a-token")),
        ("another bot's audience", bearer(token(bot.key, service_url=url, aud="someone-else"))),
        ("a foreign issuer", bearer(token(bot.key, service_url=url, iss="https://evil.example"))),
        ("a key Microsoft never published", bearer(token(stranger_key, service_url=url))),
        ("a forged signature", bearer(token(impostor, service_url=url))),
        ("another serviceUrl", bearer(token(bot.key, service_url="https://evil.example/"))),
        ("expired", bearer(token(bot.key, service_url=url, exp=1_600_000_000))),
        ("a Basic header", {"Authorization": "Basic YWxpY2U6c2VjcmV0"}),
    ]


async def test_every_authentication_failure_is_a_401_and_changes_nothing(
    teams: tuple[Teams, MintedToken],
) -> None:
    bot, _ = teams
    await bot.replies(1)
    before = len(bot.connector.calls)
    activity = bot.say("agent help")
    for why, headers in _forged(bot, activity):
        answer = await bot.client.post("/api/messages", json=activity, headers=headers)
        assert answer.status_code == 401, why
        assert "token" in answer.json()["message"], why
    assert len(bot.connector.calls) == before  # the bot said nothing to anyone
    assert (await bot.send(activity)).status_code == 200  # and the genuine one is answered
    assert "agent status" in (await bot.replies(2))[-1]


async def test_malformed_activities_are_400s(teams: tuple[Teams, MintedToken]) -> None:
    bot, _ = teams
    for body in (b"{", b"[]", b'{"text": "no type"}', b'"a string"'):
        answer = await bot.client.post(
            "/api/messages", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, body
        assert "activity" in answer.json()["message"]


async def _run_waiting_for_approval(
    bot: Teams, agent: MintedToken, receiver: AgentReceiver, **owner: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An agent registers a run owned by Alice and asks for approval; returns the run and the
    card the bot posted."""
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {
        "external_id": f"job-{next(_ids)}",
        "title": "Refund batch",
        "owner": owner or {"teams_user_id": ALICE},
        "webhook_url": receiver.url,
    }
    run = (await bot.client.post("/v1/runs", json=body, headers=auth)).json()
    await bot.client.post(f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth)
    asked = await bot.client.post(
        f"/v1/runs/{run['id']}/approvals",
        json={"request_id": "r1", "title": "Refund 1,200 EUR?", "details": "ticket 4411"},
        headers=auth,
    )
    assert asked.status_code == 201, asked.text
    await bot.connector.wait_for(lambda: bot.connector.cards())
    [posted] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    return run, posted.body["attachments"][0]["content"]


async def test_approve_from_the_card_reaches_the_agent_and_updates_the_card(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, card = await _run_waiting_for_approval(bot, agent, receiver)
    [post] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    assert post.conversation == CHANNEL  # a new thread in the group's channel
    assert post.authorization == f"Bearer {OUTBOUND_TOKEN}"  # the bot's own credentials
    text = json.dumps(card)
    assert "Refund 1,200 EUR?" in text and "ticket 4411" in text and "<at>Alice</at>" in text
    assert card["refresh"]["userIds"] == [ALICE]  # Teams asks for the current card when she looks
    refreshed = await bot.send(
        bot.activity(
            "invoke",
            name="adaptiveCard/action",
            value={"action": card["refresh"]["action"], "trigger": "automatic"},
        )
    )
    assert refreshed.json()["value"]["actions"] == card["actions"]  # nothing decided yet
    assert [a["title"] for a in card["actions"]][:2] == ["Approve", "Reject"]

    answer = await bot.send(bot.click(card, "approve"))
    assert answer.status_code == 200
    shown = answer.json()
    assert shown["statusCode"] == 200 and shown["type"] == "application/vnd.microsoft.card.adaptive"
    assert "approved" in json.dumps(shown["value"]).lower()
    assert not shown["value"].get("actions")  # decided: no more buttons

    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "approve" and command["run_id"] == run["id"]
    assert command["actor"]["via"] == "teams" and command["actor"]["name"] == "Alice"

    # Everyone in the channel sees the decision: the posted card is replaced in place.
    await bot.connector.wait_for(lambda: bot.connector.of("update"))
    update = bot.connector.of("update")[-1]
    assert update.activity_id == post.answered_id  # the very post, replaced
    assert update.conversation == CHANNEL
    assert not update.body["attachments"][0]["content"].get("actions")
    assert_valid_cards([*bot.connector.cards(), shown["value"]])


async def test_a_decision_made_elsewhere_updates_the_teams_card(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, card = await _run_waiting_for_approval(bot, agent, receiver)
    approval_id = card["actions"][0]["data"]["approval_id"]
    app = bot.client.app  # type: ignore[attr-defined]
    person = await find_person(app.state.store, Identity(teams_user_id=ALICE))
    await app.state.operations.reject(approval_id, person=person, via=Via.CLI, comment="no")
    await bot.connector.wait_for(lambda: bot.connector.of("update"))
    updated = bot.connector.of("update")[-1].body["attachments"][0]["content"]
    assert "rejected" in json.dumps(updated).lower() and not updated.get("actions")


async def _audit(bot: Teams, run_id: str | None = None) -> list[Any]:
    store = bot.client.app.state.store  # type: ignore[attr-defined]
    async with store.read() as uow:
        if run_id is not None:
            return list(await uow.audit.for_run(run_id))
    from sqlalchemy import select

    from store.tables import audit_events

    async with store.read() as uow:
        rows = await uow.db.execute(select(audit_events).order_by(audit_events.c.id))
        return list(rows)


async def test_clicks_without_the_right_say_why_and_change_nothing(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, card = await _run_waiting_for_approval(bot, agent, receiver)
    shown = []
    for who in (BOB, STRANGER):  # Bob is known but not the owner; the stranger is nobody
        answer = (await bot.send(bot.click(card, "approve", user=who))).json()
        assert answer["statusCode"] == 200
        text = json.dumps(answer["value"])
        assert "Nothing changed" in text and "may not" in text, text
        assert [a["verb"] for a in answer["value"]["actions"]][:2] == ["approve", "reject"]
        shown.append(answer["value"])
    refusals = [e for e in await _audit(bot) if e.action == "action.refused"]
    assert {e.actor_name for e in refusals} >= {"Bob", STRANGER}
    assert all(e.via == "teams" for e in refusals)

    first = (await bot.send(bot.click(card, "approve"))).json()["value"]
    again = (await bot.send(bot.click(card, "approve"))).json()["value"]  # an outdated card
    assert "Nothing changed" in json.dumps(again) and not again.get("actions")
    assert "out of date" in json.dumps(again)
    outdated = [e for e in await _audit(bot) if e.action == "action.refused"][-1]
    assert outdated.actor_name == "Alice" and outdated.detail["refusal"] == "outdated card"
    await receiver.wait_for(1)
    assert len(receiver.received) == 1  # the agent heard one decision, not two
    assert_valid_cards([*shown, first, again])


async def test_reject_asks_for_a_reason_and_sends_it(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    _, card = await _run_waiting_for_approval(bot, agent, receiver)
    form = (await bot.send(bot.click(card, "reject"))).json()["value"]
    [reason] = [e for e in form["body"] if e.get("id") == "reason"]
    assert reason["isRequired"] is True
    assert receiver.received == []  # opening the form decided nothing
    done = (await bot.send(bot.click(form, "reject", reason="over the limit"))).json()["value"]
    assert "rejected" in json.dumps(done).lower()
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "reject" and command["reason"] == "over the limit"
    back = (await bot.send(bot.click(form, "refresh"))).json()["value"]
    assert not back.get("actions")  # Back shows the card as it is now: decided
    assert_valid_cards([form, done, back])


async def test_retry_offers_checkpoints_and_the_replay_warning(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver, clock: MovableClock
) -> None:
    bot, agent = teams
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {
        "external_id": "r-1",
        "title": "Payouts",
        "owner": {"teams_user_id": ALICE},
        "webhook_url": receiver.url,
    }
    run = (await bot.client.post("/v1/runs", json=body, headers=auth)).json()
    await bot.client.post(f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth)
    effect = [{"key": "payout:1", "idempotent": False, "description": "paid 10 EUR"}]
    for cid, step, effects in (("c1", "fetch", []), ("c2", "pay", effect)):
        await bot.client.post(
            f"/v1/runs/{run['id']}/checkpoints",
            json={"checkpoint_id": cid, "step": step, "side_effects": effects},
            headers=auth,
        )
    await bot.client.post(f"/v1/runs/{run['id']}/heartbeat", json={}, headers=auth)
    clock.advance(hours=3)  # then silence: the run is stuck
    app = bot.client.app  # type: ignore[attr-defined]
    await app.state.service.flush_heartbeats()
    await app.state.watch.scan()
    await app.state.watch.sync()
    await bot.connector.wait_for(lambda: bot.connector.cards())
    card = bot.connector.cards()[-1]
    form = (await bot.send(bot.click(card, "retry"))).json()["value"]
    text = json.dumps(form, ensure_ascii=False)
    assert "c1 · fetch" in text and "c2 · pay" in text and "payout:1" in text
    refused = await bot.send(bot.click(form, "retry", checkpoint="c1", confirm_replay="no"))
    assert "Nothing changed" in json.dumps(refused.json()["value"])  # c2 paid: replay needs a yes
    assert receiver.received == []
    done = await bot.send(bot.click(form, "retry", checkpoint="c1", confirm_replay="yes"))
    assert "Retry sent" in json.dumps(done.json()["value"])
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "retry" and command["from_checkpoint_id"] == "c1"
    assert_valid_cards([card, form, refused.json()["value"], done.json()["value"]])


async def test_reassign_offers_known_people_and_details_show_the_timeline(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, card = await _run_waiting_for_approval(bot, agent, receiver)
    form = (await bot.send(bot.click(card, "reassign"))).json()["value"]
    [picker] = [e for e in form["body"] if e.get("id") == "new_owner"]
    assert {c["title"] for c in picker["choices"]} == {"Alice", "Bob"}
    done = await bot.send(bot.click(form, "reassign", new_owner=f"teams:{BOB}", reason="leave"))
    assert "Offered" in json.dumps(done.json()["value"])
    async with bot.client.app.state.store.read() as uow:  # type: ignore[attr-defined]
        offered = await uow.runs.get(run["id"])
    assert offered is not None and offered.pending_owner_id is not None
    # Bob is offered the run on Teams (a personal chat the bot opens) and accepts from the card.
    await bot.connector.wait_for(lambda: bot.connector.of("create"))
    await bot.connector.wait_for(
        lambda: any("handed over" in json.dumps(card) for card in bot.connector.cards())
    )
    [offer] = [card for card in bot.connector.cards() if "handed over" in json.dumps(card)]
    taken = (await bot.send(bot.click(offer, "accept", user=BOB))).json()["value"]
    assert "The run is yours now" in json.dumps(taken)
    async with bot.client.app.state.store.read() as uow:  # type: ignore[attr-defined]
        accepted = await uow.runs.get(run["id"])
    assert accepted is not None and accepted.owner.name == "Bob"
    details = (await bot.send(bot.click(card, "details"))).json()["value"]
    timeline = json.dumps(details)
    assert "approval.requested" in timeline and "Alice via teams" in timeline
    assert_valid_cards([form, done.json()["value"], details, offer, taken])


async def test_agent_commands_in_a_channel_and_in_a_personal_chat(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, _ = await _run_waiting_for_approval(bot, agent, receiver)
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
    assert "not a known person" in refused
    assert any(e.actor_name == STRANGER for e in await _audit(bot) if e.action == "action.refused")


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
    store = bot.client.app.state.store  # type: ignore[attr-defined]
    async with store.read() as uow:
        group = await uow.people.group("payments")
    assert group is not None and group.teams_channel == CHANNEL  # unchanged
    actions = [e.action for e in await _audit(bot)]
    assert "channel.subscribed" in actions and "action.refused" in actions

    # Bob's run now alerts in his channel, not in a direct message.
    _, card = await _run_waiting_for_approval(bot, agent, receiver, teams_user_id=BOB)
    [post] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    assert post.conversation == elsewhere
    assert_valid_cards([card])


async def test_direct_alerts_go_to_the_personal_chat_the_bot_was_given(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    store = bot.client.app.state.store  # type: ignore[attr-defined]
    await add_person(store, identity=Identity(name="Carol", teams_user_id="aad-carol"))
    personal = "a:1carol-personal"
    hello = bot.activity(
        text="hi", user="aad-carol", conversation=personal, conversation_type="personal"
    )
    await bot.send(hello)  # Carol talked to the bot once: it may write to her since
    _, card = await _run_waiting_for_approval(bot, agent, receiver, teams_user_id="aad-carol")
    [post] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    assert post.conversation == personal
    assert_valid_cards([card])


async def test_the_bot_opens_a_personal_chat_with_an_owner_it_never_heard_from(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    bot, agent = teams
    store = bot.client.app.state.store  # type: ignore[attr-defined]
    await add_person(store, identity=Identity(name="Erin", teams_user_id="aad-erin"))
    await bot.replies(1)
    _, card = await _run_waiting_for_approval(bot, agent, receiver, teams_user_id="aad-erin")
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
    app = bot.client.app  # type: ignore[attr-defined]
    await app.state.watch.sync()
    assert bot.connector.script == [] and len(bot.connector.of("post")) == 2  # greeting, Erin's
    assert any("installed" in r.message for r in caplog.records if r.name == "opslayer.teams")
    assert_valid_cards([card])


async def test_a_throttled_post_is_retried_after_retry_after(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    await bot.replies(1)
    bot.connector.script = [(429, {"Retry-After": "0"}), (429, {"Retry-After": "0"})]
    _, card = await _run_waiting_for_approval(bot, agent, receiver)
    assert bot.connector.script == []  # both 429s were met, then the card went through
    assert "Refund batch" in json.dumps(card)


async def test_dev_mode_takes_unauthenticated_traffic_and_teams_is_off_without_it(
    db_url: str, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    for dev, expected in ((True, 200), (False, 404)):
        app = create_app(Settings(database_url=db_url, teams_dev=dev))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://opslayer.test"
            ) as client,
        ):
            bot = Teams(client, connector, new_key())
            answer = await client.post("/api/messages", json=bot.say("agent help"))
            assert answer.status_code == expected
    assert any("UNAUTHENTICATED" in r.message for r in caplog.records)


class _Published:
    """What Microsoft's OpenID endpoints answer, served from the test's key."""

    def __init__(self, url: str, key: SigningKey) -> None:
        self.url, self.key = url, key

    def raise_for_status(self) -> None:
        pass

    def json(self) -> dict[str, Any]:
        if self.url.endswith("keys"):
            return {"keys": [self.key.jwk()]}
        return {"jwks_uri": "https://login.botframework.com/v1/.well-known/keys"}


async def test_microsoft_is_only_called_from_worker_threads(
    teams: tuple[Teams, MintedToken], monkeypatch: pytest.MonkeyPatch
) -> None:
    """botbuilder fetches signing keys and tokens with blocking clients: never on the loop."""
    bot, _ = teams
    loop_thread = threading.get_ident()
    fetched: list[tuple[str, int]] = []

    def get(url: str, timeout: float) -> _Published:
        fetched.append((url, threading.get_ident()))
        return _Published(url, bot.key)

    monkeypatch.setattr("adapters.teams.auth.requests.get", get)
    signing_keys().last_updated = datetime.min  # a day old: botbuilder refreshes them
    assert (await bot.send(bot.say("agent help"))).status_code == 200
    assert [u for u, _ in fetched][0].startswith("https://login.botframework.com/")
    assert len(fetched) == 2 and all(t != loop_thread for _, t in fetched)
    assert ENTRA_THREADS and all(t != loop_thread for t in ENTRA_THREADS)


async def test_reminders_escalations_and_digests_reach_teams(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver, clock: MovableClock
) -> None:
    bot, agent = teams
    app = bot.client.app  # type: ignore[attr-defined]
    escalations = "19:payments-escalations@thread.tacv2"
    await bot.send(
        bot.activity(
            "conversationUpdate",
            conversation=escalations,
            membersAdded=[{"id": BOT_ID, "name": "opslayer"}],
        )
    )
    await add_group(
        app.state.store,
        name="risk",
        teams_channel=CHANNEL,
        teams_escalation_channel=escalations,
        all_clear=True,
    )
    await add_person(
        app.state.store, identity=Identity(name="Dora", teams_user_id="aad-dora"), group="risk"
    )
    await _run_waiting_for_approval(bot, agent, receiver, teams_user_id="aad-dora")

    def posted_cards(conversation: str) -> list[dict[str, Any]]:
        return [
            c.body["attachments"][0]["content"]
            for c in bot.connector.of("post")
            if c.conversation == conversation and c.body.get("attachments")
        ]

    clock.advance(hours=1, minutes=1)
    await app.state.watch.follow_ups()
    await app.state.watch.sync()
    reminder = posted_cards(CHANNEL)[-1]
    assert "Reminder" in json.dumps(reminder) and "Refund 1,200 EUR?" in json.dumps(reminder)

    clock.advance(hours=3)
    await app.state.watch.follow_ups()
    await app.state.watch.sync()
    [escalated] = posted_cards(escalations)
    assert "Escalated" in json.dumps(escalated)

    assert await app.state.watch.digest(groups={"risk"}) == 1
    await app.state.watch.sync()
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
    store = bot.client.app.state.store  # type: ignore[attr-defined]
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
        "external_id": f"q-{next(_ids)}",
        "title": "Quiet",
        "owner": {"teams_user_id": ALICE},
        "webhook_url": receiver.url,
    }
    run = (await bot.client.post("/v1/runs", json=body, headers=auth)).json()
    await bot.client.post(
        f"/v1/runs/{run['id']}/approvals", json={"request_id": "r", "title": "OK?"}, headers=auth
    )
    await bot.client.app.state.watch.sync()  # type: ignore[attr-defined]
    assert bot.connector.script == []


async def test_a_deleted_card_is_not_updated_forever(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    _, card = await _run_waiting_for_approval(bot, agent, receiver)
    bot.connector.script = [(404, {})]  # someone deleted the post
    answer = await bot.send(bot.click(card, "approve"))
    assert "approved" in json.dumps(answer.json()["value"]).lower()
    app = bot.client.app  # type: ignore[attr-defined]
    await app.state.watch.sync()
    assert bot.connector.script == [] and bot.connector.of("update") == []
    async with app.state.store.read() as uow:
        assert await uow.alerts.to_sync(limit=10) == []  # given up, not retried every round


async def test_an_unreachable_bot_connector_is_a_502_not_a_crash(
    teams: tuple[Teams, MintedToken],
) -> None:
    bot, _ = teams
    activity = bot.say("agent help")
    activity["serviceUrl"] = "http://127.0.0.1:9/"  # nothing listens there
    answer = await bot.send(activity)
    assert answer.status_code == 502 and "could not be sent" in answer.json()["message"]


async def test_someone_known_by_email_is_recognised_on_their_first_message(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    """An agent named the owner by email; Teams knows them by Entra object id. The Bot
    Connector's member record has both, so the first message links them (audited)."""
    bot, agent = teams
    store = bot.client.app.state.store  # type: ignore[attr-defined]
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
    assert [e.action for e in await _audit(bot)].count("person.linked") == 1

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
        assert "not a known person" in (await bot.replies(said + n))[-1]
    ivy = await find_person(store, Identity(email="ivy@example.com"))
    assert ivy.teams_user_id is None  # not taken over


async def test_strangers_may_read_nothing_but_the_help(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    """Anyone in a tenant that installed the app can write to the bot: only known people read."""
    bot, agent = teams
    run, _ = await _run_waiting_for_approval(bot, agent, receiver)
    said = len(await bot.replies(1))
    for n, text in enumerate(["agent status all", "stuck", "waiting", f"status {run['id']}"], 1):
        await bot.send(bot.say(text, user=STRANGER))
        answer = (await bot.replies(said + n))[-1]
        assert "not a known person" in answer and "Refund" not in answer, (text, answer)
    await bot.send(bot.say("agent help", user=STRANGER))
    assert "agent status RUN" in (await bot.replies(said + 5))[-1]


async def test_conversations_keep_their_names_for_the_cli(
    teams: tuple[Teams, MintedToken], capsys: pytest.CaptureFixture[str]
) -> None:
    """`opslayer teams conversations` lists where the bot is, with the names Teams gave on
    install (a later message, which carries no names, keeps them)."""
    from adapters.cli import _teams_conversations

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
    store = bot.client.app.state.store  # type: ignore[attr-defined]
    assert await _teams_conversations(argparse.Namespace(), store) == 0
    listed = capsys.readouterr().out
    assert alerts in listed and "Payments › Alerts" in listed and CHANNEL in listed
