"""Two services on one database, as two replicas: a replica's cached view of a run may be
behind, and that must never decide a write (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from opslayer.adapters.core import Core
from opslayer.bot.errors import InvalidTransition
from opslayer.bot.people.tokens import mint_token
from opslayer.bot.runs.model import RunStatus
from opslayer.store.uow import SqlStore
from opslayer_client.contract import Heartbeat, RunCreate, StatusReport
from tests.replica import replica
from tests.support import MovableClock

REGISTRATION = RunCreate.model_validate(
    {"external_id": "job-1", "title": "Job", "owner": {"email": "alice@example.com"}}
)


def status(value: str) -> StatusReport:
    return StatusReport(status=RunStatus(value))


@pytest.fixture
async def replicas(store: SqlStore, clock: MovableClock) -> tuple[Core, Core, str]:
    """Replica A registered and started the run (so it caches it); B shares the database."""
    await mint_token(store, "bot-a")
    a = replica(store, clock, run_cache_ttl_s=60)
    b = replica(store, clock, run_cache_ttl_s=60)
    run, _ = await a.runs.register_run("bot-a", REGISTRATION)
    await a.runs.report_status("bot-a", run.id, status("running"))
    return a, b, run.id


async def test_repeat_report_on_a_stale_view_applies_to_the_stored_run(
    replicas: tuple[Core, Core, str],
) -> None:
    a, b, run_id = replicas
    await b.runs.report_status("bot-a", run_id, status("paused"))
    # A still believes the run is running, so "running" looks like a repeat; it is not.
    run = await a.runs.report_status("bot-a", run_id, status("running"))
    assert run.status is RunStatus.RUNNING
    trail = [
        e.detail.get("to")
        for e in await a.reads.audit_trail(run_id)
        if e.action == "run.status_changed"
    ]
    assert trail == ["running", "paused", "running"]


async def test_write_on_a_stale_view_is_decided_on_the_stored_run(
    replicas: tuple[Core, Core, str],
) -> None:
    a, b, run_id = replicas
    await b.runs.report_status("bot-a", run_id, status("canceled"))
    with pytest.raises(InvalidTransition) as refused:
        await a.runs.report_status("bot-a", run_id, status("paused"))
    assert refused.value.status == RunStatus.CANCELED
    assert (await b.reads.get_run(run_id)).run.status is RunStatus.CANCELED


async def test_heartbeat_is_refused_only_on_the_stored_status(
    replicas: tuple[Core, Core, str], clock: MovableClock
) -> None:
    a, b, run_id = replicas
    await a.runs.report_status("bot-a", run_id, status("failed"))
    await b.runs.report_status("bot-a", run_id, status("running"))  # B retried it
    clock.advance(seconds=5)
    alive = await a.runs.heartbeat("bot-a", run_id, Heartbeat(step="again"))
    assert alive.status is RunStatus.RUNNING and alive.attempt == 2


async def test_buffered_heartbeat_never_resurrects_a_run_ended_elsewhere(
    replicas: tuple[Core, Core, str], clock: MovableClock
) -> None:
    a, b, run_id = replicas
    await b.runs.report_status("bot-a", run_id, status("canceled"))
    clock.advance(seconds=5)
    await a.runs.heartbeat("bot-a", run_id, Heartbeat(step="late"))  # A's view is behind: accepted
    await a.cache.flush()
    stored = (await b.reads.get_run(run_id)).run
    assert stored.status is RunStatus.CANCELED and stored.step is None
