"""A runaway agent cannot crowd out the others: per-agent request rate, open runs and pending
approvals are limited (429 with the reason and Retry-After), other agents are not affected,
and both the limits and the refusals are in /metrics."""

from __future__ import annotations

from typing import Any

import pytest

from opslayer.bot.people.tokens import MintedToken, mint_token
from tests.harness import BotClient


@pytest.fixture
def settings(db_url: str) -> Any:
    from opslayer.adapters.settings import Settings

    return Settings(
        database_url=db_url,
        run_cache_ttl_s=0,
        agent_rate_per_s=5,
        max_open_runs_per_agent=3,
        max_pending_approvals_per_agent=2,
    )


def _run(key: str) -> dict[str, Any]:
    return {"external_id": key, "title": key, "owner": {"email": "a@example.com"}}


async def test_open_runs_and_pending_approvals_are_capped_per_agent(
    app_client: BotClient, agent: MintedToken
) -> None:
    auth = {"Authorization": f"Bearer {agent.token}"}
    ids = []
    for n in range(3):
        made = await app_client.post("/v1/runs", json=_run(f"r{n}"), headers=auth)
        assert made.status_code == 201
        ids.append(made.json()["id"])
    capped = await app_client.post("/v1/runs", json=_run("r3"), headers=auth)
    assert capped.status_code == 429 and capped.headers["retry-after"] == "60"
    assert "3 open runs already" in capped.json()["detail"]
    again = await app_client.post("/v1/runs", json=_run("r0"), headers=auth)
    assert again.status_code == 200  # registering an existing run again is not a new one
    other = await mint_token(app_client.store, "other-agent")
    theirs = {"Authorization": f"Bearer {other.token}"}
    assert (await app_client.post("/v1/runs", json=_run("x"), headers=theirs)).status_code == 201

    for run_id in ids[:2]:
        asked = {"request_id": "q", "title": "OK?"}
        answer = await app_client.post(f"/v1/runs/{run_id}/approvals", json=asked, headers=auth)
        assert answer.status_code == 201
    third = await app_client.post(
        f"/v1/runs/{ids[2]}/approvals", json={"request_id": "q", "title": "OK?"}, headers=auth
    )
    assert third.status_code == 429 and "2 pending approvals" in third.json()["detail"]

    await app_client.post(f"/v1/runs/{ids[0]}/status", json={"status": "canceled"}, headers=auth)
    assert (await app_client.post("/v1/runs", json=_run("r4"), headers=auth)).status_code == 201

    metrics = (await app_client.get("/metrics")).text
    assert 'opslayer_agent_limited_total{agent="billing-bot",limit="open runs"} 1.0' in metrics
    assert 'limit="pending approvals"} 1.0' in metrics
    assert 'opslayer_agent_limit{limit="open runs"} 3.0' in metrics


async def test_an_agent_over_its_rate_gets_429_and_others_do_not(
    app_client: BotClient, agent: MintedToken
) -> None:
    auth = {"Authorization": f"Bearer {agent.token}"}
    answers = [(await app_client.get("/v1/runs", headers=auth)).status_code for _ in range(20)]
    assert answers[:10] == [200] * 10 and 429 in answers  # a burst of twice the rate, then no
    refused = await app_client.get("/v1/runs", headers=auth)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "more than 5 requests a second" in refused.json()["detail"]
    other = await mint_token(app_client.store, "quiet-agent")
    theirs = {"Authorization": f"Bearer {other.token}"}
    assert (await app_client.get("/v1/runs", headers=theirs)).status_code == 200
    metrics = (await app_client.get("/metrics")).text
    assert 'agent="billing-bot",limit="requests per second"}' in metrics
