"""What an agent hands the server as data must stay data: an approval's `arguments_schema`
never reaches the network, never backtracks for seconds, never recurses without end, and no
JSON an agent sends is deep enough to break a read later. Each attack is the one that was seen
working against the server, replayed through the console, the CLI and the agent API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from opslayer.bot.people.tokens import MintedToken
from opslayer.store.engine import create_engine
from opslayer.store.tables import approvals
from tests.cli_support import in_thread, run_cli, seed_run
from tests.console_support import Person
from tests.harness import BotClient

CATASTROPHIC = "^(a+)+$"  # exponential in Python's `re` on "aaa…a!"


class Tarpit:
    """A listener that accepts connections and never answers: what froze the server."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""

    async def _hold(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await asyncio.sleep(3600)
        writer.close()


@pytest.fixture
async def tarpit() -> AsyncIterator[Tarpit]:
    pit = Tarpit()
    server = await asyncio.start_server(pit._hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pit.url = f"http://127.0.0.1:{port}/s.json"
    async with server:
        yield pit
        server.close()


def auth(agent: MintedToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent.token}"}


async def asked(
    client: BotClient, agent: MintedToken, schema: dict[str, Any] | None, **more: Any
) -> tuple[str, Any]:
    """Alice's run asks to approve a payment, offering edit; the answer to the request."""
    run = await client.post(
        "/v1/runs",
        json={"external_id": "pay-1", "title": "Pay", "owner": {"email": "alice@example.com"}},
        headers=auth(agent),
    )
    run_id: str = run.json()["id"]
    body = {
        "request_id": "pay",
        "title": "Pay the supplier?",
        "arguments": {"name": "a" * 30 + "!", "note": "first"},
        "decisions": ["approve", "edit", "reject"],
        **({"arguments_schema": schema} if schema is not None else {}),
        **more,
    }
    answer = await client.post(f"/v1/runs/{run_id}/approvals", json=body, headers=auth(agent))
    return run_id, answer


async def store_schema(db_url: str, schema: dict[str, Any]) -> None:
    """As if the schema had been stored before the server vetted schemas."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.update(approvals).values(arguments_schema=schema))
    finally:
        await engine.dispose()


async def healthz_while(client: BotClient, work: Any) -> tuple[Any, float]:
    """Run `work` and, meanwhile, time /healthz: the slowest answer, in seconds."""
    task = asyncio.ensure_future(work)
    slowest = 0.0
    while not task.done():
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return await task, slowest


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "{url}"},
        {"type": "object", "properties": {"name": {"$ref": "{url}#/defs/name"}}},
        {"$defs": {"n": {"$ref": "other.json"}}, "properties": {"name": {"$ref": "#/$defs/n"}}},
    ],
)
async def test_a_schema_referring_outside_itself_is_refused_and_nothing_is_fetched(
    bot: tuple[BotClient, MintedToken], tarpit: Tarpit, schema: dict[str, Any]
) -> None:
    client, agent = bot
    schema = json.loads(json.dumps(schema).replace("{url}", tarpit.url))
    run_id, answer = await asked(client, agent, schema)
    assert answer.status_code == 422, answer.text
    assert "$ref" in answer.text and "points outside the schema" in answer.text
    run = (await client.get(f"/v1/runs/{run_id}", headers=auth(agent))).json()
    assert run["status"] == "queued" and run["approvals"] == []
    assert tarpit.connections == 0


async def test_a_remote_reference_stored_earlier_is_refused_at_edit_without_a_fetch(
    bot: tuple[BotClient, MintedToken], db_url: str, tarpit: Tarpit
) -> None:
    client, agent = bot
    run_id, answer = await asked(client, agent, {"type": "object"})
    assert answer.status_code == 201, answer.text
    await store_schema(db_url, {"$ref": tarpit.url})
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        edit = alice.act(run_id, "edit", arguments=json.dumps({"name": "b", "note": "x"}))
        answer, slowest = await healthz_while(client, edit)
        assert answer.status_code == 303
        assert "points outside the schema" in await alice.flash(run_id)
    assert tarpit.connections == 0 and slowest < 0.1
    run = (await client.get(f"/v1/runs/{run_id}", headers=auth(agent))).json()
    assert run["approvals"][0]["status"] == "pending"


async def test_a_catastrophic_pattern_is_matched_in_linear_time_while_others_are_served(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": CATASTROPHIC}}}
    run_id, answer = await asked(client, agent, schema)
    assert answer.status_code == 201, answer.text
    approval_id = answer.json()["id"]
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        # Only the note changes; the name the agent pre-filled (30 a's and a "!") is judged too.
        edit = alice.act(
            run_id, "edit", arguments=json.dumps({"name": "a" * 30 + "!", "note": "x"})
        )
        started = time.perf_counter()
        answer, slowest = await healthz_while(client, edit)
        took = time.perf_counter() - started
        assert answer.status_code == 303
        assert "does not match" in await alice.flash(run_id)
        assert took < 2 and slowest < 0.1, (took, slowest)
        fixed = await alice.act(run_id, "edit", arguments=json.dumps({"name": "aaa", "note": "x"}))
        assert fixed.status_code == 303
    decided = await client.get(f"/v1/approvals/{approval_id}", headers=auth(agent))
    assert decided.json()["status"] == "approved"


@pytest.mark.parametrize(
    ("pattern", "where"),
    [("^(?=a)b", "pattern"), (r"(a)\1", "pattern"), ("^(?!x)", "patternProperties")],
)
async def test_a_pattern_that_cannot_be_matched_in_linear_time_is_refused_when_asked(
    bot: tuple[BotClient, MintedToken], pattern: str, where: str
) -> None:
    client, agent = bot
    if where == "pattern":
        schema: dict[str, Any] = {"properties": {"name": {"type": "string", "pattern": pattern}}}
    else:
        schema = {"patternProperties": {pattern: {"type": "string"}}}
    _, answer = await asked(client, agent, schema)
    assert answer.status_code == 422, answer.text
    said = answer.json()["detail"]
    assert "linear time" in said and repr(pattern) in said


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {
            "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}},
            "$ref": "#/$defs/a",
        },
        {
            "$defs": {"x": {"$anchor": "me", "not": {"$ref": "#me"}}},
            "properties": {"n": {"$ref": "#/$defs/x"}},
        },
    ],
)
async def test_references_that_go_round_without_end_are_refused_when_asked(
    bot: tuple[BotClient, MintedToken], schema: dict[str, Any]
) -> None:
    client, agent = bot
    _, answer = await asked(client, agent, schema)
    assert answer.status_code == 422, answer.text
    assert "go round without end" in answer.text


async def test_a_recursive_schema_that_descends_is_accepted_and_judges_edits(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
            }
        },
        "$ref": "#/$defs/node",
    }
    run_id, answer = await asked(client, agent, tree)
    assert answer.status_code == 201, answer.text
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        wrong = {"name": "root", "children": [{"name": "leaf", "children": [{"name": 5}]}]}
        await alice.act(run_id, "edit", arguments=json.dumps(wrong))
        assert "children.0.children.0.name: 5 is not of type" in await alice.flash(run_id)


async def test_a_recursive_schema_stored_earlier_is_a_clear_refusal_in_the_cli(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    approval = {
        "request_id": "r1",
        "title": "Refund?",
        "arguments": {"amount": 1},
        "decisions": ["approve", "edit"],
    }
    seeded = await seed_run(cli_db, approval=approval)
    await store_schema(cli_db, {"$ref": "#"})
    code, out, err = await in_thread(
        run_cli,
        capsys,
        "runs",
        "approve",
        seeded["run"],
        "--as",
        "alice@example.com",
        "--edit",
        '{"amount": 2}',
    )
    assert code != 0 and "go round without end" in err + out
    assert "Traceback" not in err and "RecursionError" not in err


def fanning_out(levels: int) -> dict[str, Any]:
    """Each definition is anyOf two references to the next: 2^levels evaluations per value,
    in a schema a few kilobytes long (seen: 18 levels took 28 s)."""
    defs: dict[str, Any] = {
        f"a{i}": {"anyOf": [{"$ref": f"#/$defs/a{i + 1}"}, {"$ref": f"#/$defs/a{i + 1}"}]}
        for i in range(levels)
    }
    defs[f"a{levels}"] = {"type": "string", "minLength": 40}
    return {"$defs": defs, "properties": {"name": {"$ref": "#/$defs/a0"}}}


@pytest.mark.parametrize(
    ("schema", "note", "said"),
    [
        (fanning_out(30), "x", "steps of the arguments_schema"),
        (
            {"properties": {"note": {"type": "array", "uniqueItems": True}}},
            [{"n": i} for i in range(6_000)] + [{"n": 7}],
            "non-unique elements ({&#39;n&#39;: 7} repeats)",  # as the page escapes it
        ),
    ],
)
async def test_an_edit_whose_judging_would_take_long_is_refused_quickly(
    bot: tuple[BotClient, MintedToken], schema: dict[str, Any], note: Any, said: str
) -> None:
    client, agent = bot
    run_id, answer = await asked(client, agent, schema)
    assert answer.status_code == 201, answer.text
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        edit = alice.act(run_id, "edit", arguments=json.dumps({"name": "a", "note": note}))
        started = time.perf_counter()
        answer, slowest = await healthz_while(client, edit)
        took = time.perf_counter() - started
        assert answer.status_code == 303
        assert said in await alice.flash(run_id)
    assert took < 2 and slowest < 0.1, (took, slowest)


def deep(levels: int) -> Any:
    value: Any = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "field",
    [
        {"state": deep(260)},
        {"arguments": deep(40)},
        {"arguments_schema": json.loads('{"not": ' * 120 + "{}" + "}" * 120)},
    ],
)
async def test_deep_json_is_refused_before_anything_is_written(
    bot: tuple[BotClient, MintedToken], field: dict[str, Any]
) -> None:
    client, agent = bot
    run_id, answer = await asked(client, agent, None, **field)
    assert answer.status_code == 422, answer.text
    assert "nested deeper than 32 levels" in answer.text
    run = await client.get(f"/v1/runs/{run_id}", headers=auth(agent))
    assert run.status_code == 200 and run.json()["status"] == "queued"
    commands = await client.get(f"/v1/runs/{run_id}/commands", headers=auth(agent))
    assert commands.status_code == 200 and commands.json() == []


async def test_deep_json_stored_before_the_limit_is_clipped_and_every_read_works(
    tmp_path: Path,
) -> None:
    """Migration 0011 on a database that holds a 260-deep state from before the limit."""
    from alembic import command

    from opslayer.adapters.app import create_app
    from opslayer.adapters.settings import Settings
    from opslayer.store.migrate import alembic_config

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    seeded = await seed_run(url, approval={"request_id": "r1", "title": "Refund?"})
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.update(approvals).values(state=deep(260)))
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0010"))
    await engine.dispose()
    app = create_app(Settings(database_url=url))  # serve upgrades on start
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"Authorization": f"Bearer {seeded['token']}"}
            run = await client.get(f"/v1/runs/{seeded['run']}", headers=headers)
            assert run.status_code == 200, run.text
            assert "(removed: nested deeper than 32 levels)" in run.text


# -- What an attacker found next (a second look at the above) ---------------------------------

DIALECT = "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize(
    ("schema", "said"),
    [
        (  # a nested $schema made jsonschema judge that part with its own class: `re`, no budget
            {"properties": {"name": {"$schema": DIALECT, "pattern": CATASTROPHIC}}},
            "allowed at the root only",
        ),
        ({"$schema": "http://json-schema.org/draft-04/schema#"}, "is not JSON Schema 2020-12"),
        ({"unevaluatedProperties": False}, "unevaluatedProperties is not supported"),
        ({"$defs": {"a": {}}, "$ref": "#%2F$defs/a"}, "percent-encoded"),
        ({"properties": {"k" * 64_000: {"allOf": [True] * 12_000}}}, "longer than 200"),
        ({"allOf": [True] * 3_000}, "more than 1,000 subschemas"),
        ({"properties": {"name": {"pattern": "a" * 1_001}}}, "longer than 1,000 characters"),
    ],
)
async def test_schemas_that_escaped_the_first_budgets_are_refused_when_asked(
    bot: tuple[BotClient, MintedToken], schema: dict[str, Any], said: str
) -> None:
    client, agent = bot
    started = time.perf_counter()
    _, answer = await asked(client, agent, schema)
    assert answer.status_code == 422, answer.text[:300]
    assert said in answer.json()["detail"] and time.perf_counter() - started < 2


async def test_a_root_reference_never_judges_with_a_backtracking_engine(
    bot: tuple[BotClient, MintedToken],
) -> None:
    """`$ref: "#"` reaches the root, whose $schema once picked jsonschema's own validator."""
    client, agent = bot
    schema = {
        "$schema": DIALECT,
        "type": "object",
        "properties": {"name": {"pattern": CATASTROPHIC}, "again": {"$ref": "#"}},
    }
    run_id, answer = await asked(client, agent, schema)
    assert answer.status_code == 201, answer.text
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        nested = {"name": "aaa", "again": {"name": "a" * 40 + "!"}}
        edit = alice.act(run_id, "edit", arguments=json.dumps(nested))
        answer, slowest = await healthz_while(client, edit)
        assert "does not match" in await alice.flash(run_id)
    assert slowest < 0.1


async def test_work_past_the_budget_is_stopped_not_abandoned(
    bot: tuple[BotClient, MintedToken],
) -> None:
    """Each enum comparison is one step, but 20,000 of them per item: the judging process is
    killed at its budget, and no CPU is spent after the person got their answer."""
    import psutil

    client, agent = bot
    schema = {"properties": {"note": {"items": {"enum": list(range(20_000))}}}}
    run_id, answer = await asked(client, agent, schema)
    assert answer.status_code == 201, answer.text
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        edit = alice.act(run_id, "edit", arguments=json.dumps({"note": [-1] * 3_000}))
        started = time.perf_counter()
        answer, slowest = await healthz_while(client, edit)
        took = time.perf_counter() - started
        assert "took longer than 2 s" in await alice.flash(run_id)
    assert took < 3 and slowest < 0.1
    judges = [
        p for p in psutil.Process().children(recursive=True) if "editing" in " ".join(p.cmdline())
    ]
    assert judges == []


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ('{"name": ' + "1" * 401 + "}", "could not judge this edit"),  # multipleOf overflows
        ('{"name": ' + "[" * 5_000 + "]" * 5_000 + "}", "nest too deeply"),
        (json.dumps({"name": deep(100)}), "deeper than 32 levels"),
    ],
)
async def test_an_edit_that_breaks_the_validator_is_a_refusal_not_a_500(
    bot: tuple[BotClient, MintedToken], arguments: str, said: str
) -> None:
    client, agent = bot
    run_id, answer = await asked(client, agent, {"properties": {"name": {"multipleOf": 0.01}}})
    assert answer.status_code == 201, answer.text
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        answer = await alice.act(run_id, "edit", arguments=arguments)
        assert answer.status_code == 303
        assert said in await alice.flash(run_id)


@pytest.mark.parametrize(
    "owner",
    [{"slack_user_id": "Alice (admin, verified)"}, {"teams_user_id": "Bob Smith"}],
)
async def test_a_platform_id_an_agent_claims_cannot_read_as_a_name(
    bot: tuple[BotClient, MintedToken], owner: dict[str, str]
) -> None:
    client, agent = bot
    body = {"external_id": "n", "title": "t", "owner": owner}
    answer = await client.post("/v1/runs", json=body, headers=auth(agent))
    assert answer.status_code == 422, answer.text
    claimed = {"external_id": "m", "title": "t", "owner": {"slack_user_id": "UADMIN"}}
    run = (await client.post("/v1/runs", json=claimed, headers=auth(agent))).json()
    assert run["owner"]["name"] == "Slack user UADMIN"
