"""A local fake of the Slack Web API that slack_sdk talks to through `base_url`; it records
every call, and also takes what Bolt posts to `response_url`s."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeSlack:
    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response_url
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    users: dict[str, str] = field(default_factory=dict)  # email → user id, for users.lookupByEmail

    def api(self, method: str) -> list[dict[str, Any]]:
        return [body for name, body in self.calls if name == method]

    async def wait_for(self, check: Any, within_s: float = 10.0) -> None:
        async with asyncio.timeout(within_s), self.changed:
            await self.changed.wait_for(check)

    async def _record(self, into: list[Any], item: Any) -> None:
        async with self.changed:
            into.append(item)
            self.changed.notify_all()

    async def method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        if request.method == "GET":
            body: dict[str, Any] = dict(request.query)
        elif request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        await self._record(self.calls, (name, body))
        answer: dict[str, Any] = {"ok": True}
        if name == "auth.test":
            answer.update(user_id="UBOT", bot_id="BBOT", team_id="T1", team="Team", user="opslayer")
        elif name == "users.lookupByEmail":
            user = self.users.get(str(body.get("email") or request.query.get("email")))
            answer = (
                {"ok": True, "user": {"id": user}}
                if user
                else {"ok": False, "error": "users_not_found"}
            )
        elif name in ("chat.postMessage", "chat.update"):
            answer.update(
                channel=body.get("channel"),
                ts=body.get("ts") or f"1700000000.{len(self.calls):06d}",
            )
        return web.json_response(answer)

    async def respond(self, request: web.Request) -> web.Response:
        await self._record(self.responses, json.loads(await request.text()))
        return web.Response(text="ok")


@asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    app = web.Application()
    app.router.add_post("/api/{method}", fake.method)
    app.router.add_get("/api/{method}", fake.method)  # users.lookupByEmail is a GET
    app.router.add_post("/respond/{n}", fake.respond)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()
