"""Approvals as teams decide, through the real Bolt code: an edit in a modal generated from the
schema reaches the agent signed; answers in words; a high-risk yes confirmed; "always approve"
makes a rule, and the rule then approves without a message being posted."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.views import View
from standardwebhooks.webhooks import Webhook

from opslayer.bot.people.directory import add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
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
    submit,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "integer", "minimum": 1, "maximum": 100, "title": "Amount"},
        "currency": {"enum": ["EUR", "USD"]},
        "notify": {"type": "boolean"},
    },
    "required": ["amount", "currency"],
}
REFUND = {
    "request_id": "r1",
    "title": "Refund order 7?",
    "action": "refund",
    "arguments": {"amount": 120, "currency": "EUR", "notify": True, "order": 7},
    "arguments_schema": SCHEMA,
    "decisions": ["approve", "edit", "reject", "respond"],
}


def run_body(receiver: AgentReceiver, external_id: str = "j1") -> dict[str, Any]:
    return {
        "external_id": external_id,
        "title": "Refunds",
        "owner": {"email": "alice@example.com"},
        "webhook_url": receiver.url,
    }


def command_run(delivery: Any) -> str:
    run_id: str = json.loads(delivery.body)["command"]["run_id"]
    return run_id


async def post(client: BotClient, form: str) -> dict[str, Any]:
    answer = await client.post("/slack/events", content=form, headers=signed(form))
    assert answer.status_code == 200
    return answer.json() if answer.content else {}


async def test_an_edit_in_a_slack_modal_reaches_the_agent_signed_with_the_edited_arguments(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, receiver: AgentReceiver
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    run = await asks_approval(client, agent, run_body(receiver), REFUND, running=True)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [message] = slack.api("chat.postMessage")
    assert_valid_blocks(message["blocks"])
    shown = [b["text"]["text"] for b in message["blocks"] if "text" in b]
    assert any('"amount": 120' in text for text in shown)  # the arguments, to decide on
    offered = [b["text"]["text"] for b in buttons(message).values()]
    assert offered[:5] == [
        "Approve",
        "Edit and approve",
        "Reject",
        "Answer instead",
        "Approve, and always approve refund for billing-bot",
    ]

    await post(client, click(slack, "UALICE", buttons(message)["opslayer_edit"]))
    await slack.wait_for(lambda: slack.api("views.open"))
    [modal] = opened(slack)
    View(**modal).validate_json()
    inputs = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    assert [b["label"]["text"] for b in inputs.values()] == ["Amount", "currency", "notify"]
    assert inputs["arg_0"]["element"]["type"] == "number_input"
    assert inputs["arg_0"]["element"]["initial_value"] == "120"
    assert inputs["arg_1"]["element"]["type"] == "static_select"
    assert inputs["arg_2"]["element"]["initial_options"]  # notify: ticked, as asked

    def values(amount: str) -> dict[str, dict[str, Any]]:
        return {
            "arg_0": {"type": "number_input", "value": amount},
            "arg_1": {"type": "static_select", "selected_option": {"value": '"USD"'}},
            "arg_2": {"type": "checkboxes", "selected_options": []},
        }

    refused = await post(client, submit("UALICE", modal, values("500")))
    assert refused["response_action"] == "errors"
    assert "500 is greater than the maximum of 100" in refused["errors"]["arg_0"]
    commands = (await client.get(f"/v1/runs/{run['id']}/commands", headers=auth)).json()
    assert commands == []  # an edit that fails the schema changes nothing

    assert await post(client, submit("UALICE", modal, values("40"))) == {}  # the modal closes
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "approve"  # today's agents keep working
    assert command["decision"] == {
        "type": "edit",
        "arguments": {"amount": 40, "currency": "USD", "notify": False, "order": 7},
    }
    assert command["actor"]["name"] == "Alice" and command["actor"]["via"] == "slack"

    await slack.wait_for(lambda: slack.api("chat.update"))
    text = json.dumps(slack.api("chat.update")[-1]["blocks"])
    assert "Approved with changes by Alice" in text and "opslayer_edit" not in text
    approval_id = command["approval_id"]
    shown = (await client.get(f"/v1/approvals/{approval_id}", headers=auth)).json()
    assert shown["status"] == "approved" and shown["decision"]["type"] == "edit"
    assert shown["decision"]["by"] == {"id": shown["decided_by"], "name": "Alice", "via": "slack"}
    assert shown["decision"]["arguments"]["amount"] == 40
    trail = (await client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()
    assert [e["action"] for e in trail[-3:]] == [
        "action.refused",  # the edit over the maximum, audited
        "approval.approved",
        "command.issued",
    ]


async def test_an_answer_in_words_and_a_rejection_reach_the_agent_as_the_humans_reply(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, receiver: AgentReceiver
) -> None:
    client, agent = bot
    await asks_approval(client, agent, run_body(receiver), REFUND, running=True)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [message] = slack.api("chat.postMessage")
    await post(client, click(slack, "UALICE", buttons(message)["opslayer_respond"]))
    await slack.wait_for(lambda: slack.api("views.open"))
    [modal] = opened(slack)
    assert modal["callback_id"] == "opslayer_respond"
    assert "Refund order 7?" in json.dumps(modal["blocks"])  # it names what it answers
    empty = await post(client, submit("UALICE", modal, {"reason": {"value": "  "}}))
    assert "needs the words" in empty["errors"]["reason"]
    words = "Refund 60 now and ask finance about the rest"
    await post(client, submit("UALICE", modal, {"reason": {"value": words}}))
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "reject" and command["reason"] == words
    assert command["decision"] == {"type": "respond", "message": words}
    await slack.wait_for(lambda: slack.api("chat.update"))
    assert "Answered by Alice" in json.dumps(slack.api("chat.update")[-1]["blocks"])


async def test_a_high_risk_yes_is_confirmed_in_a_dialog_first(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, receiver: AgentReceiver
) -> None:
    client, agent = bot
    risky = {"request_id": "r1", "title": "Wire 90,000 EUR?", "risk": "high"}
    await asks_approval(client, agent, run_body(receiver), risky, running=True)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [message] = slack.api("chat.postMessage")
    assert_valid_blocks(message["blocks"])
    assert "High risk" in json.dumps(message["blocks"])
    approve = buttons(message)["opslayer_approve"]
    assert approve["confirm"]["confirm"]["text"] == "Yes, approve"  # Slack asks before sending
    assert "confirm" not in buttons(message)["opslayer_reject"]  # a no needs no second yes
    unconfirmed = {**approve, "value": approve["value"].removesuffix("|confirmed")}
    await post(client, click(slack, "UALICE", unconfirmed, n=1))  # a click without the dialog
    await slack.wait_for(lambda: slack.responses)
    assert "needs confirmation" in slack.responses[0]["text"]
    await post(client, click(slack, "UALICE", approve, n=2))  # the dialog answered
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "approve" and command["decision"]["type"] == "approve"


async def test_always_approve_makes_a_rule_and_the_next_request_is_approved_without_a_message(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, receiver: AgentReceiver
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    await add_person(
        client.store, identity=Identity(email="bob@example.com", name="Bob", slack_user_id="UBOB")
    )
    asked = {**REFUND, "approvers": ["bob@example.com"]}
    await asks_approval(client, agent, run_body(receiver), asked, running=True)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [message] = slack.api("chat.postMessage")
    always = buttons(message)["opslayer_approve_always"]
    # Bob may approve this one, but making a rule is for the owner or an admin.
    await post(client, click(slack, "UBOB", always, n=1))
    await slack.wait_for(lambda: slack.responses)
    assert "only the run's owner or an admin" in slack.responses[0]["text"]
    await post(client, click(slack, "UALICE", always, n=2))
    [delivery] = await receiver.wait_for(1)
    assert (
        Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]["kind"]
        == "approve"
    )

    first = (await client.get(f"/v1/runs/{command_run(delivery)}/audit", headers=auth)).json()
    made = next(e for e in first if e["action"] == "rule.added")
    assert made["actor"]["name"] == "Alice" and made["detail"]["action"] == "refund"

    posted = len(slack.api("chat.postMessage"))
    second = await client.post("/v1/runs", json=run_body(receiver, "j2"), headers=auth)
    run2 = second.json()
    answer = await client.post(
        f"/v1/runs/{run2['id']}/approvals", json={**REFUND, "request_id": "r2"}, headers=auth
    )
    assert answer.status_code == 201
    decided = answer.json()
    assert decided["status"] == "approved"  # at once: the agent may go on without waiting
    assert decided["decision"]["by"]["via"] == "rule"
    rule_id = decided["decision"]["by"]["id"].removeprefix("rule:")
    deliveries = await receiver.wait_for(2)
    command = Webhook(agent.webhook_secret).verify(deliveries[1].body, deliveries[1].headers)[
        "command"
    ]
    assert command["kind"] == "approve" and command["run_id"] == run2["id"]
    assert command["decision"]["arguments"] == REFUND["arguments"]
    assert len(slack.api("chat.postMessage")) == posted  # nobody was asked
    trail = (await client.get(f"/v1/runs/{run2['id']}/audit", headers=auth)).json()
    approved = next(e for e in trail if e["action"] == "approval.approved")
    assert approved["actor"] == {"id": f"rule:{rule_id}", "name": f"rule {rule_id}", "via": "rule"}
