"""Agent credentials: bearer tokens (stored only as hashes) and `whsec_` signing secrets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TypeVar

from opslayer.bot.errors import Conflict, NotFound, ValidationFailed
from opslayer.bot.ports import Agent, Clock, Store, SystemClock, UnitOfWork
from opslayer.bot.single_flight import SingleFlight

TOKEN_PREFIX = "opl_"
SECRET_PREFIX = "whsec_"
_CACHE_LIMIT = 10_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MintedToken:
    """What `opslayer token create` prints once: neither value can be read back later."""

    agent: str
    token: str
    webhook_secret: str


def hash_token(token: str) -> str:
    """SHA-256 is enough here: tokens carry 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


ROTATION_GRACE_S = 24 * 3600  # how long the old secret still signs after a rotation
USE_RESOLUTION_S = 60.0  # how often a token's last use is written


async def mint_token(
    store: Store,
    agent: str,
    *,
    rotate: bool = False,
    grace_s: float = ROTATION_GRACE_S,
    clock: Clock | None = None,
) -> MintedToken:
    """Create the agent with a token and signing secret; for a known agent, only when asked to
    `rotate`: a new token (the old ones keep working until revoked) and a new secret, the old
    secret signing every command beside it for `grace_s` (Standard Webhooks allows several
    `v1,` signatures), so the agent can switch without rejecting a command."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    secret = new_webhook_secret()
    async with store.transaction() as uow:
        known = await uow.agents.by_name(agent)
        if known is None and rotate:
            # A typo must not mint a live credential for an agent nobody runs.
            raise NotFound(
                f"no agent {agent!r} to rotate; `opslayer token list` shows the agents, and"
                f" `opslayer token create --agent {agent}` makes a new one"
            )
        if known is not None and not rotate:
            raise Conflict(
                f"agent {agent!r} exists, and its webhook verifies commands with the current"
                f" secret: `opslayer token rotate --agent {agent}` gives it a new token and"
                " secret (the old secret keeps signing for a day)"
            )
        now = (clock or SystemClock()).now()
        until = now + timedelta(seconds=grace_s) if known and grace_s > 0 else None
        await uow.agents.add(
            name=agent, token_hash=hash_token(token), webhook_secret=secret, previous_until=until
        )
    return MintedToken(agent=agent, token=token, webhook_secret=secret)


TOKEN_ID_LENGTH = 12  # characters of a token's hash that name it; `token revoke --id` takes 8+


def token_id(token_hash: str) -> str:
    """How `opslayer token list` names a token without showing it."""
    return token_hash[:TOKEN_ID_LENGTH]


async def revoke_tokens(
    store: Store, agent: str, *, token_id: str | None = None, token: str | None = None
) -> int:
    """Revoke every token of the agent, or one: named by its id (`token list`) or given
    whole (the one that leaked); return how many were live."""
    async with store.transaction() as uow:
        if await uow.agents.by_name(agent) is None:
            raise NotFound(f"no agent {agent!r}; `opslayer token list` shows the agents")
        if token is None and token_id is None:
            return await uow.agents.revoke(agent)
        if token is not None:
            return await uow.agents.revoke(agent, token_hash=hash_token(token))
        assert token_id is not None
        wanted = token_id.strip().lower()
        if len(wanted) < 8:
            raise ValidationFailed("give at least 8 characters of the token's id")
        mine = [t.token_hash for t in await uow.agents.tokens() if t.agent == agent]
        matching = [h for h in mine if h.startswith(wanted)]
        if len(matching) != 1:
            raise NotFound(
                f"{'no' if not matching else 'more than one'} token of {agent!r} with id"
                f" {wanted!r}; `opslayer token list` shows them"
            )
        return await uow.agents.revoke(agent, token_hash=matching[0])


class TokenAuthenticator:
    """Finds the agent behind a bearer token, caching answers to keep the hot path cheap.

    A known token is trusted for `ttl_s` seconds (a revoked token keeps working for at most
    that long in a running server). An unknown one is remembered as unknown much longer: token
    values are random and minted once, so a value nobody had yesterday is nobody's today, and a
    flood of made-up tokens costs one database lookup each, never more. Both caches are bounded
    and evict their oldest entries, so a flood of unknown tokens cannot push out known ones.
    """

    def __init__(
        self,
        store: Store,
        *,
        ttl_s: float,
        unknown_ttl_s: float = 600.0,
        limit: int = _CACHE_LIMIT,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._recorded: dict[str, float] = {}  # token hash → when its use was last written
        self._lookups: SingleFlight[str, Agent | None] = SingleFlight()
        self._writes: set[asyncio.Task[None]] = set()
        self._store = store
        self._ttl_s = ttl_s
        self._unknown_ttl_s = unknown_ttl_s
        self._limit = limit
        self._known: dict[str, tuple[float, Agent]] = {}
        self._unknown: dict[str, float] = {}
        self.lookups = 0  # database lookups made (a metric, and what tests count)

    async def authenticate(self, token: str) -> Agent | None:
        """The agent for this token, or None when it is unknown or revoked."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        key = hash_token(token)
        clock = time.monotonic()
        hit = self._known.get(key)
        if hit is not None and hit[0] > clock:
            self._note_use(key, clock)
            return hit[1]
        unknown_until = self._unknown.get(key)
        if unknown_until is not None and unknown_until > clock:
            return None
        # One lookup per token at a time: when the entry lapses under load, the fifty requests
        # in flight wait for the same read instead of queueing fifty on the database.
        return await self._lookups.run(key, partial(self._lookup, key))

    async def _lookup(self, key: str) -> Agent | None:
        clock = time.monotonic()
        self.lookups += 1
        async with self._store.read() as uow:
            agent = await uow.agents.by_token_hash(key)
        if agent is None:
            self._known.pop(key, None)
            _bounded_put(self._unknown, key, clock + self._unknown_ttl_s, self._limit)
        else:
            self._unknown.pop(key, None)
            _bounded_put(self._known, key, (clock + self._ttl_s, agent), self._limit)
            self._note_use(key, clock)
        return agent

    def _note_use(self, key: str, clock: float) -> None:
        """`token list` shows when a token was last used: written at most once a minute per
        token, in the background, so the request path never waits for it."""
        if clock - self._recorded.get(key, -USE_RESOLUTION_S) < USE_RESOLUTION_S:
            return
        _bounded_put(self._recorded, key, clock, self._limit)
        at = self._clock.now()

        async def write(uow: UnitOfWork) -> None:
            await uow.agents.used(key, at=at)

        async def record() -> None:
            try:
                await self._store.run(write)
            except Exception:  # a last-use stamp is not worth an error
                return

        task = asyncio.get_running_loop().create_task(record())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def forget(self) -> None:
        """Drop every cached answer (after a revocation in this process)."""
        self._known.clear()
        self._unknown.clear()


def _bounded_put(cache: dict[str, T], key: str, value: T, limit: int) -> None:
    """Insert as the newest entry; past `limit`, the oldest go (dicts keep insertion order)."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > limit:
        del cache[next(iter(cache))]
