"""A local fake of the Slack Web API that slack_sdk talks to through `base_url`; it records
every call, takes what Bolt posts to `response_url`s, and plays Slack's Socket Mode endpoint
(`apps.connections.open` hands out its WebSocket URL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.local_server import serving


@dataclass
class FakeSlack:
    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response_url
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    # email → user id: users.lookupByEmail, and users.info the other way (a confirmed email)
    users: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # user id → the name in their profile
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)  # what the app sent back on a socket
    fail: dict[str, str] = field(default_factory=dict)  # method → the error its next call gets

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
        if name in self.fail:
            return web.json_response({"ok": False, "error": self.fail.pop(name)})
        answer: dict[str, Any] = {"ok": True}
        if name == "apps.connections.open":
            answer.update(url=self.url.replace("http://", "ws://") + "/link")
        elif name == "auth.test":
            answer.update(user_id="UBOT", bot_id="BBOT", team_id="T1", team="Team", user="opslayer")
        elif name == "users.lookupByEmail":
            user = self.users.get(str(body.get("email") or request.query.get("email")))
            answer = (
                {"ok": True, "user": {"id": user}}
                if user
                else {"ok": False, "error": "users_not_found"}
            )
        elif name == "users.info":
            # The email Slack confirms for a member: the reverse of users.lookupByEmail.
            user_id = str(body.get("user"))
            email = next((e for e, u in self.users.items() if u == user_id), None)
            answer = (
                {
                    "ok": True,
                    "user": {
                        "id": user_id,
                        "is_email_confirmed": True,
                        "profile": {"email": email, "real_name": self.names.get(user_id, "")},
                    },
                }
                if email
                else {"ok": False, "error": "user_not_found"}
            )
        elif name == "chat.getPermalink":
            stamp = str(body.get("message_ts", "")).replace(".", "")
            answer.update(
                permalink=f"https://team.slack.test/archives/{body.get('channel')}/p{stamp}"
            )
        elif name in ("chat.postMessage", "chat.update"):
            answer.update(
                channel=body.get("channel"),
                ts=body.get("ts") or f"1700000000.{len(self.calls):06d}",
            )
            body["_ts"] = answer["ts"]  # what the message is known by, for the tests
        return web.json_response(answer)

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: hello, then whatever the test sends; acks are recorded."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"type": "hello", "num_connections": 1})
        await self._record(self.sockets, socket)
        async for message in socket:
            if message.type == web.WSMsgType.TEXT:
                await self._record(self.acks, json.loads(message.data))
        return socket

    async def envelope(self, kind: str, payload: dict[str, Any], envelope_id: str) -> None:
        """Send an event over the app's Socket Mode connection, as Slack does."""
        await self.wait_for(lambda: self.sockets)
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": False,
            }
        )

    async def respond(self, request: web.Request) -> web.Response:
        await self._record(self.responses, json.loads(await request.text()))
        return web.Response(text="ok")


@asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    app = web.Application()
    app.router.add_post("/api/{method}", fake.method)
    app.router.add_get("/api/{method}", fake.method)  # users.lookupByEmail and users.info are GETs
    app.router.add_post("/respond/{n}", fake.respond)
    app.router.add_get("/link", fake.link)
    async with serving(app) as url:
        fake.url = url
        yield fake
