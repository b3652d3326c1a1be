"""Teams through the real botbuilder code: Bot Framework tokens minted against a local signing
key (the real JWT validation runs), a local fake Bot Connector at the activity's serviceUrl,
and the whole approval path from an agent's request to the updated card."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from opslayer.adapters.teams.auth import signing_keys
from opslayer.bot.audit import Via
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.adaptive_cards import assert_valid_cards
from tests.agent_receiver import AgentReceiver
from tests.bot_framework import (
    OUTBOUND_TOKEN,
    SigningKey,
    new_key,
    token,
)
from tests.support import MovableClock
from tests.teams_support import (
    ALICE,
    BOB,
    CHANNEL,
    ENTRA_THREADS,
    STRANGER,
    Teams,
    audit_rows,
    run_waiting_for_approval,
)


async def test_installing_the_bot_greets_and_remembers_the_channel(
    teams: tuple[Teams, MintedToken],
) -> None:
    bot, _ = teams
    [welcome] = await bot.replies(1)
    assert "agent subscribe" in welcome
    async with bot.client.store.read() as uow:
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


async def test_approve_from_the_card_reaches_the_agent_and_updates_the_card(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, card = await run_waiting_for_approval(bot, agent, receiver)
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
    run, card = await run_waiting_for_approval(bot, agent, receiver)
    approval_id = card["actions"][0]["data"]["approval_id"]
    app = bot.client
    person = await find_person(app.store, Identity(teams_user_id=ALICE))
    await app.operations.approvals.reject(approval_id, person=person, via=Via.CLI, comment="no")
    await bot.connector.wait_for(lambda: bot.connector.of("update"))
    updated = bot.connector.of("update")[-1].body["attachments"][0]["content"]
    assert "rejected" in json.dumps(updated).lower() and not updated.get("actions")


async def test_clicks_without_the_right_say_why_and_change_nothing(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, card = await run_waiting_for_approval(bot, agent, receiver)
    shown = []
    for who in (BOB, STRANGER):  # Bob is known but not the owner; the stranger is nobody
        answer = (await bot.send(bot.click(card, "approve", user=who))).json()
        assert answer["statusCode"] == 200
        text = json.dumps(answer["value"])
        why = "may not" if who == BOB else "not linked to opslayer yet"  # plain words, each
        assert "Nothing changed" in text and why in text, text
        assert [a["verb"] for a in answer["value"]["actions"]][:2] == ["approve", "reject"]
        shown.append(answer["value"])
    refusals = [e for e in await audit_rows(bot) if e.action == "action.refused"]
    assert {e.actor.name for e in refusals} >= {"Bob", STRANGER}
    assert all(e.actor.via == "teams" for e in refusals)

    first = (await bot.send(bot.click(card, "approve"))).json()["value"]
    again = (await bot.send(bot.click(card, "approve"))).json()["value"]  # an outdated card
    assert "Nothing changed" in json.dumps(again) and not again.get("actions")
    assert "out of date" in json.dumps(again)
    outdated = [e for e in await audit_rows(bot) if e.action == "action.refused"][-1]
    assert outdated.actor.name == "Alice" and outdated.detail["refusal"] == "outdated card"
    await receiver.wait_for(1)
    assert len(receiver.received) == 1  # the agent heard one decision, not two
    assert_valid_cards([*shown, first, again])


async def test_reject_asks_for_a_reason_and_sends_it(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    _, card = await run_waiting_for_approval(bot, agent, receiver)
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
    app = bot.client
    await app.core.cache.flush()
    await app.core.scanner.scan()
    await app.core.sync.sync()
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
    run, card = await run_waiting_for_approval(bot, agent, receiver)
    form = (await bot.send(bot.click(card, "reassign"))).json()["value"]
    [picker] = [e for e in form["body"] if e.get("id") == "new_owner"]
    assert {c["title"] for c in picker["choices"]} == {"Alice", "Bob"}
    done = await bot.send(bot.click(form, "reassign", new_owner=f"teams:{BOB}", reason="leave"))
    assert "Offered" in json.dumps(done.json()["value"])
    async with bot.client.store.read() as uow:
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
    async with bot.client.store.read() as uow:
        accepted = await uow.runs.get(run["id"])
    assert accepted is not None and accepted.owner.name == "Bob"
    details = (await bot.send(bot.click(card, "details"))).json()["value"]
    timeline = json.dumps(details)
    assert "approval.requested" in timeline and "Alice via teams" in timeline
    assert_valid_cards([form, done.json()["value"], details, offer, taken])


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

    monkeypatch.setattr("opslayer.adapters.teams.auth.requests.get", get)
    signing_keys().last_updated = datetime.min  # a day old: botbuilder refreshes them
    assert (await bot.send(bot.say("agent help"))).status_code == 200
    assert [u for u, _ in fetched][0].startswith("https://login.botframework.com/")
    assert len(fetched) == 2 and all(t != loop_thread for _, t in fetched)
    assert ENTRA_THREADS and all(t != loop_thread for t in ENTRA_THREADS)


async def test_an_unreachable_bot_connector_is_a_502_not_a_crash(
    teams: tuple[Teams, MintedToken],
) -> None:
    bot, _ = teams
    activity = bot.say("agent help")
    activity["serviceUrl"] = "http://127.0.0.1:9/"  # nothing listens there
    answer = await bot.send(activity)
    assert answer.status_code == 502 and "could not be sent" in answer.json()["message"]
