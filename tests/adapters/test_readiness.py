"""A database that stops taking writes (a full disk, a read-only volume) is not a crash: writes
answer 503 with the reason and Retry-After, /readyz says the database is unwritable while
/healthz stays up, nothing acknowledged is lost, and it all recovers by itself."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from opslayer.adapters.settings import Settings
from opslayer.bot.people.tokens import MintedToken, mint_token
from tests.harness import BotClient, running
from tests.support import MovableClock


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    """SQLite only: its `query_only` pragma makes the file refuse writes as a full disk does."""
    return f"sqlite+aiosqlite:///{tmp_path / 'opslayer.db'}"


async def _writes(client: BotClient, *, allowed: bool) -> None:
    """Every new connection from now on takes writes, or refuses them."""
    engine = client.core.store.engine  # type: ignore[attr-defined]

    def pragma(connection: Any, _record: Any) -> None:
        connection.execute(f"PRAGMA query_only = {'OFF' if allowed else 'ON'}")

    event.listen(engine.sync_engine, "connect", pragma)
    await engine.dispose()


async def test_an_unwritable_database_answers_503_with_a_reason_and_recovers(
    app_client: BotClient, agent: MintedToken
) -> None:
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {"external_id": "kept", "title": "Kept", "owner": {"email": "a@example.com"}}
    kept = await app_client.post("/v1/runs", json=body, headers=auth)
    assert kept.status_code == 201
    assert (await app_client.get("/readyz")).json() == {"status": "ready"}

    await _writes(app_client, allowed=False)
    lost = {**body, "external_id": "refused"}
    refused = await app_client.post("/v1/runs", json=lost, headers=auth)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert "readonly" in refused.json()["detail"]
    ready = await app_client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["retry-after"] == "5"
    assert ready.json()["reason"].startswith("the database takes no writes")
    assert (await app_client.get("/healthz")).status_code == 200  # alive, just not ready

    await _writes(app_client, allowed=True)
    assert (await app_client.get("/readyz")).json() == {"status": "ready"}
    again = await app_client.post("/v1/runs", json=lost, headers=auth)
    assert again.status_code == 201
    listed = (await app_client.get("/v1/runs", headers=auth)).json()["items"]
    assert {r["external_id"] for r in listed} == {"kept", "refused"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB filesystem (tmpfs) for the database, where this machine lets us mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here (needs root): {made.stderr!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_readyz_fails_when_the_disk_is_full_though_a_small_update_still_fits(
    small_disk: Path, clock: MovableClock
) -> None:
    """Seen: with the disk full, SQLite's write-ahead log, grown by earlier writes, still took
    the probe's one-row update, and /readyz said ready while inserts answered 503."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{small_disk / 'o.db'}")
    async with running(settings, clock) as client:
        auth = {"Authorization": f"Bearer {(await mint_token(client.store, 'bot')).token}"}
        labels = {f"k{i}": "v" * 200 for i in range(40)}
        for i in range(200):  # the log grows to megabytes, as in production
            body = {"external_id": f"e{i}", "title": "t", "owner": {"email": "a@example.com"}}
            answer = await client.post("/v1/runs", json={**body, "labels": labels}, headers=auth)
            assert answer.status_code == 201
        filler = small_disk / "filler"
        with filler.open("wb") as file, contextlib.suppress(OSError):
            while True:
                file.write(b"\0" * 65536)
                file.flush()
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "5"
        assert "disk is full" in ready.json()["reason"]
        filler.unlink()
        assert (await client.get("/readyz")).json() == {"status": "ready"}
