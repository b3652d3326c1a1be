"""An agent's reads are answered from memory for the run cache's lifetime, yet it always reads
what it just wrote, and a decision made in this process shows at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import event

from opslayer.adapters.http import read_cache
from opslayer.adapters.settings import Settings
from opslayer.bot.audit import Via
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.harness import BotClient
from tests.replica import replica


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, run_cache_ttl_s=60, heartbeat_flush_s=3600)


def database_reads(app_client: BotClient) -> list[str]:
    """Every statement the app's read engine runs from now on."""
    queries: list[str] = []
    engine = app_client.core.store.read_engine  # type: ignore[attr-defined]
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    return queries


async def registered(app_client: BotClient, auth: dict[str, str], external_id: str) -> str:
    body = {"external_id": external_id, "title": "T", "owner": {"email": "a@example.com"}}
    run_id: str = (await app_client.post("/v1/runs", json=body, headers=auth)).json()["id"]
    return run_id


async def test_reads_are_remembered_and_forgotten_when_anything_changes(
    app_client: BotClient, agent: MintedToken
) -> None:
    auth = {"Authorization": f"Bearer {agent.token}"}
    run_id = await registered(app_client, auth, "j")
    queries = database_reads(app_client)
    first = await app_client.get(f"/v1/runs/{run_id}", headers=auth)
    asked = len(queries)
    again = await app_client.get(f"/v1/runs/{run_id}", headers=auth)
    assert asked > 0 and len(queries) == asked  # the second read touched no database
    assert again.content == first.content
    # What the agent writes, it reads back at once:
    await app_client.post(f"/v1/runs/{run_id}/heartbeat", json={"step": "two"}, headers=auth)
    assert (await app_client.get(f"/v1/runs/{run_id}", headers=auth)).json()["step"] == "two"
    listed = await app_client.get("/v1/runs", headers=auth)
    await registered(app_client, auth, "k")
    relisted = await app_client.get("/v1/runs", headers=auth)
    assert len(relisted.json()["items"]) == len(listed.json()["items"]) + 1
    # A decision made here is in the agent's next poll:
    path = f"/v1/runs/{run_id}/commands?status=pending"
    assert (await app_client.get(path, headers=auth)).json() == []
    alice = await find_person(app_client.store, Identity(email="a@example.com"))
    await app_client.operations.commands.pause(run_id, person=alice, via=Via.CLI)
    [command] = (await app_client.get(path, headers=auth)).json()
    assert command["kind"] == "pause"
    ack = await app_client.post(
        f"/v1/commands/{command['id']}/ack", json={"result": "done"}, headers=auth
    )
    assert ack.status_code == 200
    assert (await app_client.get(path, headers=auth)).json() == []


async def test_a_lapsed_answer_is_loaded_once_for_all_its_readers_and_shows_other_replicas(
    app_client: BotClient, agent: MintedToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = {"Authorization": f"Bearer {agent.token}"}
    run_id = await registered(app_client, auth, "r")
    path = f"/v1/runs/{run_id}/commands?status=pending"
    queries = database_reads(app_client)
    assert (await app_client.get(path, headers=auth)).json() == []
    one_load = len(queries)
    # Another replica (a Core of its own on the same database) pauses the run:
    elsewhere = replica(app_client.store, app_client.clock)
    alice = await find_person(app_client.store, Identity(email="a@example.com"))
    await elsewhere.operations.commands.pause(run_id, person=alice, via=Via.CLI)
    assert (await app_client.get(path, headers=auth)).json() == []  # within the lifetime
    later = time.monotonic() + 61  # past the lifetime (60 s here)
    monkeypatch.setattr(read_cache, "_now", lambda: later)
    queries.clear()
    answers = await asyncio.gather(*(app_client.get(path, headers=auth) for _ in range(20)))
    assert {len(a.json()) for a in answers} == {1}  # every reader sees the pause
    loads = len(queries)
    assert (await app_client.get(path, headers=auth)).json()[0]["kind"] == "pause"
    assert len(queries) == loads  # and the next reader is answered from memory
    assert loads == one_load > 0  # the twenty readers shared one load


async def test_a_fleets_heartbeats_do_not_throw_away_other_runs_answers(
    app_client: BotClient, agent: MintedToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = {"Authorization": f"Bearer {agent.token}"}
    beating, polled = [await registered(app_client, auth, x) for x in ("beating", "polled")]
    path = f"/v1/runs/{polled}/commands?status=pending"
    await app_client.get(path, headers=auth)
    later = time.monotonic() + 61  # the answer lapses: the next read loads it again...
    monkeypatch.setattr(read_cache, "_now", lambda: later)
    reads = app_client.core.reads
    loading, gate = asyncio.Event(), asyncio.Event()
    commands = reads.commands

    async def held(*args: Any, **kwargs: Any) -> Any:
        loading.set()
        await gate.wait()
        return await commands(*args, **kwargs)

    monkeypatch.setattr(reads, "commands", held)
    reading = asyncio.create_task(app_client.get(path, headers=auth))
    await asyncio.wait_for(loading.wait(), 5)
    # ...and while it loads, the other run's heartbeats arrive (each forgets that run's answers):
    for n in range(3):
        beat = await app_client.post(
            f"/v1/runs/{beating}/heartbeat", json={"step": f"s{n}"}, headers=auth
        )
        assert beat.status_code == 200
    gate.set()
    assert (await reading).json() == []
    queries = database_reads(app_client)
    assert (await app_client.get(path, headers=auth)).json() == []
    assert queries == []  # the load made during the heartbeats was kept


async def test_a_runs_heartbeats_keep_its_remembered_commands_and_drop_its_remembered_run(
    app_client: BotClient, agent: MintedToken
) -> None:
    auth = {"Authorization": f"Bearer {agent.token}"}
    run_id = await registered(app_client, auth, "f")
    commands = f"/v1/runs/{run_id}/commands?status=pending"
    await app_client.get(commands, headers=auth)
    await app_client.get(f"/v1/runs/{run_id}", headers=auth)
    queries = database_reads(app_client)
    await app_client.post(f"/v1/runs/{run_id}/heartbeat", json={"step": "next"}, headers=auth)
    await app_client.post(
        f"/v1/runs/{run_id}/checkpoints", json={"checkpoint_id": "k", "step": "k"}, headers=auth
    )
    queries.clear()
    assert (await app_client.get(commands, headers=auth)).json() == []
    assert queries == []  # a heartbeat or a checkpoint changes no command: still remembered
    assert (await app_client.get(f"/v1/runs/{run_id}", headers=auth)).json()["step"] == "k"
    assert queries  # the run itself changed: read again
