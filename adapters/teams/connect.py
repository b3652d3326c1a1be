"""Connecting Teams: botbuilder's CloudAdapter behind `POST /api/messages`, and the notifier."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import aiohttp
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from msrest.exceptions import ClientRequestError, HttpOperationError

from opslayer.adapters.chat.use_cases import UseCases
from opslayer.adapters.settings import Settings
from opslayer.adapters.teams.auth import PooledAuthentication, install_off_loop_key_fetching
from opslayer.adapters.teams.bot import OpslayerTeamsBot
from opslayer.adapters.teams.notifier import TeamsNotifier
from opslayer.bot.ports import Store
from opslayer.bot.replays import ReplayGuard

log = logging.getLogger("opslayer.teams")


def _refusal(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": "unauthorized" if status == 401 else "bad_request", "message": message},
        status_code=status,
    )


class TeamsConnection:
    """The adapter, its authentication, the notifier, and (once the use cases exist) the bot."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._replays: ReplayGuard | None = None
        if settings.microsoft_app_id is None:
            log.warning(
                "Teams: OPSLAYER_TEAMS_DEV is on and MicrosoftAppId is not set: /api/messages "
                "accepts UNAUTHENTICATED requests. Use this only with the Bot Framework Emulator."
            )
        elif settings.teams_dev:
            log.warning(
                "Teams: OPSLAYER_TEAMS_DEV is ignored: an app id is set, so every request "
                "to /api/messages must carry a valid Bot Framework token"
            )
        needs_password = settings.microsoft_app_type != "UserAssignedMSI"
        if settings.microsoft_app_id and settings.microsoft_app_password is None and needs_password:
            log.warning("Teams: MicrosoftAppPassword is not set: the bot cannot post")
        configuration = SimpleNamespace(
            APP_ID=settings.microsoft_app_id or "",
            APP_PASSWORD=(
                settings.microsoft_app_password.get_secret_value()
                if settings.microsoft_app_password
                else ""
            ),
            APP_TYPE=settings.microsoft_app_type,
            APP_TENANTID=settings.microsoft_app_tenant_id or "",
        )
        install_off_loop_key_fetching()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        self.authentication = PooledAuthentication(configuration, session=self._session)
        self.adapter = CloudAdapter(self.authentication)
        self.notifier = TeamsNotifier(
            self.adapter,
            app_id=configuration.APP_ID,
            store=store,
            spacing_s=settings.chat_spacing_s,
            public_url=settings.public_url,
        )
        self.bot: OpslayerTeamsBot | None = None

    def attach(self, use: UseCases, *, replays: ReplayGuard) -> None:
        """Give the connection what a turn acts through (built after the connection)."""
        self.bot = OpslayerTeamsBot(use)
        self._replays = replays

    async def close(self) -> None:
        await self._session.close()

    async def handle(self, request: Request) -> Response:
        """One activity from the Bot Connector: authenticate it, then run the bot's turn."""
        assert self.bot is not None and self._replays is not None, "attach() before serving"
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict) or not body.get("type"):
                raise ValueError("an activity is a JSON object with a type")
            activity = Activity().deserialize(body)
        except Exception as bad:  # msrest raises a zoo of types for a malformed activity
            return _refusal(400, f"not a Bot Framework activity: {bad}")
        header = request.headers.get("Authorization", "")  # a str always: None means "no auth"
        try:
            authenticated = await self.authentication.authenticate_request(activity, header)
        except Exception as refused:  # PermissionError, IndexError (unknown key), jwt errors…
            # A warning: when every request is refused, MicrosoftAppId is likely not the bot's.
            log.warning(
                "Teams: refused an activity without a valid token for app %s (%s: %s)",
                self.notifier.app_id or "-",
                type(refused).__name__,
                refused,
            )
            return _refusal(401, "the request does not carry a valid Bot Framework token")
        if activity.id and not await self._replays.first_sighting(
            f"teams:{activity.conversation.id if activity.conversation else ''}:{activity.id}",
            surface="teams",
        ):
            log.warning("Teams: ignored activity %s, received before", activity.id)
            if activity.type == "invoke":
                return JSONResponse(
                    {
                        "statusCode": 400,
                        "type": "application/vnd.microsoft.error",
                        "value": {"code": "BadRequest", "message": "already received"},
                    }
                )
            return Response(status_code=200)
        try:
            answer = await self.adapter.process_activity(authenticated, activity, self.bot.on_turn)
        except (ClientRequestError, HttpOperationError, aiohttp.ClientError) as unreachable:
            # The turn ran (what it changed is committed); only its answer did not get through.
            log.warning(
                "Teams: the Bot Connector at %s refused an answer: %s",
                activity.service_url,
                unreachable,
            )
            return JSONResponse(
                {
                    "error": "bad_gateway",
                    "message": f"the answer could not be sent to {activity.service_url}",
                },
                status_code=502,
            )
        if answer is not None:
            return JSONResponse(answer.body, status_code=int(answer.status))
        return Response(status_code=200)


def add_teams_route(app: FastAPI) -> None:
    """`POST /api/messages`: the messaging endpoint registered with the Azure Bot."""

    @app.post("/api/messages", include_in_schema=False)
    async def teams_messages(request: Request) -> Response:
        connection: TeamsConnection = request.app.state.teams
        return await connection.handle(request)
