"""The agent-side client drives the real API and verifies commands (that it needs no server
code is proved by installing it alone: tests/e2e/test_distributions.py)."""

from __future__ import annotations

import json
import time

import pytest

from opslayer.bot.audit import Actor, Via
from opslayer.bot.commands.message import command_message
from opslayer.bot.commands.model import CommandKind
from opslayer.bot.people.tokens import MintedToken, new_webhook_secret
from opslayer_client import OpslayerClient, OpslayerError, parse_command
from opslayer_client.contract import CommandMessage
from opslayer_client.signing import InvalidSignature, signed_headers
from tests.bot.factories import T0, make_run
from tests.harness import BotClient


async def test_client_runs_the_agent_side_of_an_approval(
    app_client: BotClient, agent: MintedToken
) -> None:
    async with OpslayerClient("http://opslayer.test", agent.token, http=app_client) as opslayer:
        run = await opslayer.register_run(
            {"external_id": "c-1", "title": "Client run", "owner": {"email": "a@example.com"}}
        )
        assert (
            await opslayer.register_run(
                {"external_id": "c-1", "title": "Client run", "owner": {"email": "a@example.com"}}
            )
        ).id == run.id
        await opslayer.report_status(run.id, "running")
        beat = await opslayer.heartbeat(run.id, step="fetch", progress=0.5)
        assert beat.step == "fetch"
        checkpoint = await opslayer.checkpoint(run.id, {"checkpoint_id": "c1", "step": "fetch"})
        assert checkpoint.checkpoint_id == "c1"
        approval = await opslayer.request_approval(
            run.id, {"request_id": "r1", "title": "OK?", "state": {"n": 1}}
        )
        assert (await opslayer.approval(approval.id)).status == "pending"
        assert (await opslayer.run(run.id)).status == "waiting_approval"
        assert await opslayer.pending_commands(run.id) == []
        with pytest.raises(OpslayerError) as refused:
            await opslayer.report_status(run.id, "succeeded")
        assert refused.value.status == 409 and "not allowed" in refused.value.detail


def test_parse_command_accepts_what_the_bot_signs_and_refuses_forgeries() -> None:
    secret = new_webhook_secret()
    payload = command_message(
        command_id="cmd_1",
        kind=CommandKind.APPROVE,
        run=make_run(),
        actor=Actor(id="per_1", name="Alice", via=Via.SLACK),
        issued_at=T0,
        reason="ok",
    )
    body = json.dumps(payload).encode()
    headers = signed_headers(secret, "cmd_1", body)
    message = parse_command(secret, headers, body)
    assert isinstance(message, CommandMessage) and message.command.kind == "approve"
    assert message.command.actor.via == "slack"
    with pytest.raises(InvalidSignature):
        parse_command(new_webhook_secret(), headers, body)  # another agent's secret
    with pytest.raises(InvalidSignature):
        parse_command(secret, headers, body.replace(b"approve", b"reject_"))  # tampered
    old = signed_headers(secret, "cmd_1", body, timestamp=int(time.time()) - 600)
    with pytest.raises(InvalidSignature, match="tolerance"):
        parse_command(secret, old, body)  # replayed
