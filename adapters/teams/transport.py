"""Bot Connector calls over one aiohttp session, instead of msrest's default: `requests` in the
default thread pool, with a session per client (msrest's own aiohttp driver drops headers and
body). The pipeline keeps msrest's user-agent, logging and deserialisation policies and adds the
bearer token the credentials already hold."""

from __future__ import annotations

from typing import Any

import aiohttp
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import AppCredentials
from msrest.pipeline import Request, SansIOHTTPPolicy
from msrest.pipeline.aiohttp import AioHTTPSender
from msrest.pipeline.async_abc import AsyncPipeline
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http import ClientRequest
from msrest.universal_http.aiohttp import AioHttpClientResponse
from msrest.universal_http.aiohttp import AioHTTPSender as AioHTTPDriver


class _Response(AioHttpClientResponse):
    def body(self) -> bytes:
        return self._body or b""  # msrest's raises on an empty body (a bare 429, say)


class _SessionDriver(AioHTTPDriver):
    """Sends msrest's requests on a shared aiohttp session (which the app closes)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:  # no session of its own
        self._session = session

    async def __aenter__(self) -> _SessionDriver:
        return self

    async def __aexit__(self, *exc_details: object) -> None:
        return None

    async def send(self, request: ClientRequest, **config: Any) -> _Response:
        data = request.data.encode() if isinstance(request.data, str) else request.data
        # msrest counts characters, not bytes: let aiohttp set the length.
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        answer = await self._session.request(
            request.method, request.url, headers=headers, data=data, allow_redirects=False
        )
        response = _Response(request, answer)
        await response.load_body()
        return response


class _Bearer(SansIOHTTPPolicy[ClientRequest, Any]):
    """The bot's token on every call (already fetched off the loop; no app id, no token)."""

    def __init__(self, credentials: AppCredentials) -> None:
        self._credentials = credentials

    def on_request(self, request: Request[ClientRequest], **kwargs: Any) -> None:
        if self._credentials.microsoft_app_id:
            token = self._credentials.get_access_token()
            request.http_request.headers["Authorization"] = f"Bearer {token}"


def over_aiohttp(client: ConnectorClient, session: aiohttp.ClientSession) -> ConnectorClient:
    """The same client, sending through `session`."""
    config = client.config
    config.pipeline = AsyncPipeline(
        [
            config.user_agent_policy,
            _Bearer(config.credentials),
            RawDeserializer(),
            config.http_logger_policy,
        ],
        AioHTTPSender(driver=_SessionDriver(session)),
    )
    return client
