"""Alerts reach someone even when a run's owner is gone: seen, with
OPSLAYER_ADMIN_SLACK_CHANNEL set and the owner removed, an approval went to the admins' channel
but a failure went nowhere (`{'slack': None, 'teams': None}`): the composition root never gave
the agent's use cases the admins' channels."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opslayer.bot.people.changes import remove_person
from opslayer.bot.people.directory import add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.fake_slack import FakeSlack
from tests.harness import BotClient


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {"admin_slack_channel": "C-ADMIN"}


@pytest.mark.parametrize("ending", ["failure", "approval"])
async def test_an_alert_of_a_removed_owners_run_goes_to_the_admins_channel(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, ending: str
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    await add_person(client.store, identity=Identity(email="bob@example.com", name="Bob"))
    body = {"external_id": "b", "title": "Bob's import", "owner": {"email": "bob@example.com"}}
    run_id = (await client.post("/v1/runs", json=body, headers=auth)).json()["id"]
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
    await remove_person(client.store, client.core.clock, Identity(email="bob@example.com"))
    if ending == "failure":
        report = {"status": "failed", "error": "the import broke"}
        await client.post(f"/v1/runs/{run_id}/status", json=report, headers=auth)
    else:
        asked = {"request_id": "r", "title": "Import anyway?"}
        await client.post(f"/v1/runs/{run_id}/approvals", json=asked, headers=auth)
    await client.core.sync.sync()
    posted = slack.api("chat.postMessage")
    assert [m["channel"] for m in posted] == ["C-ADMIN"], json.dumps(posted)[:500]
    assert "Bob's import" in json.dumps(posted)
