"""The composition root: create_app(settings) wires store, service, routes and background work."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from opslayer.adapters.chat.log import LogNotifier
from opslayer.adapters.chat.use_cases import UseCases
from opslayer.adapters.http import agent_api, ops
from opslayer.adapters.http.auth import FailureLimiter
from opslayer.adapters.http.errors import install_error_handlers
from opslayer.adapters.http.limits import BodyLimit
from opslayer.adapters.http.ops import Metrics, RequestMetrics
from opslayer.adapters.webhooks.deliverer import Deliverer
from opslayer.adapters.webhooks.resolver import GuardedResolver
from opslayer.bot.config import Settings
from opslayer.bot.egress import Egress
from opslayer.bot.operations import Operations
from opslayer.bot.outbox import Outbox
from opslayer.bot.ports import ChatNotifier, Clock, SystemClock
from opslayer.bot.replays import ReplayGuard
from opslayer.bot.rights import Admins
from opslayer.bot.service import RunService
from opslayer.bot.subscriptions import Subscriptions
from opslayer.bot.tokens import TokenAuthenticator
from opslayer.bot.watch import Watch
from opslayer.scheduler.jobs import build_scheduler
from opslayer.scheduler.sync_loop import SyncLoop
from opslayer.store import migrate
from opslayer.store.engine import create_engine, create_read_engine, is_sqlite
from opslayer.store.uow import SqlStore

log = logging.getLogger("opslayer")


async def _flush_heartbeats_forever(service: RunService, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await service.flush_heartbeats()
        except Exception:  # the next round retries with whatever arrived meanwhile
            log.exception("writing heartbeats failed; will retry")


def log_banner(settings: Settings) -> None:
    """Tell the person who started the bot where it is and what to do next."""
    url = f"http://{settings.host}:{settings.port}"
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    log.info("opslayer is up at %s (API docs %s/docs, database %s)", url, url, database)
    if settings.slack_enabled:
        mode = "Socket Mode" if settings.slack_app_token else f"HTTP at {url}/slack/events"
        log.info("Slack: on (%s)", mode)
    else:
        log.info(
            "Slack: off. Turn it on with SLACK_BOT_TOKEN plus SLACK_SIGNING_SECRET (HTTP) "
            "or SLACK_APP_TOKEN (Socket Mode); see README"
        )
    if settings.teams_enabled:
        log.info("Teams: on at %s/api/messages", url)
    else:
        log.info("Teams: off. Turn it on with MicrosoftAppId and MicrosoftAppPassword; see README")
    log.info("Connect an agent: opslayer token create --agent NAME")


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """The whole bot as one ASGI app; nothing is opened until its lifespan starts."""
    clock = clock or SystemClock()
    admins = Admins.parse(settings.admins)  # a typo in OPSLAYER_ADMINS stops start-up, loudly
    egress = Egress.parse(settings.webhook_deny)  # so does one in OPSLAYER_WEBHOOK_DENY

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        await migrate.upgrade(engine)
        store = SqlStore(engine, clock, read_engine=create_read_engine(settings.database_url))
        # aiohttp rather than httpx for outbound calls: a third of the CPU per request.
        http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.delivery_timeout_s)
        )
        replays = ReplayGuard(store, clock)
        notifiers: list[ChatNotifier] = [LogNotifier()]
        slack = None
        if settings.slack_enabled:
            from opslayer.adapters.slack.connect import slack_client, slack_notifier

            slack = slack_client(settings, http)
            notifiers.append(slack_notifier(slack))
        teams = None
        if settings.teams_enabled:
            from opslayer.adapters.teams.connect import (
                TeamsConnection,  # botbuilder loads only when used
            )

            teams = TeamsConnection(settings, store, replays=replays)
            notifiers.append(teams.notifier)
        watch = Watch(
            store,
            clock,
            notifiers=notifiers,
            admins_target=settings.admins_target,
            lease_s=max(60.0, 2 * settings.scan_interval_s),
        )
        sync_loop = SyncLoop(watch)
        service = RunService(
            store,
            clock,
            run_cache_ttl_s=settings.run_cache_ttl_s,
            admins_target=settings.admins_target,
            on_alert=sync_loop.wake,
            egress=egress,
        )
        app.state.store = store
        app.state.service = service
        app.state.authenticator = TokenAuthenticator(store, ttl_s=settings.token_cache_ttl_s)
        app.state.auth_failures = FailureLimiter(per_s=settings.auth_failures_per_s)
        outbox = Outbox(
            store, clock, schedule=settings.webhook_retry_s, lease_s=settings.delivery_lease_s
        )
        # Webhooks get a session of their own, whose resolver never connects into a denied
        # network, whatever the agent's DNS answers.
        webhooks_http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.delivery_timeout_s),
            connector=aiohttp.TCPConnector(resolver=GuardedResolver(egress)),
        )
        deliverer = Deliverer(
            outbox, http=webhooks_http, poll_s=settings.delivery_poll_s, egress=egress
        )
        app.state.outbox = outbox
        app.state.deliverer = deliverer

        def decided() -> None:
            deliverer.wake()
            sync_loop.wake()

        operations = Operations(store, clock, admins=admins, on_command=decided)
        subscriptions = Subscriptions(store, clock, admins=admins)
        use = UseCases(store, clock, service, operations, subscriptions)
        app.state.operations = operations
        app.state.use_cases = use
        app.state.watch = watch
        app.state.slack = None
        if slack is not None:
            from opslayer.adapters.slack.connect import connect_slack

            app.state.slack = await connect_slack(settings, client=slack, use=use, replays=replays)
        app.state.teams = teams
        if teams is not None:
            teams.attach(use)
        async with store.read() as uow:
            groups = await uow.people.groups()
        scheduler = build_scheduler(
            watch=watch,
            scan_interval_s=settings.scan_interval_s,
            digest_cron=settings.digest_cron,
            timezone=settings.timezone,
            groups=groups,
            wake_sync=sync_loop.wake,
            wake_deliverer=deliverer.wake,
            replays=replays,
        )
        app.state.scheduler = scheduler
        if is_sqlite(settings.database_url):
            # One process delivers on SQLite: leases left behind are a dead predecessor's.
            await outbox.release_claims()
        log_banner(settings)
        # Everything allocated so far lives as long as the process: keep the collector from
        # walking it again and again under load (it showed up as latency spikes).
        gc.collect()
        gc.freeze()
        background = [
            asyncio.create_task(_flush_heartbeats_forever(service, settings.heartbeat_flush_s)),
            asyncio.create_task(deliverer.run_forever()),
            asyncio.create_task(sync_loop.run_forever()),
        ]
        scheduler.start()
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await service.flush_heartbeats()
            if app.state.slack is not None:
                await app.state.slack.close()
            if app.state.teams is not None:
                await app.state.teams.close()
            await http.close()
            await webhooks_http.close()
            await store.close()

    app = FastAPI(
        title="opslayer",
        version="1",
        summary="The ops layer for persistent AI agents: runs, approvals and signed commands.",
        lifespan=lifespan,
    )
    metrics = Metrics()
    app.state.metrics = metrics
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(agent_api.router)
    app.include_router(ops.router)
    if settings.slack_enabled and settings.slack_signing_secret is not None:
        from opslayer.adapters.slack.connect import (
            add_slack_route,  # Slack's SDKs load only when used
        )

        add_slack_route(app)
    if settings.teams_enabled:
        from opslayer.adapters.teams.connect import add_teams_route

        add_teams_route(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app
