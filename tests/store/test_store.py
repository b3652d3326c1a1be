"""The store on SQLite and PostgreSQL: migrations, constraints, and the concurrency guards."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, update

from opslayer.bot.errors import Forbidden, StorageUnavailable
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import hash_token, mint_token
from opslayer.bot.ports import BeatUpdate, RunFilter, UnitOfWork
from opslayer.bot.runs.model import Run, RunStatus
from opslayer.store import migrate
from opslayer.store.tables import metadata, runs
from opslayer.store.uow import SqlStore
from opslayer_client.contract import Heartbeat, RunCreate, StatusReport
from tests.replica import replica
from tests.support import MovableClock


def _registration(external_id: str = "job-1", email: str = "alice@example.com") -> RunCreate:
    return RunCreate.model_validate(
        {"external_id": external_id, "title": "Job", "owner": {"email": email}}
    )


async def test_migrations_produce_exactly_the_declared_schema(store: SqlStore) -> None:
    async with store.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert diff == []
    assert await migrate.current_revision(store.engine) == migrate.head_revision()
    await migrate.upgrade(store.engine)  # a second upgrade is a no-op


async def test_tokens_are_stored_only_as_hashes(store: SqlStore) -> None:
    minted = await mint_token(store, "bot-a")
    async with store.transaction() as uow:
        assert await uow.agents.by_token_hash(minted.token) is None
        found = await uow.agents.by_token_hash(hash_token(minted.token))
    assert (
        found is not None
        and found.name == "bot-a"
        and found.webhook_secret == minted.webhook_secret
    )


async def test_concurrent_registrations_of_one_external_id_make_one_run(
    store: SqlStore, clock: MovableClock
) -> None:
    await mint_token(store, "bot-a")
    service = replica(store, clock).runs
    results = await asyncio.gather(
        *(service.register_run("bot-a", _registration()) for _ in range(5))
    )
    assert len({run.id for run, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    people = await _people(store)
    assert len(people) == 1


async def _people(store: SqlStore) -> list[Identity]:
    async with store.transaction() as uow:
        return [Identity(email=p.email) for p in await uow.people.everyone()]


async def test_update_with_a_stale_version_writes_nothing(
    store: SqlStore, clock: MovableClock
) -> None:
    await mint_token(store, "bot-a")
    run, _ = await replica(store, clock).runs.register_run("bot-a", _registration())
    async with store.transaction() as uow:
        assert await uow.runs.update(
            dataclasses.replace(run, title="first", version=2), expected_version=1
        )
    async with store.transaction() as uow:
        stale = dataclasses.replace(run, title="second", version=2)
        assert not await uow.runs.update(stale, expected_version=1)
        assert not uow.db.dirty
    async with store.transaction() as uow:
        stored = await uow.runs.get(run.id)
    assert stored is not None and stored.title == "first"


async def test_heartbeat_batch_skips_runs_that_moved_on(
    store: SqlStore, clock: MovableClock
) -> None:
    await mint_token(store, "bot-a")
    run, _ = await replica(store, clock).runs.register_run("bot-a", _registration())
    beat = dataclasses.replace(run, step="late", last_heartbeat_at=clock.now())
    async with store.transaction() as uow:
        missed = await uow.runs.apply_beats([BeatUpdate(run=beat, version=run.version + 1)])
    assert missed == [run.id]
    async with store.transaction() as uow:
        assert await uow.runs.apply_beats([BeatUpdate(run=beat, version=run.version)]) == []
        stored = await uow.runs.get(run.id)
    assert stored is not None and stored.step == "late"


async def test_one_heartbeat_batch_writes_the_current_runs_and_names_the_rest(
    store: SqlStore, clock: MovableClock
) -> None:
    await mint_token(store, "bot-a")
    core = replica(store, clock)
    registered = [
        (await core.runs.register_run("bot-a", _registration(f"job-{i}")))[0] for i in range(5)
    ]
    moved_on = registered[2]
    beats = [
        BeatUpdate(
            run=dataclasses.replace(run, step=f"beat-{n}", last_heartbeat_at=clock.now()),
            version=run.version + 1 if run is moved_on else run.version,
        )
        for n, run in enumerate(registered)
    ]
    gone = dataclasses.replace(registered[0], id="run_gone", step="x")
    beats.append(BeatUpdate(run=gone, version=1))
    async with store.transaction() as uow:
        missed = await uow.runs.apply_beats(beats)
    assert sorted(missed) == sorted([moved_on.id, "run_gone"])
    async with store.read() as uow:
        steps = [(await uow.runs.get(run.id)) for run in registered]
    assert [s.step if s else None for s in steps] == [
        "beat-0",
        "beat-1",
        moved_on.step,
        "beat-3",
        "beat-4",
    ]


async def test_heartbeats_of_a_run_this_replica_has_not_seen_share_one_read(
    store: SqlStore, clock: MovableClock
) -> None:
    await mint_token(store, "bot-a")
    run, _ = await replica(store, clock).runs.register_run("bot-a", _registration())
    fresh = replica(store, clock, run_cache_ttl_s=60)  # knows nothing of the run yet
    queries: list[str] = []
    event.listen(
        store.read_engine.sync_engine, "before_cursor_execute", lambda *a: queries.append(a[2])
    )
    beats = await asyncio.gather(
        *(fresh.runs.heartbeat("bot-a", run.id, Heartbeat(step=f"s{n}")) for n in range(20))
    )
    assert {b.id for b in beats} == {run.id}
    assert len([q for q in queries if "FROM runs" in q]) == 1
    with pytest.raises(Forbidden):  # a shared read still refuses another agent
        await fresh.runs.heartbeat("bot-b", run.id, Heartbeat())


async def test_run_pages_are_newest_first_and_complete(
    store: SqlStore, clock: MovableClock
) -> None:
    await mint_token(store, "bot-a")
    core = replica(store, clock)
    service = core.runs
    ids = [(await service.register_run("bot-a", _registration(f"job-{i}")))[0].id for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = await core.reads.list_runs(RunFilter(agent="bot-a", limit=3, cursor=cursor))
        seen += [r.id for r in page]
        if cursor is None:
            break
    assert seen == ids[::-1]


async def test_a_members_pages_hold_exactly_their_runs_newest_first(
    store: SqlStore, clock: MovableClock
) -> None:
    """What a member sees (runs owned by or offered to a few people), alone or with filters,
    paged three at a time: exactly the matching runs, newest first, none twice."""
    for agent in ("bot-a", "bot-b"):
        await mint_token(store, agent)
    core = replica(store, clock)
    emails = ["alice@example.com", "bob@example.com", "carol@example.com", "carol@example.com"]
    made = []
    for n in range(24):
        agent = ("bot-a", "bot-b")[n % 2]
        run, _ = await core.runs.register_run(agent, _registration(f"job-{n}", emails[n % 4]))
        if n % 3 == 0:
            run = await core.runs.report_status(agent, run.id, StatusReport(status="running"))
        made.append(run)
    people = {run.owner.email: run.owner.id for run in made}
    alice, bob = people["alice@example.com"], people["bob@example.com"]
    offered = {made[2].id, made[7].id}  # carol's, offered to alice
    async with store.engine.begin() as conn:
        await conn.execute(
            update(runs).where(runs.c.id.in_(offered)).values(pending_owner_id=alice)
        )

    def sees(run: Run, who: tuple[str, ...]) -> bool:
        return run.owner.id in who or run.id in offered and alice in who

    cases: list[tuple[RunFilter, Callable[[Run], bool]]] = [
        (RunFilter(visible_to=(alice,)), lambda r: sees(r, (alice,))),
        (RunFilter(visible_to=(alice, bob)), lambda r: sees(r, (alice, bob))),
        (
            RunFilter(visible_to=(alice, bob), status=RunStatus.RUNNING),
            lambda r: sees(r, (alice, bob)) and r.status is RunStatus.RUNNING,
        ),
        (
            RunFilter(visible_to=(alice,), agent="bot-b"),
            lambda r: sees(r, (alice,)) and r.agent == "bot-b",
        ),
        (RunFilter(visible_to=("per_nobody",)), lambda r: False),
        (  # a group too large for one walk per person
            RunFilter(visible_to=(alice, *(f"per_{n}" for n in range(150)))),
            lambda r: sees(r, (alice,)),
        ),
    ]
    for query, matches in cases:
        seen: list[str] = []
        cursor = None
        while True:
            page, cursor = await core.reads.list_runs(
                dataclasses.replace(query, limit=3, cursor=cursor)
            )
            seen += [r.id for r in page]
            if cursor is None:
                break
        assert seen == [r.id for r in reversed(made) if matches(r)], query


async def test_checkpoints_sent_together_are_each_recorded_once(
    store: SqlStore, clock: MovableClock
) -> None:
    """Checkpoints of one group-commit batch are inserted together; a checkpoint_id sent twice in
    one batch, or one the database already has, still comes back as the one recorded."""
    from opslayer.bot.runs.model import RunStatus
    from opslayer_client.contract import CheckpointIn, StatusReport

    await mint_token(store, "bot-a")
    core = replica(store, clock)
    service = core.runs
    runs = [
        (await service.register_run("bot-a", _registration(external_id=f"j{n}")))[0]
        for n in range(3)
    ]
    for run in runs:
        await service.report_status("bot-a", run.id, StatusReport(status=RunStatus.RUNNING))
    await service.add_checkpoint("bot-a", runs[0].id, CheckpointIn(checkpoint_id="old", step="s"))

    def point(cid: str) -> CheckpointIn:
        return CheckpointIn(checkpoint_id=cid, step=f"step {cid}")

    sent = [
        (runs[0].id, point("old")),  # the database has it: the batch is replayed job by job
        (runs[1].id, point("a")),
        (runs[1].id, point("a")),  # twice in one batch
        (runs[1].id, point("b")),
        (runs[2].id, point("a")),  # the same id on another run is another checkpoint
    ]
    results = await asyncio.gather(*(service.add_checkpoint("bot-a", r, c) for r, c in sent))
    assert [created for _, created in results] == [False, True, False, True, True]
    assert results[1][0].id == results[2][0].id  # the repeat answers with the one recorded
    assert [c.checkpoint_id for c in await core.reads.checkpoints(runs[1].id)] == ["a", "b"]
    assert [c.checkpoint_id for c in await core.reads.checkpoints(runs[0].id)] == ["old"]
    trail = [e.action for e in await core.reads.audit_trail(runs[1].id)]
    assert trail.count("checkpoint.recorded") == 2


async def test_a_stopped_writer_answers_every_caller_and_a_closed_store_refuses(
    store: SqlStore,
) -> None:
    """Nobody is left hanging: callers queued behind a writer that is cancelled mid-batch hear
    StorageUnavailable, and a closed store refuses new writes at once."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(uow: UnitOfWork) -> int:
        started.set()
        await release.wait()
        return 1

    async def quick(uow: UnitOfWork) -> int:
        return 2

    first = asyncio.create_task(store.run(slow))
    await started.wait()
    queued = [asyncio.create_task(store.run(quick)) for _ in range(3)]
    await asyncio.sleep(0)  # they are queued behind the running batch
    writer = store._writer
    assert writer is not None
    writer.cancel()
    for task in (first, *queued):
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(task, timeout=5)
    assert await store.run(quick) == 2  # a new writer starts for new work
    await store.close()
    with pytest.raises(StorageUnavailable, match="closed"):
        await store.run(quick)


async def test_the_watchs_writes_go_ahead_of_a_long_queue(store: SqlStore) -> None:
    """Under ingest load hundreds of writes wait; a scan's write goes into the next batch."""
    order: list[str] = []
    gate = asyncio.Event()

    async def first(uow: UnitOfWork) -> None:
        await gate.wait()  # the writer is busy with this batch while the queue fills
        order.append("first")

    def ingest(n: int) -> Callable[[UnitOfWork], Awaitable[None]]:
        async def job(uow: UnitOfWork) -> None:
            order.append(f"ingest {n}")

        return job

    async def scan(uow: UnitOfWork) -> None:
        order.append("scan")

    busy = asyncio.create_task(store.run(first))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(store.run(ingest(n))) for n in range(300)]
    urgent = asyncio.create_task(store.run(scan, urgent=True))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(busy, urgent, *queued)
    assert order[:2] == ["first", "scan"]  # not after 300 ingest writes
    assert len(order) == 302
