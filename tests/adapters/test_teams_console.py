"""Teams and the console: `agent login` answers with a one-time link in a personal chat only,
and with OPSLAYER_PUBLIC_URL every card opens its run's console page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from opslayer.bot.people.tokens import MintedToken
from tests.adaptive_cards import assert_valid_cards
from tests.agent_receiver import AgentReceiver
from tests.console_support import Person
from tests.teams_support import ALICE, Teams, run_waiting_for_approval

PUBLIC = "https://ops.example.test"


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {"public_url": PUBLIC}


async def test_agent_login_answers_with_a_link_only_in_a_personal_chat(
    teams: tuple[Teams, MintedToken],
) -> None:
    bot, _ = teams
    said = len(bot.texts())
    assert (await bot.send(bot.say("agent login"))).status_code == 200  # in the channel
    in_channel = (await bot.replies(said + 1))[-1]
    assert "for your eyes only" in in_channel and "/login/" not in in_channel
    personal = bot.activity(
        text="agent login", conversation=f"a:personal-{ALICE}", conversation_type="personal"
    )
    assert (await bot.send(personal)).status_code == 200
    answer = (await bot.replies(said + 2))[-1]
    token = re.search(rf"{PUBLIC}/login/([\w-]+)", answer)
    assert token is not None, answer
    async with Person(bot.client) as alice:
        assert "Sign in as Alice" in (await alice.http.get(f"/login/{token[1]}")).text


async def test_every_card_opens_its_run_in_the_console(
    teams: tuple[Teams, MintedToken], receiver: AgentReceiver
) -> None:
    bot, agent = teams
    run, card = await run_waiting_for_approval(bot, agent, receiver)
    [opens] = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert opens == {
        "type": "Action.OpenUrl",
        "title": "Open in opslayer",
        "url": f"{PUBLIC}/runs/{run['id']}",
    }
    assert_valid_cards([card])
