"""One agent cannot blind the others: text a database cannot store is refused at the door (422,
every string field, both databases), and a batch of heartbeats the database refuses is written
again beat by beat, so only the offender's beat is lost."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest

from opslayer_client.contract import Heartbeat
from tests.harness import BotClient

BAD = ("x\u0000", "x\ud800")


def _with(path: tuple[Any, ...], value: Any, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with `value` put at `path` (keys and list indexes); a path ending in a `key()`
    marker renames that key instead."""
    changed = copy.deepcopy(body)
    here: Any = changed
    for step in path[:-1]:
        here = here[step]
    last = path[-1]
    if isinstance(last, tuple) and last[0] == "key":
        here[value] = here.pop(last[1])
    else:
        here[last] = value
    return changed


RUN: dict[str, Any] = {
    "external_id": "e",
    "title": "t",
    "owner": {"email": "a@example.com", "name": "A"},
    "channel": {"slack": "C1", "teams": "19:t"},
    "labels": {"team": "pay"},
    "context": {
        "thread_id": "th",
        "memory": [{"key": "m", "scope": "user", "updated_at": "2026-11-01T00:00:00Z"}],
    },
}
CHECKPOINT: dict[str, Any] = {
    "checkpoint_id": "c",
    "step": "s",
    "summary": "sum",
    "side_effects": [{"key": "k", "description": "d", "idempotent": False}],
}
APPROVAL: dict[str, Any] = {
    "request_id": "r",
    "title": "t",
    "details": "d",
    "approvers": ["a@example.com"],
    "state": {"nested": ["deep", {"k": "v"}]},
}
# (method path, body, where the bad text goes)
CASES = [
    ("/v1/runs", RUN, p)
    for p in [
        ("external_id",),
        ("title",),
        ("owner", "name"),
        ("owner", "email"),
        ("channel", "slack"),
        ("channel", "teams"),
        ("labels", "team"),
        ("labels", ("key", "team")),
        ("context", "thread_id"),
        ("context", "memory", 0, "key"),
    ]
] + [
    ("/v1/runs/{run}/heartbeat", {"step": "s", "message": "m"}, ("step",)),
    ("/v1/runs/{run}/heartbeat", {"step": "s", "message": "m"}, ("message",)),
    ("/v1/runs/{run}/status", {"status": "running", "reason": "r"}, ("reason",)),
    ("/v1/runs/{run}/status", {"status": "failed", "error": "e"}, ("error",)),
    ("/v1/runs/{run}/checkpoints", CHECKPOINT, ("checkpoint_id",)),
    ("/v1/runs/{run}/checkpoints", CHECKPOINT, ("step",)),
    ("/v1/runs/{run}/checkpoints", CHECKPOINT, ("summary",)),
    ("/v1/runs/{run}/checkpoints", CHECKPOINT, ("side_effects", 0, "key")),
    ("/v1/runs/{run}/checkpoints", CHECKPOINT, ("side_effects", 0, "description")),
    ("/v1/runs/{run}/approvals", APPROVAL, ("request_id",)),
    ("/v1/runs/{run}/approvals", APPROVAL, ("title",)),
    ("/v1/runs/{run}/approvals", APPROVAL, ("details",)),
    ("/v1/runs/{run}/approvals", APPROVAL, ("approvers", 0)),
    ("/v1/runs/{run}/approvals", APPROVAL, ("state", "nested", 0)),
    ("/v1/runs/{run}/approvals", APPROVAL, ("state", "nested", 1, ("key", "k"))),
]


@pytest.mark.parametrize("bad", BAD, ids=["nul", "surrogate"])
async def test_unstorable_text_is_refused_in_every_string_field_and_changes_nothing(
    app_client: BotClient, auth: dict[str, str], bad: str
) -> None:
    run = (
        await app_client.post("/v1/runs", json={**RUN, "external_id": "ok"}, headers=auth)
    ).json()
    before = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    for path, body, where in CASES:
        url = path.format(run=run["id"])
        # json= would refuse to encode a lone surrogate: send it escaped, as JSON allows.
        content = json.dumps(_with(where, bad, body))
        answer = await app_client.post(
            url, content=content, headers={**auth, "content-type": "application/json"}
        )
        assert answer.status_code == 422, (url, where, answer.text)
        assert "NUL" in answer.text
    after = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert after == before
    page = (await app_client.get("/v1/runs", headers=auth)).json()
    assert [r["external_id"] for r in page["items"]] == ["ok"]


async def test_unstorable_ids_in_paths_and_filters_are_422_not_500(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    for url in ("/v1/runs/x%00", "/v1/approvals/%00", "/v1/runs?owner=%00", "/v1/runs?cursor=a%00"):
        answer = await app_client.get(url, headers=auth)
        assert answer.status_code == 422, (url, answer.text)
    answer = await app_client.post("/v1/commands/%00/ack", json={"result": "done"}, headers=auth)
    assert answer.status_code == 422


async def test_a_heartbeat_the_database_refuses_costs_no_other_agent_its_beat(
    app_client: BotClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    runs_api = app_client.core.runs
    runs = [
        (
            await app_client.post("/v1/runs", json={**RUN, "external_id": f"r{i}"}, headers=auth)
        ).json()
        for i in range(3)
    ]
    for run in runs[:2]:
        await runs_api.heartbeat("billing-bot", run["id"], Heartbeat(message="fine"))
    # What validation would refuse, slipped past it: a lone surrogate no database can encode.
    rogue = Heartbeat.model_construct(message="x\ud800", at=None, step=None, progress=None)
    await runs_api.heartbeat("billing-bot", runs[2]["id"], rogue)
    with caplog.at_level(logging.ERROR, logger="opslayer.runs"):
        assert await app_client.core.cache.flush() == 3
    assert runs[2]["id"] in caplog.text
    for run in runs[:2]:
        stored = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
        assert stored["message"] == "fine" and stored["last_heartbeat_at"] is not None
    assert app_client.core.cache.pending_heartbeats == 0
