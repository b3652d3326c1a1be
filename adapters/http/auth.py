"""Bearer-token authentication of agents, as a FastAPI dependency.

A client that keeps sending unknown tokens (guessing, or a misconfigured agent in a loop) is
slowed down: past `auth_failures_per_s` failures a second it gets 429 with Retry-After, without
a database lookup, while clients with valid tokens are not affected."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from opslayer.bot.people.tokens import TokenAuthenticator
from opslayer.bot.ports import Agent

_bearer = HTTPBearer(auto_error=False, description="An agent token from `opslayer token create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_CLIENTS_LIMIT = 10_000
# Where the hot path (hot_path.py) leaves the agent it authenticated and charged for a request
# it hands on: the route takes it from there instead of authenticating and charging again.
AUTHENTICATED = "opslayer.agent"


class TokenBucket:
    """A token bucket per key (a client address, an agent's name), bounded in keys: `wait`
    says how long until the key may spend again, `spend` takes one. Per replica."""

    def __init__(self, *, per_s: float, burst: float | None = None) -> None:
        self.per_s = per_s
        self._burst = burst if burst is not None else max(1.0, 2 * per_s)
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - at) * self.per_s)

    def wait(self, key: str) -> float | None:
        """Seconds until `key` has a token again; None when it has one now."""
        level = self._level(key, time.monotonic())
        return None if level >= 1 else (1 - level) / self.per_s

    def spend(self, key: str) -> None:
        now = time.monotonic()
        level = self._level(key, now)
        self._buckets.pop(key, None)
        self._buckets[key] = (level - 1, now)
        while len(self._buckets) > _CLIENTS_LIMIT:
            del self._buckets[next(iter(self._buckets))]

    def take(self, key: str) -> float | None:
        """Spend a token if there is one (None), else say how long to wait."""
        wait = self.wait(key)
        if wait is None:
            self.spend(key)
        return wait


async def admit(state: Any, token: str, client: str) -> Agent:
    """The agent whose `token` this is, charged one request against its rate; else 401, or 429
    for an address that keeps sending unknown tokens or an agent over its rate (both counted).
    `state` is the app's: its authenticator, limiters and metrics."""
    failures: TokenBucket = state.auth_failures
    wait = failures.wait(client)
    if wait is not None:
        raise HTTPException(
            429,
            "too many requests with unknown tokens from this address; slow down",
            {"Retry-After": str(max(1, round(wait)))},
        )
    authenticator: TokenAuthenticator = state.core.authenticator
    agent = await authenticator.authenticate(token)
    if agent is None:
        failures.spend(client)
        raise HTTPException(
            401, "unknown or revoked token: mint one with 'opslayer token create'", _CHALLENGE
        )
    rate: TokenBucket = state.agent_rate
    wait = rate.take(agent.name)
    if wait is not None:
        state.metrics.limited.labels(agent.name, "requests per second").inc()
        raise HTTPException(
            429,
            f"agent {agent.name!r} sends more than {rate.per_s:g} requests a second; slow down"
            " (or raise OPSLAYER_AGENT_RATE_PER_S)",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return agent


async def current_agent(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Agent:
    """The agent whose token the request carries (see `admit`); 401 without one."""
    already: Agent | None = request.scope.get(AUTHENTICATED)
    if already is not None:
        return already
    if credentials is None:
        raise HTTPException(
            401, "missing bearer token: send 'Authorization: Bearer <token>'", _CHALLENGE
        )
    client = request.client.host if request.client else "unknown"
    return await admit(request.app.state, credentials.credentials, client)


CurrentAgent = Annotated[Agent, Depends(current_agent)]
