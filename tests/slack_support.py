"""Speaking to the Slack bot as Slack does, for the Slack tests: signed requests and payloads."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier

from opslayer.bot.people.tokens import MintedToken
from tests.fake_slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def signed(body: str, *, secret: str = SECRET, age_s: int = 0) -> dict[str, str]:
    """Headers exactly as Slack signs a request."""
    timestamp = str(int(time.time()) - age_s)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "content-type": "application/x-www-form-urlencoded",
    }


def click(slack: FakeSlack, user: str, button: dict[str, Any], n: int = 1) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "name": user},
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1.2.3",
        "response_url": f"{slack.url}/respond/{n}",
        "container": {"type": "message", "channel_id": "C-PAY", "message_ts": "1700000000.000001"},
        "channel": {"id": "C-PAY"},
        "actions": [{**button, "block_id": "b", "action_ts": "1700000001.0"}],
    }
    return urlencode({"payload": json.dumps(payload)})


def slash(
    slack: FakeSlack,
    text: str,
    *,
    user: str = "UALICE",
    channel: str = "C-PAY",
    n: int = 1,
    command: str = "/agent",
) -> dict[str, str]:
    """A slash command as Slack sends it; its answer goes to response_url `n` of the fake."""
    return {
        "command": command,
        "text": text,
        "user_id": user,
        "team_id": "T1",
        "channel_id": channel,
        "response_url": f"{slack.url}/respond/{n}",
        "trigger_id": "1.2",
    }


async def asks_approval(
    client: httpx.AsyncClient,
    agent: MintedToken,
    run: dict[str, Any],
    approval: dict[str, Any] | None = None,
    *,
    running: bool = False,
) -> dict[str, Any]:
    """The agent registers `run` (and reports it running, if asked), then asks for `approval`
    (by default a plain "OK?"); returns the run."""
    auth = {"Authorization": f"Bearer {agent.token}"}
    registered: dict[str, Any] = (await client.post("/v1/runs", json=run, headers=auth)).json()
    if running:
        await client.post(
            f"/v1/runs/{registered['id']}/status", json={"status": "running"}, headers=auth
        )
    asked = await client.post(
        f"/v1/runs/{registered['id']}/approvals",
        json=approval or {"request_id": "r", "title": "OK?"},
        headers=auth,
    )
    assert asked.status_code == 201, asked.text
    return registered


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    blocks = message["blocks"]
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


MAX_BLOCKS = 50  # Slack refuses a message with more


def assert_valid_blocks(blocks: list[dict[str, Any]]) -> None:
    """Every block is a Block Kit block slack_sdk knows, within Slack's limits (each field's
    length, elements per block: what `validate_json` checks), and there are at most 50."""
    assert len(blocks) <= MAX_BLOCKS
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, f"not a Block Kit block: {raw}"
        block.validate_json()  # raises SlackObjectFormationError past a limit


def event(
    kind: str, text: str, *, user: str = "UALICE", channel: str = "C-PAY", **extra: Any
) -> str:
    """An Events API request body, as Slack sends an event (JSON)."""
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "api_app_id": "A1",
            "event_id": f"Ev{abs(hash((kind, text, user))) % 10**8}",
            "event_time": int(time.time()),
            "event": {
                "type": kind,
                "user": user,
                "text": text,
                "channel": channel,
                "ts": "1700000100.000100",
                **extra,
            },
        }
    )


def signed_json(body: str, *, secret: str = SECRET) -> dict[str, str]:
    """Headers of a signed Events API request (a JSON body)."""
    return {**signed(body, secret=secret), "content-type": "application/json"}


def opened(slack: FakeSlack) -> list[dict[str, Any]]:
    """The modals the bot opened (slack_sdk sends each view as a JSON string)."""
    return [
        v["view"] if isinstance(v["view"], dict) else json.loads(v["view"])
        for v in slack.api("views.open")
    ]


def submit(user: str, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> str:
    """A modal's submission, as Slack sends it."""
    state = {"values": {block: {"value": value} for block, value in values.items()}}
    payload = {
        "type": "view_submission",
        "user": {"id": user},
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "token": "t",
        "trigger_id": "9.9",
        "view": {**view, "id": "V1", "state": state},
    }
    return urlencode({"payload": json.dumps(payload)})
