"""Approvals as teams decide, through the real botbuilder code: a 2-of-3 approval, an edit in
Adaptive Card inputs generated from the schema, a high-risk yes confirmed on a second card."""

from __future__ import annotations

import json
from typing import Any

from standardwebhooks.webhooks import Webhook

from opslayer.bot.people.directory import add_group, add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.adaptive_cards import assert_valid_cards
from tests.agent_receiver import AgentReceiver
from tests.teams_support import ALICE, BOB, STRANGER, Teams, audit_rows, buttons

CAROL = "aad-carol-0004"


async def ask(
    bot: Teams, agent: MintedToken, receiver: AgentReceiver, approval: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run owned by Alice asks `approval`; returns the run and the card posted for it."""
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {
        "external_id": "job-1",
        "title": "Refund batch",
        "owner": {"teams_user_id": ALICE},
        "webhook_url": receiver.url,
    }
    run = (await bot.client.post("/v1/runs", json=body, headers=auth)).json()
    await bot.client.post(f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth)
    asked = await bot.client.post(f"/v1/runs/{run['id']}/approvals", json=approval, headers=auth)
    assert asked.status_code == 201, asked.text
    await bot.connector.wait_for(lambda: bot.connector.cards())
    [posted] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    return run, posted.body["attachments"][0]["content"]


def texts(card: dict[str, Any]) -> str:
    return " ".join(b.get("text", "") for b in card["body"])


async def test_two_of_three_approvers_must_approve_in_teams(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    await add_group(bot.client.store, name="finance")
    await add_person(
        bot.client.store,
        identity=Identity(email="carol@example.com", name="Carol", teams_user_id=CAROL),
        group="finance",  # an approver as a member of the group named
    )
    approval = {
        "request_id": "r1",
        "title": "Pay supplier 8,000 EUR?",
        "approvers": [BOB, "dave@example.com", "group:finance"],
        "required_approvals": 2,
    }
    run, card = await ask(bot, agent, receiver, approval)
    assert "Approvers:" in texts(card)

    first = await bot.send(bot.click(card, "approve", user=BOB))
    shown = first.json()["value"]
    assert "Your approval is counted: 1 of 2 approvals (Bob)" in texts(shown)
    assert "1 of 2 approvals (Bob)" in texts(shown)  # on the card, for everyone
    assert any(b["verb"] == "approve" for b in buttons(shown))  # still open
    assert receiver.received == []  # nothing sent to the agent yet
    await bot.connector.wait_for(
        lambda: any("1 of 2 approvals" in json.dumps(c) for c in bot.connector.cards()[1:])
    )  # the posted card was brought in step

    again = (await bot.send(bot.click(card, "approve", user=BOB))).json()["value"]
    assert "Bob already approved" in texts(again) and "someone else's vote" in texts(again)
    stranger = (await bot.send(bot.click(card, "approve", user=STRANGER))).json()["value"]
    assert "Nothing changed" in texts(stranger)

    second = (await bot.send(bot.click(card, "approve", user=CAROL))).json()["value"]
    assert "You approved it" in texts(second) and not second.get("actions")
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "approve" and command["actor"]["name"] == "Carol"
    assert command["decision"] == {"type": "approve"}

    trail = [e.action for e in await audit_rows(bot, run["id"])]
    assert trail.count("approval.voted") == 1 and trail.count("approval.approved") == 1
    refusals = [e for e in await audit_rows(bot) if e.action == "action.refused"]
    assert {e.actor.name for e in refusals} >= {"Bob", STRANGER}  # each refusal audited
    auth = {"Authorization": f"Bearer {agent.token}"}
    shown_api = (
        await bot.client.get(f"/v1/approvals/{command['approval_id']}", headers=auth)
    ).json()
    assert [v["name"] for v in shown_api["votes"]] == ["Bob", "Carol"]
    assert shown_api["decision"]["by"]["name"] == "Carol"
    assert_valid_cards([card, shown, again, second])


async def test_an_edit_in_teams_card_inputs_reaches_the_agent(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    approval = {
        "request_id": "r1",
        "title": "Send the renewal email?",
        "action": "send_email",
        "arguments": {"to": "cfo@acme.example", "subject": "Renewal", "urgent": False},
        "arguments_schema": {
            "type": "object",
            "properties": {
                "to": {"type": "string"},
                "subject": {"type": "string"},
                "urgent": {"type": "boolean"},
            },
            "required": ["to", "subject"],
        },
        "decisions": ["approve", "edit", "reject"],
        "risk": "high",
    }
    _, card = await ask(bot, agent, receiver, approval)
    form = (await bot.send(bot.click(card, "edit"))).json()["value"]
    inputs = {b["id"]: b for b in form["body"] if b["type"].startswith("Input.")}
    assert inputs["arg_0"]["value"] == "cfo@acme.example" and inputs["arg_0"]["isRequired"]
    assert inputs["arg_2"]["type"] == "Input.Toggle" and "confirmed" in inputs
    assert_valid_cards([form])

    edited = {"arg_0": "ceo@acme.example", "arg_1": "Renewal, 10% off", "arg_2": "true"}
    unconfirmed = (await bot.send(bot.click(form, "edit", **edited, confirmed="false"))).json()
    assert "needs confirmation" in texts(unconfirmed["value"])  # the form again, with the reason
    assert receiver.received == []
    wrong = (await bot.send(bot.click(form, "edit", arg_0="", confirmed="true"))).json()
    assert "'to' is a required property" in texts(wrong["value"])

    done = (await bot.send(bot.click(form, "edit", **edited, confirmed="true"))).json()["value"]
    assert "with your changes" in texts(done)
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["decision"] == {
        "type": "edit",
        "arguments": {"to": "ceo@acme.example", "subject": "Renewal, 10% off", "urgent": True},
    }


async def test_a_high_risk_approve_asks_for_a_second_yes_on_teams(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    _, card = await ask(
        bot, agent, receiver, {"request_id": "r1", "title": "Drop the table?", "risk": "high"}
    )
    assert "High risk" in texts(card)
    confirm = (await bot.send(bot.click(card, "approve"))).json()["value"]
    assert "needs confirmation" in texts(confirm)
    assert [a["title"] for a in confirm["actions"]] == ["Yes, approve", "Back"]
    assert receiver.received == []
    done = (await bot.send(bot.click(confirm, "approve"))).json()["value"]
    assert "You approved it" in texts(done)
    [delivery] = await receiver.wait_for(1)
    assert json.loads(delivery.body)["command"]["kind"] == "approve"
    assert_valid_cards([card, confirm, done])
