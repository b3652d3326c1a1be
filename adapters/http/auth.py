"""Bearer-token authentication of agents, as a FastAPI dependency.

A client that keeps sending unknown tokens (guessing, or a misconfigured agent in a loop) is
slowed down: past `auth_failures_per_s` failures a second it gets 429 with Retry-After, without
a database lookup, while clients with valid tokens are not affected."""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from opslayer.bot.people.tokens import TokenAuthenticator
from opslayer.bot.ports import Agent

_bearer = HTTPBearer(auto_error=False, description="An agent token from `opslayer token create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_CLIENTS_LIMIT = 10_000


class FailureLimiter:
    """A token bucket of authentication failures per client address (bounded)."""

    def __init__(self, *, per_s: float, burst: float | None = None) -> None:
        self._rate = per_s
        self._burst = burst if burst is not None else max(1.0, 2 * per_s)
        self._buckets: dict[str, tuple[float, float]] = {}  # client → (tokens, at)

    def _level(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (self._burst, now))
        return min(self._burst, tokens + (now - at) * self._rate)

    def blocked(self, client: str) -> float | None:
        """Seconds until this client may try again, when it spent its failures; else None."""
        now = time.monotonic()
        level = self._level(client, now)
        return None if level >= 1 else (1 - level) / self._rate

    def failed(self, client: str) -> None:
        now = time.monotonic()
        level = self._level(client, now)
        self._buckets.pop(client, None)
        self._buckets[client] = (level - 1, now)
        while len(self._buckets) > _CLIENTS_LIMIT:
            del self._buckets[next(iter(self._buckets))]


class RateLimiter:
    """A token bucket per key (an agent's name): `take` spends one request, or says how long
    to wait. Per replica: N replicas let an agent through N times the rate."""

    def __init__(self, *, per_s: float, burst: float | None = None) -> None:
        self.per_s = per_s
        self._burst = burst if burst is not None else max(1.0, 2 * per_s)
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def take(self, key: str) -> float | None:
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (self._burst, now))
        level = min(self._burst, tokens + (now - at) * self.per_s)
        if level < 1:
            self._buckets[key] = (level, now)
            return (1 - level) / self.per_s
        self._buckets[key] = (level - 1, now)
        if len(self._buckets) > _CLIENTS_LIMIT:
            del self._buckets[next(iter(self._buckets))]
        return None


async def current_agent(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Agent:
    """The agent whose token the request carries; 401 without a valid one, 429 for a client
    that keeps sending invalid ones."""
    if credentials is None:
        raise HTTPException(
            401, "missing bearer token: send 'Authorization: Bearer <token>'", _CHALLENGE
        )
    limiter: FailureLimiter = request.app.state.auth_failures
    client = request.client.host if request.client else "unknown"
    wait = limiter.blocked(client)
    if wait is not None:
        raise HTTPException(
            429,
            "too many requests with unknown tokens from this address; slow down",
            {"Retry-After": str(max(1, round(wait)))},
        )
    authenticator: TokenAuthenticator = request.app.state.core.authenticator
    agent = await authenticator.authenticate(credentials.credentials)
    if agent is None:
        limiter.failed(client)
        raise HTTPException(
            401, "unknown or revoked token: mint one with 'opslayer token create'", _CHALLENGE
        )
    rate: RateLimiter = request.app.state.agent_rate
    wait = rate.take(agent.name)
    if wait is not None:
        request.app.state.metrics.limited.labels(agent.name, "requests per second").inc()
        raise HTTPException(
            429,
            f"agent {agent.name!r} sends more than {rate.per_s:g} requests a second; slow down"
            " (or raise OPSLAYER_AGENT_RATE_PER_S)",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return agent


CurrentAgent = Annotated[Agent, Depends(current_agent)]
