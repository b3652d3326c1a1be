"""Agent credentials: bearer tokens (stored only as hashes) and `whsec_` signing secrets."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass

from bot.ports import Agent, Store

TOKEN_PREFIX = "opl_"
SECRET_PREFIX = "whsec_"
_CACHE_LIMIT = 10_000


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


async def mint_token(store: Store, agent: str) -> MintedToken:
    """Create the agent if new, and give it a fresh token and signing secret.

    Minting again for a known agent adds a token (the old ones keep working until revoked) and
    rotates the signing secret that commands are signed with.
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    secret = new_webhook_secret()
    async with store.transaction() as uow:
        await uow.agents.add(name=agent, token_hash=hash_token(token), webhook_secret=secret)
    return MintedToken(agent=agent, token=token, webhook_secret=secret)


async def revoke_tokens(store: Store, agent: str) -> int:
    """Revoke every token of the agent; return how many were live."""
    async with store.transaction() as uow:
        return await uow.agents.revoke(agent)


class TokenAuthenticator:
    """Finds the agent behind a bearer token, caching answers briefly to keep the hot path cheap.

    A revoked token keeps working for at most `ttl_s` seconds in a running server.
    """

    def __init__(self, store: Store, *, ttl_s: float) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Agent | None]] = {}

    async def authenticate(self, token: str) -> Agent | None:
        """The agent for this token, or None when it is unknown or revoked."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        key = hash_token(token)
        hit = self._cache.get(key)
        clock = time.monotonic()
        if hit is not None and hit[0] > clock:
            return hit[1]
        async with self._store.read() as uow:
            agent = await uow.agents.by_token_hash(key)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (clock + self._ttl_s, agent)
        return agent

    def forget(self) -> None:
        """Drop every cached answer (after a revocation in this process)."""
        self._cache.clear()
