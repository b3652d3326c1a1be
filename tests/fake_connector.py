"""A local fake of the Bot Connector service that botbuilder talks to through the activity's
`serviceUrl`: it records every activity the bot posts, replies and updates, and the bearer token
each call carried; `script` makes it throttle (429) or fail the next calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.local_server import serving


@dataclass
class Call:
    method: str  # "create" (a conversation), "post", "reply" or "update"
    conversation: str
    activity_id: str | None
    body: dict[str, Any]
    authorization: str
    answered_id: str = ""  # the id the connector gave what was posted


@dataclass
class FakeConnector:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # member id → its record
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def cards(self) -> list[dict[str, Any]]:
        """Every Adaptive Card the bot sent or updated, in order."""
        return [
            a["content"]
            for c in self.calls
            for a in c.body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    async def wait_for(self, check: Any, within_s: float = 10.0) -> None:
        async with asyncio.timeout(within_s), self.changed:
            await self.changed.wait_for(check)

    async def _handle(self, request: web.Request, method: str) -> web.Response:
        body = await request.json()
        conversation = request.match_info.get("conversation", "")
        activity_id = request.match_info.get("activity")
        if self.script:
            status, headers = self.script.pop(0)
            return web.json_response(
                {"error": {"code": "Throttled", "message": "slow down"}},
                status=status,
                headers=headers,
            )
        async with self.changed:
            new_id = activity_id if method == "update" else f"act-{len(self.calls) + 1}"
            if method == "create":
                new_id = f"a:opened-{len(self.calls) + 1}"
            self.calls.append(
                Call(
                    method,
                    conversation,
                    activity_id,
                    body,
                    request.headers.get("Authorization", ""),
                    answered_id=str(new_id),
                )
            )
            self.changed.notify_all()
        return web.json_response({"id": new_id})

    async def member(self, request: web.Request) -> web.Response:
        """A conversation member as Teams describes it (email, UPN, Entra object id)."""
        found = self.members.get(request.match_info["member"])
        if found is None:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        return web.json_response(found)

    async def create(self, request: web.Request) -> web.Response:
        return await self._handle(request, "create")

    async def post(self, request: web.Request) -> web.Response:
        return await self._handle(request, "post")

    async def reply(self, request: web.Request) -> web.Response:
        return await self._handle(request, "reply")

    async def update(self, request: web.Request) -> web.Response:
        return await self._handle(request, "update")


@asynccontextmanager
async def fake_connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    app = web.Application()
    app.router.add_post("/v3/conversations", fake.create)
    app.router.add_post("/v3/conversations/{conversation}/activities", fake.post)
    app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", fake.reply)
    app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", fake.update)
    app.router.add_get("/v3/conversations/{conversation}/members/{member}", fake.member)
    async with serving(app) as url:
        fake.url = url
        yield fake
