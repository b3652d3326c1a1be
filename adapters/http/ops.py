"""Operational endpoints: liveness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opslayer.adapters.core import Core
from opslayer.bot.commands.model import CommandStatus
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.runs.model import Health, RunStatus
from opslayer.store.engine import SQLITE_MIN_FREE_BYTES, sqlite_space_left

router = APIRouter(tags=["operations"])


class Metrics:
    """The app's own registry (not the global one, so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "opslayer_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "opslayer_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.runs = Gauge("opslayer_runs", "Runs by status", ["status"], registry=self.registry)
        self.health = Gauge(
            "opslayer_runs_health", "Runs by health flag", ["health"], registry=self.registry
        )
        self.commands = Gauge(
            "opslayer_commands", "Commands by delivery status", ["status"], registry=self.registry
        )
        self.scan_seconds = Gauge(
            "opslayer_scan_seconds", "Duration of the last scan", registry=self.registry
        )
        self.scans = Gauge(
            "opslayer_scans", "Scans this process ran since it started", registry=self.registry
        )
        self.sync_rounds = Gauge(
            "opslayer_sync_rounds",
            "Rounds of bringing Slack and Teams in step, since this process started",
            registry=self.registry,
        )
        self.last_scan = Gauge(
            "opslayer_scan_last_timestamp_seconds",
            "When this process last ran the scan (Unix time; 0: not yet): stalls show here",
            registry=self.registry,
        )
        self.last_notify = Gauge(
            "opslayer_notify_last_timestamp_seconds",
            "When this process last brought Slack and Teams in step (Unix time; 0: not yet)",
            registry=self.registry,
        )
        self.limited = Counter(
            "opslayer_agent_limited",
            "Requests refused because an agent reached a limit (rate, open runs, approvals)",
            ["agent", "limit"],
            registry=self.registry,
        )
        self.limits = Gauge(
            "opslayer_agent_limit",
            "Each agent's limits, as configured",
            ["limit"],
            registry=self.registry,
        )
        self.chat_connected = Gauge(
            "opslayer_chat_connected",
            "1 while a chat platform's link is up (Slack over Socket Mode reconnects meanwhile)",
            ["platform"],
            registry=self.registry,
        )
        self.alerts_behind = Gauge(
            "opslayer_alerts_unsynced",
            "Alerts Slack or Teams has not caught up with yet (grows while one is down)",
            registry=self.registry,
        )
        self.heartbeats_pending = Gauge(
            "opslayer_heartbeats_pending",
            "Heartbeats buffered, not yet written",
            registry=self.registry,
        )


class RequestMetrics:
    """Counts and times every request by its route template (not its raw path, to bound labels)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database takes writes",
    responses={503: {"description": "The database does not take writes now; retry later"}},
)
async def readyz(request: Request) -> Response:
    """Ready when a write reaches the database within two seconds and, on SQLite, its disk has
    room to grow (a full disk, a read-only or unreachable database answer 503 with the reason,
    so a load balancer stops sending)."""
    core: Core = request.app.state.core
    now = core.clock.now()
    # A small update fits in SQLite's write-ahead log even on a full disk: look at the disk.
    left = sqlite_space_left(request.app.state.settings.database_url)
    if left is not None and left < SQLITE_MIN_FREE_BYTES:
        return _unready(
            f"the database's disk is full ({left // 1024} KiB free; SQLite needs"
            f" {SQLITE_MIN_FREE_BYTES // 1024 // 1024} MiB): free space or move"
            " OPSLAYER_DATABASE_URL"
        )

    async def probe(uow: UnitOfWork) -> bool:
        return await uow.alerts.take_lease("readyz", holder="readyz", now=now, until=now)

    try:
        async with asyncio.timeout(2):
            await core.store.run(probe)
    except Exception as error:
        reason = str(getattr(error, "message", "") or error).splitlines()[0][:300]
        return _unready(f"the database takes no writes: {reason}")
    # Chat is reported, not required: agents and the console are served while it reconnects.
    slack = getattr(request.app.state, "slack", None)
    if slack is not None and slack.state != "connected":
        return JSONResponse({"status": "ready", "chat": {"slack": slack.state}})
    return JSONResponse({"status": "ready"})


def _unready(reason: str) -> Response:
    return JSONResponse(
        {"status": "unavailable", "reason": reason}, status_code=503, headers={"Retry-After": "5"}
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    core: Core = request.app.state.core
    counts = await core.reads.count_by_status()
    for status in RunStatus:
        registry.runs.labels(status.value).set(counts.get(status, 0))
    health = await core.reads.count_by_health()
    for flag in Health:
        registry.health.labels(flag.value).set(health.get(flag, 0))
    commands = await core.outbox.counts()
    for command_status in CommandStatus:
        registry.commands.labels(command_status.value).set(commands.get(command_status, 0))
    registry.scan_seconds.set(core.scanner.last_scan_s)
    registry.scans.set(core.scanner.scans)
    registry.sync_rounds.set(core.sync.rounds)
    scanned, notified = core.scanner.last_scan_at, core.sync.last_round_at
    registry.last_scan.set(scanned.timestamp() if scanned else 0)
    registry.last_notify.set(notified.timestamp() if notified else 0)
    registry.heartbeats_pending.set(core.cache.pending_heartbeats)
    registry.alerts_behind.set(await core.sync.behind())
    slack = getattr(request.app.state, "slack", None)
    if slack is not None:
        registry.chat_connected.labels("slack").set(1 if slack.state == "connected" else 0)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
