"""The agent API v1 end to end over HTTP, on SQLite and PostgreSQL: what an agent would notice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from opslayer.bot.people.tokens import MintedToken, mint_token
from tests.harness import BotClient
from tests.support import MovableClock

RUN = {
    "external_id": "invoice-2026-11",
    "title": "Reconcile November invoices",
    "owner": {"email": "Alice@Example.com", "name": "Alice"},
    "webhook_url": "http://127.0.0.1:9/hook",
    "policy": {"heartbeat_timeout_s": 60},
    "context": {
        "thread_id": "th-1",
        "memory": [{"key": "prefs", "scope": "user", "updated_at": "2026-11-01T00:00:00Z"}],
    },
    "labels": {"team": "finance"},
}


async def register(
    client: httpx.AsyncClient, auth: dict[str, str], **changes: Any
) -> dict[str, Any]:
    response = await client.post("/v1/runs", json={**RUN, **changes}, headers=auth)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_register_creates_run_with_owner_and_defaults(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    assert run["status"] == "queued" and run["attempt"] == 1 and run["version"] == 1
    assert run["agent"] == "billing-bot"
    # The name the agent claimed is its claim; the person is named by the identity until an
    # admin or the platform names them.
    assert run["owner"]["email"] == "alice@example.com"
    assert run["owner"]["name"] == "alice@example.com" and run["owner_claim"]["name"] == "Alice"
    assert run["policy"] == {
        "heartbeat_timeout_s": 60,
        "stale_after_s": 86400,
        "approval_reminder_s": 3600,
        "escalate_after_s": 14400,
        "decision_ack_s": 300,
    }
    assert run["context"]["memory"][0]["scope"] == "user"
    assert run["next_check_at"] == "2026-11-26T09:01:00Z"
    assert run["health"] == [] and run["labels"] == {"team": "finance"}


async def test_register_same_external_id_is_idempotent(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    first = await register(app_client, auth)
    again = await app_client.post("/v1/runs", json=RUN, headers=auth)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    listed = (await app_client.get("/v1/runs", headers=auth)).json()
    assert [r["id"] for r in listed["items"]] == [first["id"]]


async def test_register_same_owner_twice_reuses_the_person(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    a = await register(app_client, auth)
    b = await register(app_client, auth, external_id="other", owner={"email": "alice@example.com"})
    assert a["owner"]["id"] == b["owner"]["id"]


async def test_heartbeat_updates_liveness_and_clears_stuck(
    app_client: BotClient, auth: dict[str, str], clock: MovableClock
) -> None:
    run = await register(app_client, auth)
    clock.advance(seconds=30)
    beat = await app_client.post(
        f"/v1/runs/{run['id']}/heartbeat", json={"step": "fetch", "progress": 0.25}, headers=auth
    )
    assert beat.status_code == 200, beat.text
    body = beat.json()
    assert body["last_heartbeat_at"] == "2026-11-26T09:00:30Z" and body["step"] == "fetch"
    assert body["next_check_at"] == "2026-11-26T09:01:30Z"
    # Visible to readers before the batched write, and after it.
    assert (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()["progress"] == 0.25
    await app_client.core.cache.flush()
    stored = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert stored["last_heartbeat_at"] == "2026-11-26T09:00:30Z" and stored["step"] == "fetch"


async def test_heartbeat_at_is_when_it_happened(
    app_client: BotClient, auth: dict[str, str], clock: MovableClock
) -> None:
    run = await register(app_client, auth)
    clock.advance(minutes=10)
    body = (
        await app_client.post(
            f"/v1/runs/{run['id']}/heartbeat",
            json={"at": "2026-11-26T09:05:00+00:00"},
            headers=auth,
        )
    ).json()
    assert body["last_heartbeat_at"] == "2026-11-26T09:05:00Z"
    assert body["health"] == ["stuck"]  # 5 minutes of silence > 60 s timeout


async def test_status_change_is_audited_and_bumps_version(
    app_client: BotClient, auth: dict[str, str], clock: MovableClock
) -> None:
    run = await register(app_client, auth)
    clock.advance(seconds=5)
    running = await app_client.post(
        f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth
    )
    assert (
        running.status_code == 200
        and running.json()["status"] == "running"
        and running.json()["version"] == 2
    )
    failed = await app_client.post(
        f"/v1/runs/{run['id']}/status",
        json={"status": "failed", "error": "timeout", "reason": "api down"},
        headers=auth,
    )
    assert failed.json()["error"] == "timeout"
    retried = (
        await app_client.post(
            f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth
        )
    ).json()
    assert retried["attempt"] == 2 and retried["error"] is None
    audit = (await app_client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()
    assert [(e["action"], e["detail"].get("to")) for e in audit] == [
        ("run.registered", None),
        ("run.status_changed", "running"),
        ("run.status_changed", "failed"),
        ("run.status_changed", "running"),
    ]
    assert audit[2]["reason"] == "api down" and audit[2]["actor"] == {
        "id": "agent:billing-bot",
        "name": "billing-bot",
        "via": "api",
    }


async def test_illegal_transition_is_409_with_current_status_and_changes_nothing(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    refused = await app_client.post(
        f"/v1/runs/{run['id']}/status", json={"status": "succeeded"}, headers=auth
    )
    assert refused.status_code == 409
    assert refused.json()["status"] == "queued" and "not allowed" in refused.json()["detail"]
    after = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert after["status"] == "queued" and after["version"] == 1
    assert len((await app_client.get(f"/v1/runs/{run['id']}/audit", headers=auth)).json()) == 1


async def test_heartbeat_for_ended_run_is_409(app_client: BotClient, auth: dict[str, str]) -> None:
    run = await register(app_client, auth)
    await app_client.post(f"/v1/runs/{run['id']}/status", json={"status": "canceled"}, headers=auth)
    refused = await app_client.post(f"/v1/runs/{run['id']}/heartbeat", json={}, headers=auth)
    assert refused.status_code == 409 and refused.json()["status"] == "canceled"


async def test_waiting_auth_then_running_clears_the_expired_credentials(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    blocked = (
        await app_client.post(
            f"/v1/runs/{run['id']}/status",
            json={"status": "waiting_auth", "auth_expires_at": "2026-11-26T08:00:00Z"},
            headers=auth,
        )
    ).json()
    assert blocked["health"] == ["auth_expired"]
    back = (
        await app_client.post(
            f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth
        )
    ).json()
    assert back["health"] == [] and back["auth_expires_at"] is None


async def test_checkpoints_record_side_effects_idempotently(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    body = {
        "checkpoint_id": "c1",
        "step": "charge",
        "side_effects": [
            {"key": "charge:42", "description": "charged card", "idempotent": False},
            {"key": "email:42", "idempotent": True},
        ],
    }
    first = await app_client.post(f"/v1/runs/{run['id']}/checkpoints", json=body, headers=auth)
    assert first.status_code == 201, first.text
    again = await app_client.post(f"/v1/runs/{run['id']}/checkpoints", json=body, headers=auth)
    assert again.status_code == 200
    await app_client.post(
        f"/v1/runs/{run['id']}/checkpoints",
        json={"checkpoint_id": "c2", "step": "notify"},
        headers=auth,
    )
    listed = (await app_client.get(f"/v1/runs/{run['id']}/checkpoints", headers=auth)).json()
    assert [c["checkpoint_id"] for c in listed] == ["c1", "c2"]
    assert {e["key"]: e["idempotent"] for e in listed[0]["side_effects"]} == {
        "charge:42": False,
        "email:42": True,
    }
    stored = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert stored["step"] == "notify" and stored["last_heartbeat_at"] is not None


async def test_approval_request_waits_and_is_idempotent(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    await app_client.post(f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth)
    body = {
        "request_id": "r1",
        "title": "Refund 420 EUR?",
        "details": "customer 7",
        "approvers": ["bob@example.com"],
        "state": {"refund_id": 7},
    }
    created = await app_client.post(f"/v1/runs/{run['id']}/approvals", json=body, headers=auth)
    assert created.status_code == 201, created.text
    approval = created.json()
    assert approval["status"] == "pending" and approval["state"] == {"refund_id": 7}
    assert (
        await app_client.post(f"/v1/runs/{run['id']}/approvals", json=body, headers=auth)
    ).status_code == 200
    detail = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert detail["status"] == "waiting_approval" and [a["id"] for a in detail["approvals"]] == [
        approval["id"]
    ]
    fetched = (await app_client.get(f"/v1/approvals/{approval['id']}", headers=auth)).json()
    assert fetched["status"] == "pending" and fetched["decided_by"] is None
    # Ending the run closes what nobody answered.
    await app_client.post(f"/v1/runs/{run['id']}/status", json={"status": "canceled"}, headers=auth)
    assert (await app_client.get(f"/v1/approvals/{approval['id']}", headers=auth)).json()[
        "status"
    ] == "canceled"


async def test_approval_on_paused_run_is_409(app_client: BotClient, auth: dict[str, str]) -> None:
    run = await register(app_client, auth)
    await app_client.post(f"/v1/runs/{run['id']}/status", json={"status": "paused"}, headers=auth)
    refused = await app_client.post(
        f"/v1/runs/{run['id']}/approvals", json={"request_id": "r", "title": "t"}, headers=auth
    )
    assert refused.status_code == 409
    assert (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()["approvals"] == []


async def test_approval_expiring_in_the_past_is_422(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    refused = await app_client.post(
        f"/v1/runs/{run['id']}/approvals",
        json={"request_id": "r", "title": "t", "expires_at": "2020-01-01T00:00:00Z"},
        headers=auth,
    )
    assert refused.status_code == 422 and "past" in refused.json()["detail"]


async def test_an_approval_says_how_it_may_be_decided(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    body = {
        "request_id": "r1",
        "title": "Refund?",
        "action": "payments.refund",
        "arguments": {"amount": 40},
        "arguments_schema": {"type": "object", "properties": {"amount": {"type": "integer"}}},
        "decisions": ["edit", "reject", "respond"],
        "required_approvals": 2,
        "timeout_s": 600,
        "on_timeout": "reject",
        "risk": "high",
        "approvers": ["group:finance", "bob@example.com"],
    }
    created = await app_client.post(f"/v1/runs/{run['id']}/approvals", json=body, headers=auth)
    assert created.status_code == 201, created.text
    shown = created.json()
    for field in ("action", "arguments", "arguments_schema", "decisions", "required_approvals"):
        assert shown[field] == body[field], field
    assert shown["on_timeout"] == "reject" and shown["risk"] == "high"
    assert shown["expires_at"] is not None  # timeout_s became a deadline
    assert shown["votes"] == [] and shown["decision"] is None
    plain = {"request_id": "r2", "title": "OK?"}
    defaults = (
        await app_client.post(f"/v1/runs/{run['id']}/approvals", json=plain, headers=auth)
    ).json()
    assert defaults["decisions"] == ["approve", "reject"] and defaults["required_approvals"] == 1
    assert defaults["on_timeout"] == "expire" and defaults["risk"] is None


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"decisions": ["edit"]}, "needs the arguments to edit"),
        ({"decisions": ["approve", "approve"]}, "must not repeat"),
        ({"decisions": []}, "at least 1"),
        ({"decisions": ["maybe"]}, "approve"),
        ({"required_approvals": 0}, "greater than or equal to 1"),
        ({"timeout_s": 60, "expires_at": "2099-01-01T00:00:00Z"}, "not both"),
        ({"timeout_s": 0}, "greater than 0"),
        ({"on_timeout": "ignore"}, "expire"),
        ({"risk": "extreme"}, "high"),
        ({"action": "send email"}, "pattern"),
        ({"arguments": [1, 2]}, "valid dictionary"),
        ({"arguments_schema": {"type": "objekt"}}, "not a JSON Schema"),
    ],
)
async def test_an_approval_that_cannot_be_decided_is_422_and_asks_nothing(
    app_client: BotClient, auth: dict[str, str], extra: dict[str, Any], said: str
) -> None:
    run = await register(app_client, auth)
    body = {"request_id": "r", "title": "t", **extra}
    refused = await app_client.post(f"/v1/runs/{run['id']}/approvals", json=body, headers=auth)
    assert refused.status_code == 422 and said in refused.text, refused.text
    detail = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert detail["approvals"] == [] and detail["status"] == "queued"


async def test_tokens_are_required_and_runs_are_private(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    missing = await app_client.get(f"/v1/runs/{run['id']}")
    assert missing.status_code == 401 and "bearer" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = await app_client.get(
        f"/v1/runs/{run['id']}", headers={"Authorization": "Bearer opl_forged"}
    )
    assert forged.status_code == 401
    other: MintedToken = await mint_token(app_client.store, "other-bot")
    other_auth = {"Authorization": f"Bearer {other.token}"}
    for method, path, body in [
        ("GET", f"/v1/runs/{run['id']}", None),
        ("POST", f"/v1/runs/{run['id']}/heartbeat", {}),
        ("POST", f"/v1/runs/{run['id']}/status", {"status": "running"}),
        ("GET", f"/v1/runs/{run['id']}/audit", None),
    ]:
        response = await app_client.request(method, path, json=body, headers=other_auth)
        assert response.status_code == 403, (path, response.text)
    assert (await app_client.get("/v1/runs", headers=other_auth)).json()["items"] == []
    assert (
        await app_client.get("/v1/runs?agent=billing-bot", headers=other_auth)
    ).status_code == 403


async def test_revoked_token_is_refused(app_client: BotClient, auth: dict[str, str]) -> None:
    from opslayer.bot.people.tokens import revoke_tokens

    await revoke_tokens(app_client.store, "billing-bot")
    app_client.core.authenticator.forget()
    assert (await app_client.get("/v1/runs", headers=auth)).status_code == 401


async def test_unknown_ids_are_404(app_client: BotClient, auth: dict[str, str]) -> None:
    for method, path, body in [
        ("GET", "/v1/runs/run_nope", None),
        ("POST", "/v1/runs/run_nope/heartbeat", {}),
        ("POST", "/v1/runs/run_nope/status", {"status": "running"}),
        ("POST", "/v1/runs/run_nope/checkpoints", {"checkpoint_id": "c", "step": "s"}),
        ("POST", "/v1/runs/run_nope/approvals", {"request_id": "r", "title": "t"}),
        ("GET", "/v1/approvals/apr_nope", None),
        ("POST", "/v1/commands/cmd_nope/ack", {"result": "done"}),
    ]:
        response = await app_client.request(method, path, json=body, headers=auth)
        assert response.status_code == 404, (path, response.text)
        assert "not found" in response.json()["detail"]


async def test_bad_bodies_are_422_and_change_nothing(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    run = await register(app_client, auth)
    bad = [
        ("/v1/runs", b"{not json"),
        ("/v1/runs", b'{"external_id": "x", "title": "t", "owner": {}}'),
        ("/v1/runs", b'{"external_id": 5, "title": ["t"], "owner": {"email": "nope"}}'),
        (
            "/v1/runs",
            b'{"external_id": "x", "title": "t", "owner": {"email": "a@b.co"}, '
            b'"owner_email": "typo"}',
        ),
        (f"/v1/runs/{run['id']}/status", b'{"status": "exploded"}'),
        (f"/v1/runs/{run['id']}/heartbeat", b'{"progress": 7}'),
        (f"/v1/runs/{run['id']}/heartbeat", b'{"at": "2026-11-26T09:00:00"}'),
        (
            f"/v1/runs/{run['id']}/checkpoints",
            b'{"checkpoint_id": "c", "step": "s", "side_effects": [{"key": "k"}]}',
        ),
        (
            f"/v1/runs/{run['id']}/checkpoints",
            b'{"checkpoint_id": "c", "step": "s", "side_effects": '
            b'[{"key": "k", "idempotent": true}, {"key": "k", "idempotent": true}]}',
        ),
        (f"/v1/runs/{run['id']}/approvals", b'{"title": "no request id"}'),
        (f"/v1/runs/{run['id']}/approvals", b'{"request_id": "r", "title": "t", "state": NaN}'),
        ("/v1/runs", b"Infinity"),  # found by the fuzzer: the 422 itself could not be encoded
    ]
    for path, content in bad:
        response = await app_client.post(
            path, content=content, headers={**auth, "content-type": "application/json"}
        )
        assert response.status_code == 422, (path, content, response.text)
        assert isinstance(response.json()["detail"], list)
    after = (await app_client.get(f"/v1/runs/{run['id']}", headers=auth)).json()
    assert (
        after["version"] == 1 and after["status"] == "queued" and after["last_heartbeat_at"] is None
    )
    assert (await app_client.get(f"/v1/runs/{run['id']}/checkpoints", headers=auth)).json() == []
    assert len((await app_client.get("/v1/runs", headers=auth)).json()["items"]) == 1


async def test_oversized_body_is_413(app_client: BotClient, auth: dict[str, str]) -> None:
    huge = {**RUN, "title": "x" * 300_000}
    response = await app_client.post("/v1/runs", json=huge, headers=auth)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 10_000

    streamed = await app_client.post(
        "/v1/runs", content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert (await app_client.get("/v1/runs", headers=auth)).json()["items"] == []


async def test_list_filters_and_pages(app_client: BotClient, auth: dict[str, str]) -> None:
    ids = [(await register(app_client, auth, external_id=f"job-{i}"))["id"] for i in range(5)]
    await app_client.post(
        f"/v1/runs/{ids[0]}/status", json={"status": "waiting_auth"}, headers=auth
    )
    page = (await app_client.get("/v1/runs?limit=2", headers=auth)).json()
    assert [r["id"] for r in page["items"]] == ids[::-1][:2]
    rest = (
        await app_client.get(f"/v1/runs?limit=10&cursor={page['next_cursor']}", headers=auth)
    ).json()
    assert [r["id"] for r in rest["items"]] == ids[::-1][2:] and rest["next_cursor"] is None
    assert [
        r["id"]
        for r in (await app_client.get("/v1/runs?status=waiting_auth", headers=auth)).json()[
            "items"
        ]
    ] == [ids[0]]
    assert [
        r["id"]
        for r in (await app_client.get("/v1/runs?health=auth_expired", headers=auth)).json()[
            "items"
        ]
    ] == [ids[0]]
    assert (
        len(
            (await app_client.get("/v1/runs?owner=alice@example.com", headers=auth)).json()["items"]
        )
        == 5
    )
    assert (await app_client.get("/v1/runs?owner=bob@example.com", headers=auth)).json()[
        "items"
    ] == []
    assert (await app_client.get("/v1/runs?status=bogus", headers=auth)).status_code == 422


async def test_openapi_health_and_metrics(app_client: BotClient, auth: dict[str, str]) -> None:
    spec = (await app_client.get("/openapi.json")).json()
    for path in [
        "/v1/runs",
        "/v1/runs/{run_id}/heartbeat",
        "/v1/runs/{run_id}/status",
        "/v1/runs/{run_id}/checkpoints",
        "/v1/runs/{run_id}/approvals",
        "/v1/approvals/{approval_id}",
        "/v1/runs/{run_id}/commands",
        "/v1/commands/{command_id}/ack",
        "/v1/runs/{run_id}/audit",
    ]:
        assert path in spec["paths"], path
    assert (await app_client.get("/healthz")).json() == {"status": "ok"}
    await register(app_client, auth)
    metrics = (await app_client.get("/metrics")).text
    assert 'opslayer_runs{status="queued"} 1.0' in metrics
    assert 'opslayer_runs_health{health="stuck"} 0.0' in metrics
    assert (
        'opslayer_commands{status="pending"} 0.0' in metrics and "opslayer_scan_seconds" in metrics
    )
    assert "opslayer_alerts_unsynced 0.0" in metrics
    assert (
        'opslayer_http_requests_total{method="POST",route="/v1/runs",status="201"} 1.0' in metrics
    )


async def test_webhooks_into_metadata_or_link_local_networks_are_refused(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/",
    ):
        body = {
            "external_id": url,
            "title": "t",
            "owner": {"email": "a@example.com"},
            "webhook_url": url,
        }
        refused = await app_client.post("/v1/runs", json=body, headers=auth)
        assert refused.status_code == 422, url
        assert "OPSLAYER_WEBHOOK_DENY" in refused.json()["detail"]
    listed = (await app_client.get("/v1/runs", headers=auth)).json()
    assert listed["items"] == []  # nothing half-registered


async def test_the_hot_path_answers_as_the_routes_do(
    app_client: BotClient, auth: dict[str, str]
) -> None:
    """Heartbeats, checkpoints and remembered reads skip FastAPI's routing; what they cannot
    answer plainly still gets the route's answer, and metrics name the route either way."""
    run = await register(app_client, auth)
    beat = f"/v1/runs/{run['id']}/heartbeat"
    nested = "[" * 50_000 + "]" * 50_000  # deeper than Python's json will go
    deep = await app_client.post(beat, content=nested, headers={**auth, **JSON})
    assert deep.status_code == 400
    as_text = await app_client.post(
        beat, content=b'{"step": "x"}', headers={**auth, "Content-Type": "text/plain"}
    )
    assert as_text.status_code == 422
    unknown = await app_client.post(
        "/v1/runs/run_nope/heartbeat", json={}, headers={**auth, **JSON}
    )
    assert unknown.status_code == 404 and "run_nope" in unknown.json()["detail"]
    stranger = {"Authorization": f"Bearer {(await mint_token(app_client.store, 'other')).token}"}
    assert (await app_client.post(beat, json={}, headers=stranger)).status_code == 403
    assert (
        await app_client.post(beat, json={}, headers={"Authorization": "Bearer x"})
    ).status_code == 401
    first = await app_client.post(
        f"/v1/runs/{run['id']}/checkpoints", json={"checkpoint_id": "c1", "step": "s"}, headers=auth
    )
    again = await app_client.post(
        f"/v1/runs/{run['id']}/checkpoints", json={"checkpoint_id": "c1", "step": "s"}, headers=auth
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert (await app_client.post(beat, json={"step": "ok"}, headers=auth)).json()["step"] == "ok"
    metrics = (await app_client.get("/metrics")).text
    for line in (
        'route="/v1/runs/{run_id}/heartbeat",status="200"',
        'route="/v1/runs/{run_id}/heartbeat",status="400"',
        'route="/v1/runs/{run_id}/heartbeat",status="404"',
        'route="/v1/runs/{run_id}/checkpoints",status="201"',
    ):
        assert line in metrics, line


JSON = {"Content-Type": "application/json"}
