"""The composition root: create_app(settings) wires store, use cases, routes and background work.

Nothing is opened until the app's lifespan starts, and everything it opens is closed through one
AsyncExitStack, in reverse order, whatever fails (a Slack connection that fails at start closes
the engine and the HTTP sessions opened before it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import aiohttp
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from opslayer.adapters.chat.log import LogNotifier
from opslayer.adapters.chat.use_cases import UseCases
from opslayer.adapters.core import Core
from opslayer.adapters.http import agent_api, ops
from opslayer.adapters.http.auth import TokenBucket
from opslayer.adapters.http.docs import install_docs
from opslayer.adapters.http.errors import install_error_handlers
from opslayer.adapters.http.hot_path import AgentHotPath
from opslayer.adapters.http.limits import BodyLimit
from opslayer.adapters.http.ops import Metrics, RequestMetrics
from opslayer.adapters.http.read_cache import ReadCache
from opslayer.adapters.settings import Settings
from opslayer.adapters.web.console import Console
from opslayer.adapters.web.routes import install_console
from opslayer.adapters.webhooks.deliverer import Deliverer
from opslayer.adapters.webhooks.resolver import GuardedResolver
from opslayer.bot.audit import SYSTEM
from opslayer.bot.commands.egress import Egress
from opslayer.bot.people.rights import Admins
from opslayer.bot.people.sign_in import SignIn
from opslayer.bot.ports import ChatNotifier, Clock, SystemClock
from opslayer.bot.runs.retention import Retention
from opslayer.scheduler.jobs import build_scheduler
from opslayer.scheduler.sync_loop import SyncLoop
from opslayer.store import migrate
from opslayer.store.engine import create_engine, create_read_engine, is_sqlite
from opslayer.store.uow import SqlStore

log = logging.getLogger("opslayer")


async def _every(seconds: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:  # the next round retries with whatever arrived meanwhile
            log.exception("%s failed; will retry", what)


def log_banner(settings: Settings) -> None:
    """Tell the person who started the bot where it is and what to do next."""
    url = f"http://{settings.host}:{settings.port}"
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    log.info("opslayer is up at %s (API docs %s/docs, database %s)", url, url, database)
    log.info(
        "Console: %s/ (sign in with a link from `opslayer login-link --as EMAIL`)",
        settings.base_url,
    )
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


def _nightly_prune(
    settings: Settings, store: SqlStore, clock: Clock
) -> Callable[[], Awaitable[object]] | None:
    if settings.retention_days is None:
        return None
    keep = timedelta(days=settings.retention_days)

    async def prune() -> None:
        removed = await Retention(store, clock).prune(keep, actor=SYSTEM)
        log.info("retention: removed %s", removed or "nothing")

    return prune


async def _give_up_leases(core: Core) -> None:
    """At shutdown (SIGTERM, a deploy): a peer, or this process restarted, scans at once."""
    try:
        await core.scanner.release()
        await core.sync.release()
    except Exception:  # the store may be gone already; the leases then lapse on their own
        log.warning("could not give up the scan and notify leases; they lapse by themselves")


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_ready: Callable[[], None] | None = None,
) -> FastAPI:
    """The whole bot as one ASGI app; `on_ready` runs once everything is open and started."""
    clock = clock or SystemClock()
    Admins.parse(settings.admins)  # a typo in OPSLAYER_ADMINS stops start-up, loudly
    egress = Egress.parse(settings.webhook_deny)  # so does one in OPSLAYER_WEBHOOK_DENY

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            engine = create_engine(settings.database_url)
            stack.push_async_callback(engine.dispose)
            await migrate.upgrade(engine)
            store = SqlStore(engine, clock, read_engine=create_read_engine(settings.database_url))
            stack.push_async_callback(store.close)
            # aiohttp rather than httpx for outbound calls: a third of the CPU per request.
            timeout = aiohttp.ClientTimeout(total=settings.delivery_timeout_s)
            http = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
            # Webhooks get a session of their own, whose resolver never connects into a denied
            # network, whatever the agent's DNS answers.
            webhooks_http = await stack.enter_async_context(
                aiohttp.ClientSession(
                    timeout=timeout,
                    connector=aiohttp.TCPConnector(resolver=GuardedResolver(egress)),
                )
            )
            notifiers: list[ChatNotifier] = [LogNotifier()]
            slack_client = None
            if settings.slack_enabled:
                from opslayer.adapters.slack.connect import slack_client as make_client
                from opslayer.adapters.slack.connect import slack_notifier

                slack_client = make_client(settings, http)
                notifiers.append(slack_notifier(slack_client, settings))
            teams = None
            if settings.teams_enabled:
                # botbuilder loads only when Teams is on
                from opslayer.adapters.teams.connect import TeamsConnection

                teams = TeamsConnection(settings, store)
                stack.push_async_callback(teams.close)
                notifiers.append(teams.notifier)

            def decided() -> None:  # a command to deliver, a message to update
                app.state.read_cache.forget_all()  # agents' reads show it at once
                deliverer.wake()
                sync_loop.wake()

            core = Core.build(
                settings,
                store,
                clock,
                notifiers=notifiers,
                on_alert=lambda: sync_loop.wake(),
                on_command=decided,
            )
            sync_loop = SyncLoop(core.sync)
            deliverer = Deliverer(
                core.outbox, http=webhooks_http, poll_s=settings.delivery_poll_s, egress=egress
            )
            sign_in = SignIn(
                store,
                clock,
                admins=Admins.parse(settings.admins),
                session_ttl=timedelta(hours=settings.session_hours),
            )
            use = UseCases(
                store=store,
                clock=clock,
                reads=core.reads,
                operations=core.operations,
                subscriptions=core.subscriptions,
                sign_in=sign_in,
                console_url=settings.base_url,
                public_url=settings.public_url,
            )
            app.state.core = core
            app.state.use_cases = use
            app.state.deliverer = deliverer
            app.state.auth_failures = TokenBucket(per_s=settings.auth_failures_per_s)
            app.state.agent_rate = TokenBucket(per_s=settings.agent_rate_per_s)
            app.state.slack = None
            if slack_client is not None:
                from opslayer.adapters.slack.connect import connect_slack

                app.state.slack = await connect_slack(
                    settings, client=slack_client, use=use, replays=core.replays
                )
                stack.push_async_callback(app.state.slack.close)
            app.state.console = Console(
                settings=settings,
                core=core,
                store=store,
                sign_in=sign_in,
                slack_client=slack_client,
            )
            app.state.teams = teams
            if teams is not None:
                teams.attach(use, replays=core.replays)
            async with store.read() as uow:
                groups = await uow.people.groups()
            if is_sqlite(settings.database_url):
                # One process delivers on SQLite: leases left behind are a dead predecessor's.
                await core.outbox.release_claims()
            # Closed in reverse: the scheduler stops first, then the loops, then the last
            # heartbeats are written, then the connections above close.
            # Last of all (after the loops and the scheduler stopped): give up the leases.
            stack.push_async_callback(_give_up_leases, core)
            stack.push_async_callback(core.cache.flush)
            background = [
                asyncio.create_task(
                    _every(settings.heartbeat_flush_s, core.cache.flush, "writing heartbeats")
                ),
                asyncio.create_task(deliverer.run_forever()),
                asyncio.create_task(sync_loop.run_forever()),
            ]
            stack.push_async_callback(_cancel, background)
            scheduler = build_scheduler(
                scanner=core.scanner,
                digests=core.digests,
                operations=core.operations,
                replays=core.replays,
                scan_interval_s=settings.scan_interval_s,
                digest_cron=settings.digest_cron,
                timezone=settings.timezone,
                groups=groups,
                wake_sync=sync_loop.wake,
                wake_deliverer=deliverer.wake,
                prune=_nightly_prune(settings, store, clock),
            )
            app.state.scheduler = scheduler
            scheduler.start()
            stack.callback(scheduler.shutdown, wait=False)
            log_banner(settings)
            setup = await sign_in.setup_link()
            if setup is not None:
                # As Jupyter prints its token URL: the one way in while nobody is an admin.
                log.info(
                    "Nobody administers opslayer yet. Open this one-time link (valid 24 h) to "
                    "become its first admin:"
                )
                log.info("    %s/setup/%s", settings.base_url, setup)
            if on_ready is not None:
                on_ready()
            yield

    app = FastAPI(
        title="opslayer",
        version="1",
        summary="The ops layer for persistent AI agents: runs, approvals and signed commands.",
        lifespan=lifespan,
        docs_url=None,  # served from this host below, not from a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.read_cache = ReadCache(ttl_s=settings.run_cache_ttl_s)
    metrics = Metrics()
    metrics.limits.labels("requests per second").set(settings.agent_rate_per_s)
    metrics.limits.labels("open runs").set(settings.max_open_runs_per_agent)
    metrics.limits.labels("pending approvals").set(settings.max_pending_approvals_per_agent)
    app.state.metrics = metrics
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(agent_api.router)
    app.include_router(ops.router)
    install_console(app)
    if settings.slack_enabled and settings.slack_signing_secret is not None:
        from opslayer.adapters.slack.connect import add_slack_route  # Slack loads only when used

        add_slack_route(app)
    if settings.teams_enabled:
        from opslayer.adapters.teams.connect import add_teams_route

        add_teams_route(app)
    app.add_middleware(AgentHotPath, api=app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app
