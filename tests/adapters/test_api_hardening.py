"""Smaller defences of the agent API: moments out of range are 422, a 500 is JSON and closes the
connection, unknown tokens cost one lookup and a flood of them is slowed down, and a revoked
token stops working within the token cache's second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opslayer.adapters.app import create_app
from opslayer.adapters.settings import Settings
from opslayer.bot.people.tokens import MintedToken, TokenAuthenticator, mint_token, revoke_tokens
from tests.harness import BotClient
from tests.support import MovableClock

RUN = {"external_id": "e", "title": "t", "owner": {"email": "a@example.com"}}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("approvals", {"request_id": "r", "title": "t", "expires_at": "9999-12-31T23:59:59-14:00"}),
        ("approvals", {"request_id": "r", "title": "t", "expires_at": "0001-01-01T00:00:00+14:00"}),
        ("status", {"status": "waiting_auth", "auth_expires_at": "0001-01-01T00:00:00Z"}),
        ("status", {"status": "running", "auth_expires_at": "9999-12-31T23:59:59Z"}),
        ("heartbeat", {"at": "0001-01-01T00:00:00Z"}),
        ("heartbeat", {"at": "1969-12-31T23:59:59Z"}),
    ],
)
async def test_moments_out_of_range_are_422_not_500(
    app_client: BotClient, auth: dict[str, str], path: str, body: dict[str, Any]
) -> None:
    run = (await app_client.post("/v1/runs", json=RUN, headers=auth)).json()
    answer = await app_client.post(f"/v1/runs/{run['id']}/{path}", json=body, headers=auth)
    assert answer.status_code == 422, answer.text
    assert "out of range" in answer.text
    memory = [{"key": "m", "scope": "user", "updated_at": "0001-01-01T00:00:00-01:00"}]
    answer = await app_client.post(
        "/v1/runs", json={**RUN, "external_id": "m", "context": {"memory": memory}}, headers=auth
    )
    assert answer.status_code == 422, answer.text


async def test_a_500_is_json_and_closes_the_connection(
    app_client: BotClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = (await app_client.post("/v1/runs", json=RUN, headers=auth)).json()
    reads = app_client.core.reads

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reads, "get_run", broken)
    transport = httpx.ASGITransport(app=app_client.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get(f"/v1/runs/{run['id']}", headers=auth)
    assert answer.status_code == 500 and answer.headers["connection"] == "close"
    assert "internal error" in answer.json()["detail"] and "a bug" not in answer.text


@pytest.fixture
async def api(db_url: str, clock: MovableClock) -> AsyncIterator[tuple[FastAPI, MintedToken]]:
    """The app with a strict failure budget (2 unknown tokens a second per address)."""
    app = create_app(
        Settings(database_url=db_url, heartbeat_flush_s=3600, auth_failures_per_s=2),
        clock=clock,
    )
    async with app.router.lifespan_context(app):
        yield app, await mint_token(app.state.core.store, "billing-bot")


def _client(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_unknown_tokens_cost_one_lookup_and_a_flood_is_slowed_down(
    api: tuple[FastAPI, MintedToken],
) -> None:
    app, agent = api
    authenticator: TokenAuthenticator = app.state.core.authenticator
    async with _client(app, "10.0.0.1") as attacker, _client(app, "10.0.0.2") as honest:
        before = authenticator.lookups
        statuses = [
            (await attacker.get("/v1/runs", headers={"Authorization": "Bearer opl_guess"}))
            for _ in range(3)
        ]
        assert [s.status_code for s in statuses] == [401, 401, 401]
        assert authenticator.lookups == before + 1  # the same unknown token: looked up once
        flood = [
            await attacker.get("/v1/runs", headers={"Authorization": f"Bearer opl_{n}"})
            for n in range(50)
        ]
        limited = [r for r in flood if r.status_code == 429]
        assert len(limited) >= 45 and all(int(r.headers["retry-after"]) >= 1 for r in limited)
        assert authenticator.lookups <= before + 6  # 429s cost no lookup
        mine = await honest.get("/v1/runs", headers={"Authorization": f"Bearer {agent.token}"})
        assert mine.status_code == 200  # another address, a valid token: untouched


async def test_a_revoked_token_stops_working_within_the_cache_ttl(
    api: tuple[FastAPI, MintedToken], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, agent = api
    assert app.state.settings.token_cache_ttl_s <= 2  # the README promises a second or two
    now = [1000.0]
    monkeypatch.setattr("opslayer.bot.people.tokens.time.monotonic", lambda: now[0])
    auth = {"Authorization": f"Bearer {agent.token}"}
    async with _client(app, "10.0.0.3") as client:
        assert (await client.get("/v1/runs", headers=auth)).status_code == 200
        await revoke_tokens(
            app.state.core.store, "billing-bot"
        )  # from another process, say the CLI
        assert (await client.get("/v1/runs", headers=auth)).status_code == 200  # still cached
        now[0] += app.state.settings.token_cache_ttl_s + 0.01
        assert (await client.get("/v1/runs", headers=auth)).status_code == 401


async def test_a_wrong_method_names_every_method_the_path_takes(app_client: BotClient) -> None:
    answer = await app_client.request("DELETE", "/v1/runs")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, POST"


async def test_the_api_reference_needs_no_internet(app_client: BotClient) -> None:
    """Seen: /docs was blank without internet (Swagger UI from a CDN)."""
    page = await app_client.get("/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    scripts = [s for s in page.text.split('"') if s.startswith("/docs-assets/")]
    assert "/docs-assets/swagger-ui-bundle.js" in scripts
    for asset in scripts:
        assert (await app_client.get(asset)).status_code == 200, asset
    assert (await app_client.get("/openapi.json")).status_code == 200
