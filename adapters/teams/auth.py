"""Bot Framework authentication, with botbuilder's blocking network calls moved off the loop.

botbuilder fetches Microsoft's signing keys with `requests` and the bot's outbound token with
MSAL, both synchronously, from inside coroutines: on the event loop they would stall every
request of the process for the length of a round trip to Microsoft. Here the keys are fetched
in a worker thread, and the outbound token is fetched in one ahead of its expiry, so the
synchronous `signed_session` that msrest calls only ever reads a token already in hand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import jwt
import requests
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    AuthenticationConstants,
    ClaimsIdentity,
    ConnectorFactory,
    GovernmentConstants,
    JwtTokenExtractor,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)
from botframework.connector.auth.jwt_token_extractor import _OpenIdMetadata
from msrest.authentication import Authentication

from opslayer.adapters.teams.transport import over_aiohttp

log = logging.getLogger("opslayer.teams")
_METADATA_URLS = (
    AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL,
    AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL,
    GovernmentConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL,
    GovernmentConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL,
)
# Refresh this long before expiry: inside the 5 minutes in which MSAL stops handing out a cached
# token, so asking it again really fetches a new one (sooner, it would return the same one).
_REFRESH_AHEAD_S = 240.0
_KEYS_TIMEOUT_S = 10.0


class OffLoopOpenIdMetadata(_OpenIdMetadata):  # type: ignore[misc]
    """Microsoft's signing keys for one metadata URL, refreshed in a worker thread."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._fetch)

    def _fetch(self) -> None:
        document = requests.get(self.url, timeout=_KEYS_TIMEOUT_S)
        document.raise_for_status()
        keys = requests.get(document.json()["jwks_uri"], timeout=_KEYS_TIMEOUT_S)
        keys.raise_for_status()
        self.keys = keys.json()["keys"]
        self.last_updated = datetime.now()

    def install(self, keys: list[dict[str, Any]]) -> None:
        """Take these keys as freshly fetched (tests: a local signing key)."""
        self.keys = keys
        self.last_updated = datetime.now()


def install_off_loop_key_fetching() -> None:
    """Put off-loop metadata in botbuilder's class-level cache for every URL it validates
    against, before any request arrives (botbuilder takes what is cached)."""
    for url in _METADATA_URLS:
        if not isinstance(JwtTokenExtractor.metadataCache.get(url), OffLoopOpenIdMetadata):
            JwtTokenExtractor.metadataCache[url] = OffLoopOpenIdMetadata(url)


def signing_keys(url: str = _METADATA_URLS[0]) -> OffLoopOpenIdMetadata:
    """The metadata botbuilder validates Bot Connector tokens against."""
    install_off_loop_key_fetching()
    metadata: OffLoopOpenIdMetadata = JwtTokenExtractor.metadataCache[url]
    return metadata


def fetch_token(credentials: AppCredentials) -> str:
    """Ask Microsoft Entra ID for the bot's outbound token (blocking: MSAL over HTTP)."""
    token: str = credentials.get_access_token()
    return token


def _expiry(token: str) -> float:
    """When a token expires (its `exp` claim), or in half an hour when it does not say."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return time.time() + 1800


class PrefetchedCredentials(AppCredentials):  # type: ignore[misc]
    """Credentials whose token was fetched off the loop; msrest reads it synchronously."""

    def __init__(self, inner: AppCredentials, fetch: Callable[[AppCredentials], str]) -> None:
        super().__init__(
            app_id=inner.microsoft_app_id,
            channel_auth_tenant=inner.tenant,
            oauth_scope=inner.oauth_scope,
        )
        self._inner = inner
        self._fetch = fetch
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def refresh_if_due(self) -> None:
        async with self._lock:
            if self._token is not None and time.time() < self._expires_at - _REFRESH_AHEAD_S:
                return
            token = await asyncio.to_thread(self._fetch, self._inner)
            self._token, self._expires_at = token, _expiry(token)

    def get_access_token(self, force_refresh: bool = False) -> str:
        if self._token is None:  # only if used outside the factory: blocking, but correct
            self._token = self._fetch(self._inner)
            self._expires_at = _expiry(self._token)
        return self._token


class PrefetchingCredentialFactory(ServiceClientCredentialsFactory):  # type: ignore[misc]
    """Wraps botbuilder's factory: one credentials object per audience, its token kept fresh
    in a worker thread before each use."""

    def __init__(
        self,
        inner: ServiceClientCredentialsFactory,
        *,
        fetch: Callable[[AppCredentials], str] | None = None,
    ) -> None:
        self._inner = inner
        self._fetch = fetch
        self._credentials: dict[tuple[str, str, str], PrefetchedCredentials] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        valid: bool = await self._inner.is_valid_app_id(app_id)
        return valid

    async def is_authentication_disabled(self) -> bool:
        disabled: bool = await self._inner.is_authentication_disabled()
        return disabled

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        if await self.is_authentication_disabled():
            anonymous: Authentication = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
            return anonymous
        key = (app_id, oauth_scope or "", login_endpoint or "")
        credentials = self._credentials.get(key)
        if credentials is None:
            inner = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
            # Looked up at call time, so a test can stand in for Microsoft Entra ID.
            credentials = PrefetchedCredentials(inner, self._fetch or _module_fetch)
            self._credentials[key] = credentials
        await credentials.refresh_if_due()
        return credentials

    async def refresh_due(self) -> None:
        """Refresh every token that is close to expiry (each in a worker thread)."""
        for credentials in list(self._credentials.values()):
            await credentials.refresh_if_due()


def _module_fetch(credentials: AppCredentials) -> str:
    return fetch_token(credentials)


class PooledConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    """One Bot Connector client per service URL and audience, kept for the process.

    botbuilder builds a client for every turn, and each opens its own HTTP session (a TLS
    handshake to the Bot Connector per message); a kept client reuses its connections."""

    def __init__(
        self,
        inner: ConnectorFactory,
        pool: dict[tuple[str, str], ConnectorClient],
        credentials: PrefetchingCredentialFactory,
        session: aiohttp.ClientSession,
    ) -> None:
        self._inner = inner
        self._pool = pool
        self._credentials = credentials
        self._session = session

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (service_url, audience or "")
        client = self._pool.get(key)
        if client is None:
            client = over_aiohttp(await self._inner.create(service_url, audience), self._session)
            self._pool[key] = client
        else:
            await self._credentials.refresh_due()  # a kept client reads its token synchronously
        return client


class PooledAuthentication(ConfigurationBotFrameworkAuthentication):  # type: ignore[misc]
    """botbuilder's configuration-driven authentication, with Bot Connector clients pooled
    and outbound tokens prefetched off the loop."""

    def __init__(self, configuration: Any, *, session: aiohttp.ClientSession) -> None:
        self._session = session
        self.credentials = PrefetchingCredentialFactory(
            ConfigurationServiceClientCredentialFactory(configuration)
        )
        super().__init__(configuration, credentials_factory=self.credentials)
        self._pool: dict[tuple[str, str], ConnectorClient] = {}
        self._token_clients: dict[str, UserTokenClient] = {}

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result: AuthenticateRequestResult = await super().authenticate_request(
            activity, auth_header
        )
        if result.connector_factory is not None:
            result.connector_factory = PooledConnectorFactory(
                result.connector_factory, self._pool, self.credentials, self._session
            )
        return result

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return PooledConnectorFactory(
            super().create_connector_factory(claims_identity),
            self._pool,
            self.credentials,
            self._session,
        )

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        # botbuilder builds one for every turn, for OAuth sign-in opslayer never uses, and each
        # costs ~4 ms of CPU on the loop (msrest builds its retry table). One per app id will do.
        app_id = str(claims_identity.claims.get("appid") or claims_identity.claims.get("aud"))
        client = self._token_clients.get(app_id)
        if client is None:
            client = await super().create_user_token_client(claims_identity)
            self._token_clients[app_id] = client
        return client
