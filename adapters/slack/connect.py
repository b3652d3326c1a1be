"""Connecting Slack: the Web API client, and Bolt over HTTP (`/slack/events`) or Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import aiohttp
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from opslayer.adapters.chat.use_cases import UseCases
from opslayer.adapters.settings import Settings
from opslayer.adapters.slack.bolt_app import build_bolt_app
from opslayer.adapters.slack.notifier import SlackNotifier
from opslayer.bot.replays import ReplayGuard

log = logging.getLogger("opslayer.slack")
SLACK_API = "https://slack.com/api/"


def slack_client(settings: Settings, session: aiohttp.ClientSession) -> AsyncWebClient:
    """One client on the app's shared HTTP session; a 429 is retried after Retry-After (this
    client posts from the background, never on a path that owes Slack an ack)."""
    assert settings.slack_bot_token is not None
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url or SLACK_API,
        session=session,
    )
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


@dataclass
class SlackConnection:
    """What the lifespan holds: the HTTP handler for `/slack/events`, or a Socket Mode link."""

    http: AsyncSlackRequestHandler | None
    socket: AsyncSocketModeHandler | None
    verifier: SignatureVerifier | None = None
    replays: ReplayGuard | None = None
    connected: bool = False  # Socket Mode: the link is up (HTTP needs no link)
    _connecting: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def state(self) -> str:
        """What /readyz and /metrics say of Slack: connected, or connecting (Socket Mode)."""
        return "connected" if self.socket is None or self.connected else "connecting"

    def connect_in_background(
        self, *, first_retry_s: float = 1.0, max_retry_s: float = 60.0
    ) -> None:
        """Open the Socket Mode link without holding up start-up: Slack down (or unreachable)
        must not keep the agent API and the console from serving, nor a signal from stopping
        the server. Tries again with back-off until it is up, or the server stops."""
        if self.socket is None:
            return
        socket = self.socket

        async def keep_trying() -> None:
            delay = first_retry_s
            while True:
                try:
                    await socket.connect_async()  # type: ignore[no-untyped-call]
                except Exception as error:
                    log.warning(
                        "Slack: cannot connect over Socket Mode (%s); trying again in %g s",
                        error,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, max_retry_s)
                    continue
                self.connected = True
                log.info("Slack: connected over Socket Mode")
                return

        self._connecting = asyncio.get_running_loop().create_task(keep_trying())

    async def replayed(self, request: Request) -> bool:
        """True for a request whose valid signature was seen before (within its 5 minutes,
        Bolt would accept it again). Forged signatures are left to Bolt, which refuses them."""
        if self.verifier is None or self.replays is None:
            return False
        body = (await request.body()).decode("utf-8", "replace")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not self.verifier.is_valid(body, timestamp, signature):
            return False
        return not await self.replays.first_sighting(f"slack:{signature}", surface="slack")

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self.socket is not None:
            with contextlib.suppress(Exception):  # a link that never came up closes as well
                async with asyncio.timeout(5):
                    await self.socket.close_async()  # type: ignore[no-untyped-call]


async def connect_slack(
    settings: Settings,
    *,
    client: AsyncWebClient,
    use: UseCases,
    replays: ReplayGuard,
) -> SlackConnection:
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    bolt = build_bolt_app(
        client=client, signing_secret=secret, use=use, command=settings.slack_command
    )
    socket = None
    if settings.slack_app_token is not None:
        socket = AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
    connection = SlackConnection(
        http=AsyncSlackRequestHandler(bolt) if secret else None,
        socket=socket,
        verifier=SignatureVerifier(secret) if secret else None,
        replays=replays,
    )
    # connect_async in a task, not start_async(): that one sleeps forever, and even a connect
    # awaited here would hold up start-up for as long as Slack is unreachable
    connection.connect_in_background()
    return connection


def slack_notifier(client: AsyncWebClient, settings: Settings) -> SlackNotifier:
    return SlackNotifier(
        client,
        spacing_s=settings.chat_spacing_s,
        command=settings.slack_command,
        public_url=settings.public_url,
    )


def add_slack_route(app: FastAPI) -> None:
    """`POST /slack/events`: events, clicks and slash commands on one route; Bolt checks the
    signature (and answers 401 when it is forged or older than five minutes)."""

    @app.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        connection: SlackConnection = request.app.state.slack
        assert connection.http is not None
        if await connection.replayed(request):
            log.warning("Slack: refused a replayed request (its signature was used before)")
            return JSONResponse({"detail": "this signed request was already received"}, 401)
        answer: Response = await connection.http.handle(request)
        return answer
