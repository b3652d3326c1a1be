"""The agent API's busiest requests answered before FastAPI's per-request machinery.

A fleet's heartbeats and checkpoints, and the reads agents poll (their run, its pending
commands, their run list), are most of the traffic. Routing through every route, dependency
injection and FastAPI's middleware stack cost about two thirds of such a request's CPU on one
core, so they capped what one process serves. Here only the plain case is answered: a token this
replica knows, within its rate; a JSON body that validates with the route's own model; a read
already remembered. The work and the answer are the routes' own (`record_heartbeat`,
`record_checkpoint`, the read cache, `ops_error_answer`). Anything else (no or unknown token, a
body that does not validate, a read not remembered, any other route) goes on to FastAPI, which
stays the contract: the OpenAPI document and every other answer, errors included.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opslayer.adapters.core import Core
from opslayer.adapters.http.agent_api import record_checkpoint, record_heartbeat, router
from opslayer.adapters.http.auth import AUTHENTICATED, admit
from opslayer.adapters.http.errors import internal_error_answer, ops_error_answer
from opslayer.adapters.http.read_cache import ReadCache, answer_key
from opslayer.bot.errors import OpsError
from opslayer_client.contract import CheckpointIn, Heartbeat

log = logging.getLogger("opslayer.http")
# A run id as the routes take it (`RunId`: at most 200 characters, no NUL), without a slash.
_RUN = r"(?P<run>[^/\x00]{1,200})"
_JSON = {b"application/json", b"application/json; charset=utf-8"}
# What a hot write does, given the agent, the run id and the validated body: (status, answer).
Write = Callable[[Core, ReadCache, str, str, Any], Awaitable[tuple[int, bytes]]]


class _Hot:
    """One hot route: its template (for metrics), its path as a pattern, and for a write, the
    route's body model and what it does."""

    def __init__(
        self,
        method: str,
        template: str,
        write: Write | None = None,
        model: type[BaseModel] | None = None,
    ) -> None:
        self.method = method
        self.template = template
        self.pattern = re.compile(template.replace("{run_id}", _RUN) + "$")
        self.write = write
        self.model = model


_HOT = (
    _Hot("GET", "/v1/runs"),
    _Hot("GET", "/v1/runs/{run_id}"),
    _Hot("GET", "/v1/runs/{run_id}/commands"),
    _Hot("POST", "/v1/runs/{run_id}/heartbeat", record_heartbeat, Heartbeat),
    _Hot("POST", "/v1/runs/{run_id}/checkpoints", record_checkpoint, CheckpointIn),
)


class AgentHotPath:
    """ASGI middleware in front of the FastAPI app `api` (inside the body limit and metrics)."""

    def __init__(self, app: ASGIApp, *, api: FastAPI) -> None:
        self.app = app
        self.api = api
        routes = {
            (method, route.path): route
            for route in router.routes
            if isinstance(route, APIRoute)
            for method in route.methods or ()
        }
        # The route each hot path stands for, so metrics label it as FastAPI would.
        self._routes = {hot.template: routes[(hot.method, hot.template)] for hot in _HOT}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/runs"):
            await self.app(scope, receive, send)
            return
        for hot in _HOT:
            if scope["method"] == hot.method and (found := hot.pattern.match(scope["path"])):
                break
        else:
            await self.app(scope, receive, send)
            return
        token = _bearer_token(scope)
        if token is None:  # the route says what is missing
            await self.app(scope, receive, send)
            return
        scope["route"] = self._routes[hot.template]
        state = self.api.state
        client = scope["client"][0] if scope.get("client") else "unknown"
        try:
            agent = await admit(state, token, client)
        except HTTPException as refused:  # as FastAPI answers it
            refusal = JSONResponse({"detail": refused.detail}, refused.status_code, refused.headers)
            await refusal(scope, receive, send)
            return
        scope[AUTHENTICATED] = agent  # the route below must not authenticate or charge again
        if hot.write is None:
            try:
                known = await state.read_cache.current(agent.name, answer_key(scope))
            except OpsError as refused:  # the run was removed since (pruned)
                await ops_error_answer(refused, state.metrics)(scope, receive, send)
                return
            if known is None:
                await self.app(scope, receive, send)
            else:
                await _send(send, 200, known)
            return
        body = await _body(receive)
        if body is None:  # the client went away, or the body limit answered 413
            return
        assert hot.model is not None
        try:
            if _header(scope, b"content-type") not in _JSON:
                raise ValueError("not JSON")
            request = hot.model.model_validate(json.loads(body))
        except Exception:  # not JSON, too deep, or not the model: FastAPI explains (400, 422)
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            answer = await hot.write(
                state.core, state.read_cache, agent.name, found["run"], request
            )
        except OpsError as refused:
            await ops_error_answer(refused, state.metrics)(scope, receive, send)
            return
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            await internal_error_answer()(scope, receive, send)
            return
        await _send(send, *answer)


def _bearer_token(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer <token>`, as FastAPI's HTTPBearer reads it."""
    authorization = _header(scope, b"authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then whatever comes after it."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _send(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
