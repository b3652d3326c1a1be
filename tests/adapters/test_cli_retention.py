"""A year of operation kept in bounds: `opslayer prune` removes ended runs older than an age with
what hangs off them (the audit trail stays unless asked), and `opslayer audit export` streams
the trail as JSON lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Table, func, select, update

from opslayer.adapters.app import create_app
from opslayer.adapters.settings import Settings
from opslayer.bot.people.tokens import mint_token
from opslayer.store.engine import create_engine
from opslayer.store.tables import audit_events, checkpoints, runs
from tests.cli_support import in_thread, run_cli


async def _seed(db: str) -> dict[str, str]:
    """Three runs: two ended (one 100 days ago), one still running 100 days on."""
    app = create_app(Settings(database_url=db))
    made: dict[str, str] = {}
    async with app.router.lifespan_context(app):
        minted = await mint_token(app.state.core.store, "nightly")
        auth = {"Authorization": f"Bearer {minted.token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as api:
            for key, end in (("old-done", "succeeded"), ("new-done", "failed"), ("old-live", None)):
                body = {"external_id": key, "title": key, "owner": {"email": "a@example.com"}}
                run_id = (await api.post("/v1/runs", json=body, headers=auth)).json()["id"]
                await api.post(
                    f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth
                )
                for n in range(3):
                    point = {"checkpoint_id": f"c{n}", "step": f"step {n}"}
                    await api.post(f"/v1/runs/{run_id}/checkpoints", json=point, headers=auth)
                if end:
                    report = (
                        {"status": end, "error": "boom"} if end == "failed" else {"status": end}
                    )
                    await api.post(f"/v1/runs/{run_id}/status", json=report, headers=auth)
                made[key] = run_id
    long_ago = datetime.now(UTC) - timedelta(days=100)
    engine = create_engine(db)
    async with engine.begin() as conn:
        await conn.execute(
            update(runs)
            .where(runs.c.id.in_([made["old-done"], made["old-live"]]))
            .values(status_changed_at=long_ago)
        )
    await engine.dispose()
    return made


async def _count(db: str, table: Table, run_id: str) -> int:
    engine = create_engine(db)
    async with engine.connect() as conn:
        found = await conn.execute(
            select(func.count()).select_from(table).where(table.c.run_id == run_id)
        )
        count = int(found.scalar_one())
    await engine.dispose()
    return count


async def test_prune_removes_old_ended_runs_and_keeps_the_audit_trail(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    made = await _seed(cli_db)
    code, out, _ = await in_thread(run_cli, capsys, "prune", "--older-than", "90d", "--dry-run")
    assert code == 0 and "would remove 3 checkpoints" in out and "1 runs" in out
    assert await _count(cli_db, checkpoints, made["old-done"]) == 3  # nothing removed
    code, out, err = await in_thread(run_cli, capsys, "prune", "--older-than", "90d")
    assert code == 0 and "removed 3 checkpoints" in out and "1 runs" in out
    assert "audit trail is kept" in out and "removed 1 runs so far" in err
    listed = (await in_thread(run_cli, capsys, "runs", "list"))[1]
    assert made["old-done"] not in listed
    assert made["new-done"] in listed and made["old-live"] in listed  # recent, or not ended
    assert await _count(cli_db, checkpoints, made["old-done"]) == 0
    kept = await _count(cli_db, audit_events, made["old-done"])
    assert kept > 0

    exported = (await in_thread(run_cli, capsys, "audit", "export", "--format", "jsonl"))[1]
    events = [json.loads(line) for line in exported.splitlines()]
    assert {"id", "at", "action", "run_id", "actor", "reason", "detail"} == set(events[0])
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert events[-1]["action"] == "retention.pruned"
    assert events[-1]["detail"]["removed"]["runs"] == 1
    assert events[-1]["actor"]["via"] == "cli"
    one = (await in_thread(run_cli, capsys, "audit", "export", "--run", made["old-done"]))[1]
    assert len(one.splitlines()) == kept
    assert all(json.loads(line)["run_id"] == made["old-done"] for line in one.splitlines())

    code, out, _ = await in_thread(
        run_cli, capsys, "prune", "--older-than", "1", "--audit", "--dry-run"
    )
    assert code == 0 and "nothing" in out  # the 100-day-old live run is not ended
    with pytest.raises(SystemExit):
        run_cli(capsys, "prune", "--older-than", "soon")
    assert "write a duration like" in capsys.readouterr().err


async def test_audit_export_escapes_what_would_reorder_or_control_a_terminal(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seen: a title with a right-to-left override and C1 controls came out raw."""
    sneaky = "Refund \u202egnp.exe\u202c to Zoë \x85\x9b31m"
    app = create_app(Settings(database_url=cli_db))
    async with app.router.lifespan_context(app):
        minted = await mint_token(app.state.core.store, "nightly")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as api:
            body = {"external_id": "s", "title": sneaky, "owner": {"email": "a@example.com"}}
            headers = {"Authorization": f"Bearer {minted.token}"}
            assert (await api.post("/v1/runs", json=body, headers=headers)).status_code == 201
    exported = (await in_thread(run_cli, capsys, "audit", "export"))[1]
    for raw in ("\u202e", "\u202c", "\x85", "\x9b"):
        assert raw not in exported
    assert "\\u202e" in exported and "Zoë" in exported  # escaped; plain letters stay readable
    [registered] = [json.loads(line) for line in exported.splitlines()]
    assert registered["detail"]["title"] == sneaky  # the same data to a JSON reader


@pytest.mark.parametrize("ambiguous", ["1m", "30s", "2M"])
def test_prune_refuses_an_age_in_minutes_that_reads_like_months(
    cli_db: str, capsys: pytest.CaptureFixture[str], ambiguous: str
) -> None:
    """Seen: `prune --older-than 1m` meant one minute (nearly everything), not a month."""
    with pytest.raises(SystemExit) as stopped:
        run_cli(capsys, "prune", "--older-than", ambiguous)
    assert stopped.value.code == 2
    assert "in days or hours (90d, 12h)" in capsys.readouterr().err
