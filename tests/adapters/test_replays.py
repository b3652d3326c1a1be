"""A signed request is acted on once: the same signed Slack click, or the same Teams activity,
sent again inside its signature's window is refused and issues nothing."""

from __future__ import annotations

import httpx

from opslayer.bot.people.tokens import MintedToken
from tests.agent_receiver import AgentReceiver
from tests.fake_slack import FakeSlack
from tests.harness import BotClient
from tests.slack_support import asks_approval, click, signed
from tests.support import eventually
from tests.teams_support import Teams, run_waiting_for_approval


async def _commands(client: httpx.AsyncClient, agent: MintedToken, run_id: str) -> list[str]:
    auth = {"Authorization": f"Bearer {agent.token}"}
    answer = (await client.get(f"/v1/runs/{run_id}/commands", headers=auth)).json()
    return [c["kind"] for c in answer]


async def test_a_replayed_slack_click_is_refused_and_issues_nothing(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    body = {"external_id": "j", "title": "T", "owner": {"email": "alice@example.com"}}
    run = await asks_approval(client, agent, body, running=True)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    pause = {"action_id": "opslayer_pause", "value": run["id"], "type": "button"}
    form = click(slack, "UALICE", pause)
    headers = signed(form)
    assert (await client.post("/slack/events", content=form, headers=headers)).status_code == 200

    async def paused() -> bool:  # Bolt acks first and acts after
        return await _commands(client, agent, run["id"]) == ["pause"]

    await eventually(paused)
    again = await client.post("/slack/events", content=form, headers=headers)
    assert again.status_code == 401 and "already received" in again.text
    assert await _commands(client, agent, run["id"]) == ["pause"]
    # A new click (newly signed) is a new request: it is not taken for a replay.
    fresh = signed(form, age_s=30)
    assert (await client.post("/slack/events", content=form, headers=fresh)).status_code == 200


async def test_a_replayed_teams_activity_is_refused_and_issues_nothing(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, card = await run_waiting_for_approval(bot, agent, receiver)
    approve = bot.click(card, "approve")
    first = await bot.send(approve)
    assert first.status_code == 200 and "You approved it" in first.text
    again = await bot.send(approve)  # the same activity (same id), with a valid token
    assert again.status_code == 200 and "already received" in again.text
    assert await _commands(bot.client, agent, run["id"]) == ["approve"]
