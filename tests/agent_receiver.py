"""A local agent webhook receiver: records every delivery and answers as the test scripts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.local_server import serving


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class AgentReceiver:
    """Answers 200 unless `script` says otherwise: (status, headers) for the next calls."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hang: asyncio.Event | None = None  # while unset, requests are recorded, then left hanging
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.arrived:
            self.received.append(Received(dict(request.headers), body))
            self.arrived.notify_all()
        if self.hang is not None:
            await self.hang.wait()
        status, headers = self.script.pop(0) if self.script else (200, {})
        return web.Response(status=status, headers=headers, text="ok")

    async def wait_for(self, count: int, within_s: float = 10.0) -> list[Received]:
        """Until `count` deliveries arrived (or fail after `within_s`: never a fixed sleep)."""
        async with asyncio.timeout(within_s), self.arrived:
            await self.arrived.wait_for(lambda: len(self.received) >= count)
        return self.received


@asynccontextmanager
async def agent_receiver() -> AsyncIterator[AgentReceiver]:
    receiver = AgentReceiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    async with serving(app) as url:
        receiver.url = f"{url}/hook"
        yield receiver
