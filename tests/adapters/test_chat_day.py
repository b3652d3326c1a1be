"""An on-call operator's day on Slack, as one scenario, through the real Bolt code, the local
fake Web API and a local agent: an approval is asked for, reminded in its thread, escalated
with its buttons, approved by an owner opslayer knew only by email; the message stays current;
the run fails, the failure alert says why and what a retry replays; a retry from a checkpoint
goes out from the modal; the alert resolves when the agent runs again."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from opslayer.adapters.slack.blocks import alert_blocks, digest_messages
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.people.directory import add_group, add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from opslayer.bot.runs.model import Checkpoint, RunStatus, SideEffect
from opslayer.bot.views.alerts import alert_view
from opslayer.bot.views.digest import digest_view
from opslayer.bot.views.model import DigestLineView
from tests.agent_receiver import AgentReceiver
from tests.bot.factories import T0, make_run
from tests.fake_slack import FakeSlack
from tests.harness import BotClient
from tests.slack_support import (
    assert_valid_blocks,
    buttons,
    click,
    opened,
    signed,
    submit,
)
from tests.support import MovableClock

POLICY = {"approval_reminder_s": 600, "escalate_after_s": 1800, "heartbeat_timeout_s": 3600}


def texts(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


async def test_an_operators_day(
    bot: tuple[BotClient, MintedToken],
    slack: FakeSlack,
    receiver: AgentReceiver,
    clock: MovableClock,
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    await add_group(
        client.store, name="ledger", slack_channel="C-LEDGER", slack_escalation_channel="C-ESC"
    )
    await add_person(
        client.store, identity=Identity(email="dana@example.com", name="Dana"), group="ledger"
    )
    slack.users["dana@example.com"] = (
        "UDANA"  # Slack confirms Dana's email; opslayer never saw her id
    )

    run = (
        await client.post(
            "/v1/runs",
            json={
                "external_id": "close-nov",
                "title": "Close November",
                "owner": {"email": "dana@example.com"},
                "webhook_url": receiver.url,
                "policy": POLICY,
            },
            headers=auth,
        )
    ).json()
    run_id = run["id"]
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
    effects = [{"key": "journal:42", "idempotent": False, "description": "posted a journal"}]
    await client.post(
        f"/v1/runs/{run_id}/checkpoints",
        json={"checkpoint_id": "c1", "step": "reconcile"},
        headers=auth,
    )
    await client.post(
        f"/v1/runs/{run_id}/checkpoints",
        json={"checkpoint_id": "c2", "step": "post", "side_effects": effects},
        headers=auth,
    )
    await client.post(
        f"/v1/runs/{run_id}/heartbeat", json={"message": "waiting on the controller"}, headers=auth
    )
    asked = await client.post(
        f"/v1/runs/{run_id}/approvals",
        json={
            "request_id": "post-1",
            "title": "Post the November journal (42 lines)?",
            "details": "Totals match the bank statement.",
            "approvers": ["dana@example.com"],
            "expires_at": "2026-11-27T09:00:00Z",
            "state": {
                "journal": 42,
                "lines": [{"account": 4000 + n, "amount": n} for n in range(80)],
            },
        },
        headers=auth,
    )
    assert asked.status_code == 201

    # 1. The approval message: everything a decision needs, in the group's channel.
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [first] = slack.api("chat.postMessage")
    assert first["channel"] == "C-LEDGER"
    assert first["text"].endswith("Post the November journal (42 lines)?")  # what a phone shows
    shown = texts(first)
    for expected in (
        "Post the November journal (42 lines)?",
        "Totals match the bank statement.",
        "Approvers: <@UDANA>",  # found by email and mentioned
        "Decide by <!date^",  # the deadline, in the reader's zone
        '\\"journal\\": 42',  # the state, pretty-printed
        "…",  # cut, not dropped
        "Last message: waiting on the controller",
        "journal:42",  # a retry from before it would replay it
    ):
        assert expected in shown, expected
    assert shown.count("Dana") + shown.count("UDANA") >= 1 and '"owner"' not in shown
    assert_valid_blocks(first["blocks"])

    # 2. No answer: the reminder goes in the message's thread, marked, with the buttons.
    clock.advance(seconds=601)
    await client.core.scanner.scan()
    await client.core.scanner.follow_ups()
    await client.core.sync.sync()
    posts = slack.api("chat.postMessage")
    [reminder] = [p for p in posts if p.get("thread_ts") == first["_ts"]]
    assert "Reminder" in texts(reminder) and "opslayer_approve" in texts(reminder)
    assert len([p for p in posts if p["channel"] == "C-LEDGER" and not p.get("thread_ts")]) == 1

    # 3. Still no answer: escalated to the escalation channel, with Approve and Reject.
    clock.advance(seconds=1200)
    await client.core.scanner.scan()
    await client.core.scanner.follow_ups()
    await client.core.sync.sync()
    [escalated] = [p for p in slack.api("chat.postMessage") if p["channel"] == "C-ESC"]
    assert "Escalated" in texts(escalated)
    approve = buttons(escalated)["opslayer_approve"]

    # 4. Dana approves from the escalation: Slack vouches for her email, she acts as herself.
    form = click(slack, "UDANA", approve)
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "approve" and command["actor"]["name"] == "Dana"
    assert command["state"]["journal"] == 42

    # 5. The message is current: decided, its buttons gone, then what the agent reported.
    def updates(ts: str) -> list[dict[str, Any]]:
        return [u for u in slack.api("chat.update") if u["ts"] == ts]

    await slack.wait_for(lambda: any("Approved by Dana" in texts(u) for u in updates(first["_ts"])))
    decided = updates(first["_ts"])[-1]
    assert "opslayer_approve" not in texts(decided)
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
    await client.core.sync.sync()
    current = updates(first["_ts"])[-1]
    assert "the agent reported running" in texts(current) and "*status*\\nrunning" in texts(current)

    # 6. The run fails: the owner hears of it at once, with the error and what a retry replays.
    await client.post(
        f"/v1/runs/{run_id}/status",
        json={"status": "failed", "error": "ledger locked by another job"},
        headers=auth,
    )
    await slack.wait_for(lambda: any("failed" in p["text"] for p in slack.api("chat.postMessage")))
    failure = next(p for p in slack.api("chat.postMessage") if "failed" in p["text"])
    assert "ledger locked by another job" in texts(failure)
    assert "c2 · post" in texts(failure) and "journal:42" in texts(failure)
    assert {"opslayer_retry", "opslayer_reassign", "opslayer_details"} <= set(buttons(failure))
    assert_valid_blocks(failure["blocks"])

    # 7. Retry from checkpoint c1, from the modal: it names the unsafe side effect, asks a yes.
    form = click(slack, "UDANA", buttons(failure)["opslayer_retry"], n=2)
    await client.post("/slack/events", content=form, headers=signed(form))
    await slack.wait_for(lambda: slack.api("views.open"))
    modal = opened(slack)[-1]
    assert "Close November" in json.dumps(modal) and "journal:42" in json.dumps(modal)
    chosen: dict[str, dict[str, Any]] = {
        "checkpoint": {"type": "static_select", "selected_option": {"value": "c1"}},
        "confirm": {"type": "checkboxes", "selected_options": [{"value": "yes"}]},
    }
    form = submit("UDANA", modal, chosen)
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    deliveries = await receiver.wait_for(2)
    retry = Webhook(agent.webhook_secret).verify(deliveries[1].body, deliveries[1].headers)[
        "command"
    ]
    assert retry["kind"] == "retry" and retry["from_checkpoint_id"] == "c1"
    assert retry["skip_side_effects"] == ["journal:42"]

    # 8. The agent runs attempt 2: the failure alert says so, and its buttons go.
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
    await client.core.sync.sync()
    resolved = updates(failure["_ts"])[-1]
    assert "retried: attempt 2 is running" in texts(resolved)
    assert "opslayer_retry" not in texts(resolved)


def test_every_block_kit_field_stays_within_slacks_limits() -> None:
    """Agent text of any length: each field, section and message within Slack's limits,
    checked by slack_sdk's own validation."""
    words = " ".join(f"word{n}" for n in range(3000))
    run = make_run(
        RunStatus.FAILED,
        title=words[:500],
        step=words[:500],
        message=words,
        error=words,
        attempt=3,
    )
    approval = Approval(
        id="apr_1",
        run_id=run.id,
        request_id="r",
        title=words[:500],
        status=ApprovalStatus.PENDING,
        created_at=T0,
        details=words,
        state={"text": words, "list": list(range(500))},
    )
    effects = tuple(SideEffect(f"effect:{n}:{words[:100]}", False) for n in range(60))
    checkpoints = [Checkpoint("c", run.id, "c1", words[:500], T0, 1, side_effects=effects)]
    for kind in (AlertKind.APPROVAL, AlertKind.FAILED, AlertKind.STUCK):
        view = alert_view(
            kind,
            run,
            now=T0 + timedelta(hours=1),
            approval=approval if kind is AlertKind.APPROVAL else None,
            checkpoints=checkpoints,
        )
        assert_valid_blocks(alert_blocks(view))

    def line(n: int) -> DigestLineView:
        return {
            "run_id": f"run_{n}",
            "title": f"a run with a rather long title, number {n} " * 3,
            "status": "running",
            "health": ["stuck"],
            "since": "3 h",
        }

    sections = {
        "stuck": {f"Owner {o}": [line(o * 100 + n) for n in range(40)] for o in range(30)},
        "stale": {},
    }
    messages = digest_messages(digest_view("payments", "2026-11-26", sections))
    assert len(messages) > 1  # too long for one message: continued in the thread
    shown = ""
    for blocks in messages:
        assert_valid_blocks(blocks)
        shown += json.dumps(blocks)
    for o in range(30):
        for n in range(40):
            assert shown.count(f"`run_{o * 100 + n}`") == 1  # every run, once, never cut


async def test_a_message_slack_refuses_is_given_up_and_the_others_go_on(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    slack.fail["chat.postMessage"] = "invalid_blocks"  # the next post is refused
    with caplog.at_level(logging.WARNING, logger="opslayer.slack"):
        for n in range(3):
            body = {
                "external_id": f"r{n}",
                "title": f"Run {n}",
                "owner": {"email": "alice@example.com"},
            }
            run = (await client.post("/v1/runs", json=body, headers=auth)).json()
            await client.post(
                f"/v1/runs/{run['id']}/approvals",
                json={"request_id": "r", "title": f"Go {n}?"},
                headers=auth,
            )
            await client.core.sync.sync()
    posted = [p for p in slack.api("chat.postMessage") if p["channel"] == "C-PAY"]
    assert len(posted) == 3  # one refused (tried once), the other two posted
    assert "invalid_blocks" in caplog.text and "given up" in caplog.text
    assert await client.core.sync.behind() == 0  # nothing left to retry forever
    await client.core.sync.sync()
    assert len([p for p in slack.api("chat.postMessage") if p["channel"] == "C-PAY"]) == 3
