"""When a run ends, every alert of it ends too: seen, a canceled run's "credentials expire
soon" and a succeeded run's stale alert stayed in the inbox (and in Slack) 16 minutes later,
inflating the count; and an approval's message said "waiting for the agent" forever after the
run succeeded. Now each resolves, and its message says how the run ended."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from opslayer.bot.audit import Via
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.console_support import Person
from tests.fake_slack import FakeSlack
from tests.harness import BotClient
from tests.support import MovableClock


async def _run(client: BotClient, auth: dict[str, str], key: str, **more: Any) -> str:
    body = {"external_id": key, "title": f"Sync {key}", "owner": {"email": "alice@example.com"}}
    run_id: str = (await client.post("/v1/runs", json={**body, **more}, headers=auth)).json()["id"]
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth)
    return run_id


async def _synced(client: BotClient) -> None:
    await client.core.scanner.scan()
    await client.core.sync.sync()


def _updates(slack: FakeSlack) -> str:
    return json.dumps(slack.api("chat.update"))


async def test_a_run_that_ends_resolves_its_alerts_in_the_inbox_and_in_slack(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, clock: MovableClock
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    soon = (clock.now() + timedelta(minutes=20)).isoformat()
    expiring = await _run(client, auth, "crm")
    await client.post(
        f"/v1/runs/{expiring}/status",
        json={"status": "running", "auth_expires_at": soon},
        headers=auth,
    )
    paused = await _run(client, auth, "report", policy={"stale_after_s": 60})
    await client.post(f"/v1/runs/{paused}/status", json={"status": "paused"}, headers=auth)
    clock.advance(seconds=120)
    await _synced(client)
    posted = json.dumps(slack.api("chat.postMessage"))
    assert "credentials expire at" in posted and "Sync report" in posted
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        assert "<title>(2) Inbox" in (await alice.page("/")).text

        await client.post(f"/v1/runs/{expiring}/status", json={"status": "canceled"}, headers=auth)
        for status in ("running", "succeeded"):
            await client.post(f"/v1/runs/{paused}/status", json={"status": status}, headers=auth)
        await client.core.sync.sync()
        inbox = (await alice.page("/")).text
        assert "<title>(0) Inbox" in inbox and "credentials expire at" not in inbox
    updated = _updates(slack)
    assert "the run canceled" in updated and "the run succeeded" in updated


async def test_a_decisions_message_says_how_the_run_ended(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    run_id = await _run(client, auth, "ship", webhook_url="http://127.0.0.1:9/hook")
    asked = await client.post(
        f"/v1/runs/{run_id}/approvals", json={"request_id": "r", "title": "Ship?"}, headers=auth
    )
    await client.core.sync.sync()
    alice = await find_person(client.store, Identity(email="alice@example.com"))
    await client.operations.approvals.approve(asked.json()["id"], person=alice, via=Via.SLACK)
    await client.core.sync.sync()
    assert "Approved by Alice, waiting for the agent" in _updates(slack)
    for status in ("running", "succeeded"):
        await client.post(f"/v1/runs/{run_id}/status", json={"status": status}, headers=auth)
    await client.core.sync.sync()
    last = json.dumps(slack.api("chat.update")[-1])
    assert "Approved by Alice; the run succeeded" in last and "waiting for the agent" not in last


async def test_each_alert_says_its_fact_and_the_health_it_is_about(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack, clock: MovableClock
) -> None:
    """Seen: "credentials expire soon" never said when, "No sign of life" never since when,
    and stuck and stale alerts showed `health: ok`."""
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    expires = clock.now() + timedelta(minutes=20)
    expiring = await _run(client, auth, "crm")
    await client.post(
        f"/v1/runs/{expiring}/status",
        json={"status": "running", "auth_expires_at": expires.isoformat()},
        headers=auth,
    )
    silent = await _run(client, auth, "crawl", policy={"heartbeat_timeout_s": 60})
    await client.post(f"/v1/runs/{silent}/heartbeat", json={}, headers=auth)
    beat = clock.now()
    clock.advance(seconds=300)
    await _synced(client)
    posted = {m["text"]: m for m in slack.api("chat.postMessage")}
    expected = f"Sync crm: credentials expire at {expires:%d %b %H:%M} UTC"
    assert any(expected in text for text in posted), list(posted)
    [stuck] = [m for text, m in posted.items() if "No sign of life from Sync crawl" in text]
    assert f"since {beat:%d %b %H:%M} UTC" in stuck["text"]
    assert "stuck" in json.dumps(stuck["blocks"]) and '"ok"' not in json.dumps(stuck["blocks"])
