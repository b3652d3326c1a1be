"""Simulated agents: each registers its runs through the real agent API (the agent SDK over
HTTP), takes signed commands on a webhook served beside opslayer, and answers them as a real
agent would: approved work is done, a retry starts over, a cancel ends the run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from opslayer_client import InvalidSignature, OpslayerClient, parse_command
from opslayer_client.contract import CommandBody

log = logging.getLogger("opslayer.demo")

Situation = Callable[["DemoAgent"], Awaitable[None]]


@dataclass
class DemoAgent:
    """One simulated agent: its credentials, its runs (external id → run id) and its inbox."""

    name: str
    token: str
    secret: str
    base_url: str
    owner: str
    situations: list[Situation]
    inbox: asyncio.Queue[CommandBody] = field(default_factory=asyncio.Queue)
    runs: dict[str, str] = field(default_factory=dict)
    client: OpslayerClient | None = None
    seen: set[str] = field(default_factory=set)  # a retried delivery repeats the command id

    @property
    def api(self) -> OpslayerClient:
        assert self.client is not None
        return self.client

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/demo/agents/{self.name}/webhook"

    async def register(self, external_id: str, title: str, **fields: Any) -> str:
        run = await self.api.register_run(
            {
                "external_id": external_id,
                "title": title,
                "owner": {"email": fields.pop("owner", self.owner)},
                "webhook_url": self.webhook_url,
                **fields,
            }
        )
        self.runs[external_id] = run.id
        return run.id

    async def work(self, run_id: str, steps: list[str], *, pause_s: float = 1.0) -> None:
        for number, step in enumerate(steps, 1):
            await self.api.heartbeat(run_id, step=step, progress=number / (len(steps) + 1))
            await asyncio.sleep(pause_s)

    async def live(self) -> None:
        """Play the situations, then answer commands for as long as the demo runs."""
        async with OpslayerClient(self.base_url, self.token) as client:
            self.client = client
            for situation in self.situations:
                try:
                    await situation(self)
                except Exception:  # one broken scene must not end the demo
                    log.exception("demo agent %s: a situation failed", self.name)
            while True:
                command = await self.inbox.get()
                try:
                    await self.answer(command)
                except Exception:
                    log.exception("demo agent %s: answering %s failed", self.name, command.kind)

    async def answer(self, command: CommandBody) -> None:
        """What a well-behaved agent does with each command."""
        run_id = command.run_id
        who = command.actor.name
        decision = command.decision
        await self.api.ack(command.id, message=f"{self.name} got it")
        if command.kind == "approve":
            arguments = decision.arguments if decision else None
            await self.api.report_status(run_id, "running", reason=f"approved by {who}")
            await self.work(run_id, ["carry out what was approved"], pause_s=2)
            effect = {
                "key": f"{command.external_id}:done",
                "idempotent": False,
                "description": f"did it with {arguments}" if arguments else "did it as asked",
            }
            await self.api.checkpoint(
                run_id, {"checkpoint_id": "done", "step": "act", "side_effects": [effect]}
            )
            await self.api.report_status(run_id, "succeeded")
        elif command.kind in ("reject", "cancel"):
            said = (decision.message if decision else None) or command.reason or command.kind
            await self.api.report_status(run_id, "canceled", reason=said)
        elif command.kind == "pause":
            await self.api.report_status(run_id, "paused", reason=f"paused by {who}")
        elif command.kind in ("resume", "retry"):
            where = command.from_checkpoint_id or "the start"
            await self.api.report_status(run_id, "running", reason=f"{command.kind} from {where}")
            skipped = ", ".join(command.skip_side_effects or []) or "nothing"
            await self.work(run_id, [f"start again from {where}, skipping {skipped}"], pause_s=3)
            await self.api.report_status(run_id, "succeeded")
        elif command.kind == "reassign":
            await self.api.heartbeat(run_id, message=f"now working for {command.new_owner}")


def webhook_router(agents: dict[str, DemoAgent]) -> APIRouter:
    """The simulated agents' webhooks: each delivery verified with that agent's secret."""
    router = APIRouter(include_in_schema=False)

    @router.post("/demo/agents/{name}/webhook")
    async def webhook(name: str, request: Request) -> Response:
        agent = agents.get(name)
        if agent is None:
            return Response(status_code=410)
        try:
            message = parse_command(agent.secret, dict(request.headers), await request.body())
        except (InvalidSignature, ValueError):
            return Response(status_code=401)
        if message.command.id not in agent.seen:
            agent.seen.add(message.command.id)
            agent.inbox.put_nowait(message.command)
        return Response(status_code=204)

    return router


def soon(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)
