"""Schema-driven fuzzing: whatever an agent sends to any route of /openapi.json, never a 5xx."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opslayer.adapters.app import create_app
from opslayer.adapters.settings import Settings
from opslayer.bot.people.tokens import mint_token
from tests.support import MovableClock

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)


def _field_values(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Plausible values for a field (from its schema's enums and formats), mixed with junk."""
    if "$ref" in schema:
        schema = components[schema["$ref"].split("/")[-1]]
    options: list[st.SearchStrategy[Any]] = [json_values]
    for variant in schema.get("anyOf", [schema]):
        if "$ref" in variant:
            variant = components[variant["$ref"].split("/")[-1]]
        if "enum" in variant:
            options.append(st.sampled_from(variant["enum"]))
        if variant.get("format") == "date-time":
            options.append(
                st.datetimes(timezones=st.just(None) | st.timezones()).map(lambda d: d.isoformat())
            )
        if variant.get("type") == "object" and "properties" in variant:
            options.append(_objects(variant, components))
        if variant.get("type") == "array" and "items" in variant:
            options.append(st.lists(_field_values(variant["items"], components), max_size=3))
    return st.one_of(options)


def _later(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a (possibly recursive) schema, drawn only when needed."""
    return st.deferred(lambda: _field_values(schema, components))


def _objects(
    schema: dict[str, Any], components: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    return st.fixed_dictionaries(
        {},
        optional={name: _later(sub, components) for name, sub in properties.items()},
    )


SPEC: dict[str, Any] = {}


def _spec() -> dict[str, Any]:
    if not SPEC:
        SPEC.update(create_app(Settings(database_url="sqlite+aiosqlite://")).openapi())
    return SPEC


def _routes() -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, ops in _spec()["paths"].items()
        for method in ops
        if path.startswith("/v1")
    ]


@pytest.mark.parametrize(("path", "method"), _routes())
def test_fuzzed_requests_never_get_a_5xx(path: str, method: str, tmp_path: Path) -> None:
    spec = _spec()
    components = spec["components"]["schemas"]
    operation = spec["paths"][path][method]
    content = operation.get("requestBody", {}).get("content", {})
    body_schema = content.get("application/json", {}).get("schema")
    bodies: st.SearchStrategy[Any] = st.none()
    if body_schema:
        bodies = _field_values(body_schema, components) | st.binary(max_size=40)
    params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    queries = st.fixed_dictionaries({}, optional={n: st.text(max_size=12) for n in params})
    ids = st.sampled_from(["RUN", "run_unknown", "%00", "x" * 300, ""])

    # Hypothesis drives sync functions: the app lives on a loop of this test's own.
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    url = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
    app = create_app(Settings(database_url=url, run_cache_ttl_s=0), clock=MovableClock())

    async def start() -> tuple[httpx.AsyncClient, dict[str, str], str]:
        await stack.enter_async_context(app.router.lifespan_context(app))
        minted = await mint_token(app.state.core.store, "fuzz-bot")
        auth = {"Authorization": f"Bearer {minted.token}"}
        transport = httpx.ASGITransport(app=app)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://t")
        )
        run = {"external_id": "e", "title": "t", "owner": {"email": "a@b.co"}}
        created = await client.post("/v1/runs", json=run, headers=auth)
        return client, auth, created.json()["id"]

    client, auth, run_id = loop.run_until_complete(start())

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, query=queries, some_id=ids)
    def probe(body: Any, query: dict[str, str], some_id: str) -> None:
        target = path
        for name in ("run_id", "approval_id", "command_id"):
            target = target.replace("{" + name + "}", run_id if some_id == "RUN" else some_id)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = loop.run_until_complete(
            client.request(
                method.upper(),
                target,
                params=query,
                content=raw if body_schema else None,
                headers={**auth, "content-type": "application/json"},
            )
        )
        assert response.status_code < 500, (method, target, raw, response.text)

    try:
        probe()
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
