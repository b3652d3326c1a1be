"""A person at the console over HTTP: their own cookie jar on the bot's app, signed in with a
real one-time link, and the CSRF token their pages carry."""

from __future__ import annotations

import re
from typing import Any

import httpx

from opslayer.adapters.web.console import Console
from opslayer.bot.audit import Via
from opslayer.bot.people.model import Identity
from tests.harness import BotClient

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Person:
    """One browser: signs in, reads pages, submits the forms they show."""

    def __init__(self, bot: BotClient, *, base_url: str = "http://opslayer.test") -> None:
        self.bot = bot
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=bot.app), base_url=base_url)
        self.csrf = ""

    async def __aenter__(self) -> Person:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.http.aclose()

    @property
    def console(self) -> Console:
        console: Console = self.bot.app.state.console
        return console

    async def link_for(self, email: str) -> str:
        async with self.bot.store.read() as uow:
            person = await uow.people.find(Identity(email=email))
        assert person is not None, email
        return await self.console.sign_in.link(person, via=Via.CLI)

    async def sign_in(self, email: str) -> httpx.Response:
        token = await self.link_for(email)
        shown = await self.http.get(f"/login/{token}")
        assert shown.status_code == 200, shown.text
        answer = await self.http.post(f"/login/{token}", data={"next": "/"})
        assert answer.status_code == 303, answer.text
        await self.page("/")
        return answer

    async def page(self, path: str) -> httpx.Response:
        answer = await self.http.get(path)
        found = _CSRF.search(answer.text)
        if found:
            self.csrf = found[1]
        return answer

    async def act(self, run_id: str, verb: str, **fields: Any) -> httpx.Response:
        """Submit a run page's form, with this session's CSRF token unless one is given."""
        data = {"csrf": self.csrf, **{k: str(v) for k, v in fields.items()}}
        return await self.http.post(f"/runs/{run_id}/{verb}", data=data)

    async def flash(self, run_id: str) -> str:
        """The note the run page shows after an action (once)."""
        page = await self.page(f"/runs/{run_id}")
        found = re.search(r'<p class="flash[^"]*" role="status">(.*?)</p>', page.text, re.S)
        return found[1] if found else ""
