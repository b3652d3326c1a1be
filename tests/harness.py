"""The bot under test, typed: its real ASGI app with the lifespan running, an HTTP client on it,
and the app's parts (the core's use cases, the store, the chat surfaces' use cases) at hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from opslayer.adapters.app import create_app
from opslayer.adapters.chat.use_cases import UseCases
from opslayer.adapters.core import Core
from opslayer.adapters.settings import Settings
from opslayer.adapters.webhooks.deliverer import Deliverer
from opslayer.bot.operations import Operations
from opslayer.bot.ports import Store
from tests.support import MovableClock


class BotClient(httpx.AsyncClient):
    """An HTTP client on the bot's app (requests go through the real ASGI stack), with the
    app's parts as typed attributes, so a test never reaches into `app.state` by guesswork."""

    def __init__(self, app: FastAPI, clock: MovableClock) -> None:
        super().__init__(transport=httpx.ASGITransport(app=app), base_url="http://opslayer.test")
        self.app = app
        self.clock = clock

    @property
    def core(self) -> Core:
        core: Core = self.app.state.core
        return core

    @property
    def store(self) -> Store:
        return self.core.store

    @property
    def operations(self) -> Operations:
        return self.core.operations

    @property
    def use(self) -> UseCases:
        use: UseCases = self.app.state.use_cases
        return use

    @property
    def deliverer(self) -> Deliverer:
        deliverer: Deliverer = self.app.state.deliverer
        return deliverer

    @property
    def settings(self) -> Settings:
        settings: Settings = self.app.state.settings
        return settings


@asynccontextmanager
async def running(settings: Settings, clock: MovableClock) -> AsyncIterator[BotClient]:
    """The bot on `settings`, started (migrations, chat surfaces, scheduler) and stopped."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app), BotClient(app, clock) as client:
        yield client
