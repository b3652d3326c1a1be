"""A database that stops taking writes (a full disk, a read-only volume) is not a crash: writes
answer 503 with the reason and Retry-After, /readyz says the database is unwritable while
/healthz stays up, nothing acknowledged is lost, and it all recovers by itself."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from opslayer.bot.people.tokens import MintedToken
from tests.harness import BotClient


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
