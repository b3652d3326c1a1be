"""Fixtures of the adapters' tests: the agent's webhook receiver, and Teams with its fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from opslayer.adapters.cli import main
from opslayer.adapters.settings import Settings
from opslayer.bot.people.directory import add_group, add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken, mint_token
from tests.agent_receiver import AgentReceiver, agent_receiver
from tests.bot_framework import (
    APP_ID,
    BOT_ID,
    SigningKey,
    install,
    new_key,
)
from tests.fake_connector import FakeConnector, fake_connector
from tests.fake_slack import FakeSlack, fake_slack
from tests.harness import BotClient, running
from tests.slack_support import SECRET
from tests.support import MovableClock
from tests.teams_support import (
    ALICE,
    BOB,
    CHANNEL,
    ENTRA_THREADS,
    Teams,
    entra_stand_in,
)


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[AgentReceiver]:
    async with agent_receiver() as r:
        yield r


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """The key Bot Connector tokens are signed with here; Entra ID's outbound token, stood in."""
    signing = new_key()
    install(signing)
    ENTRA_THREADS.clear()
    monkeypatch.setattr("opslayer.adapters.teams.auth.fetch_token", entra_stand_in)
    return signing


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """For the CLI tests: a SQLite file the CLI finds through OPSLAYER_DATABASE_URL, as in
    production."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("OPSLAYER_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0  # only serve and `db upgrade` create a database
    return url


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    """Settings a test module adds to the bot's (override this fixture there)."""
    return {}


@pytest.fixture
async def teams(
    db_url: str,
    connector: FakeConnector,
    key: SigningKey,
    clock: MovableClock,
    extra_settings: dict[str, Any],
) -> AsyncIterator[tuple[Teams, MintedToken]]:
    """The bot with Teams on; Alice (payments) and Bob are known; the bot is in the channel."""
    settings = Settings(
        database_url=db_url,
        microsoft_app_id=APP_ID,
        microsoft_app_password="app-secret",
        run_cache_ttl_s=0,
        chat_spacing_s=0,  # the pacer has tests of its own; these never wait on wall time
        **extra_settings,
    )
    async with running(settings, clock) as client:
        store = client.store
        await add_group(store, name="payments", teams_channel=CHANNEL)
        await add_person(
            store,
            identity=Identity(email="alice@example.com", name="Alice", teams_user_id=ALICE),
            group="payments",
        )
        await add_person(
            store, identity=Identity(email="bob@example.com", name="Bob", teams_user_id=BOB)
        )
        minted = await mint_token(store, "billing-bot")
        bot = Teams(client, connector, key)
        installed = bot.activity(
            "conversationUpdate", membersAdded=[{"id": BOT_ID, "name": "opslayer"}]
        )
        assert (await bot.send(installed)).status_code == 200
        yield bot, minted


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as fake:
        yield fake


@pytest.fixture
async def bot(
    db_url: str, slack: FakeSlack, clock: MovableClock, extra_settings: dict[str, Any]
) -> AsyncIterator[tuple[BotClient, MintedToken]]:
    """The bot with Slack on over HTTP, its Web API pointed at the fake; Alice is in #payments."""
    settings = Settings(
        database_url=db_url,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=f"{slack.url}/api/",
        run_cache_ttl_s=0,
        chat_spacing_s=0,
        **extra_settings,
    )
    async with running(settings, clock) as client:
        store = client.store
        await add_group(store, name="payments", slack_channel="C-PAY")
        await add_person(
            store,
            identity=Identity(email="alice@example.com", name="Alice", slack_user_id="UALICE"),
            group="payments",
        )
        yield client, await mint_token(store, "billing-bot")
