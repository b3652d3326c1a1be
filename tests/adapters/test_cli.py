"""The `opslayer` command as a person uses it: mint, manage people and groups, inspect runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from opslayer.adapters.cli import build_parser, main
from tests.cli_support import in_thread, run_cli, seed_run

T = TypeVar("T")


def test_cli_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for command in ["serve", "db", "token", "people", "groups", "runs"]:
        assert command in out
    # Every command at the bottom of the tree, with its arguments (it listed the top only).
    for usage in (
        "opslayer runs approve [--approval APPROVAL] --as PERSON",
        "[--edit JSON]",
        "opslayer token revoke --agent AGENT [--id ID | --token TOKEN]",
        "opslayer prune --older-than AGE [--dry-run] [--audit]",
        "opslayer db upgrade",
    ):
        assert usage in out, usage


def test_cli_token_create_json_then_revoke(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "token", "create", "--agent", "billing-bot", "--json")
    minted = json.loads(out)
    assert code == 0 and minted["agent"] == "billing-bot"
    assert minted["token"].startswith("opl_") and minted["webhook_secret"].startswith("whsec_")
    assert run_cli(capsys, "token", "revoke", "--agent", "billing-bot")[0] == 0
    code, _, err = run_cli(capsys, "token", "revoke", "--agent", "billing-bot")
    assert code == 1 and "no live tokens" in err


def test_cli_people_and_groups(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run_cli(
            capsys,
            "groups",
            "add",
            "payments",
            "--slack-channel",
            "C123",
            "--teams-escalation-channel",
            "19:x",
        )[0]
        == 0
    )
    code, _, err = run_cli(capsys, "people", "add", "--email", "a@x.io", "--group", "nope")
    assert code == 1 and "groups add nope" in err
    assert (
        run_cli(
            capsys,
            "people",
            "add",
            "--name",
            "Alice",
            "--email",
            "a@x.io",
            "--slack",
            "U1",
            "--group",
            "payments",
        )[0]
        == 0
    )
    code, _, err = run_cli(capsys, "people", "add", "--slack", "U1")
    assert code == 1 and "already known" in err
    out = run_cli(capsys, "people", "list")[1]
    assert "Alice" in out and "payments" in out and "U1" in out
    assert "C123" in run_cli(capsys, "groups", "list")[1]


async def test_cli_runs_list_and_show_read_what_agents_wrote(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from opslayer.adapters.app import create_app
    from opslayer.adapters.settings import Settings
    from opslayer.bot.people.tokens import mint_token

    app = create_app(Settings(database_url=cli_db))
    async with app.router.lifespan_context(app):
        minted = await mint_token(app.state.core.store, "billing-bot")
        auth = {"Authorization": f"Bearer {minted.token}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            run = (
                await client.post(
                    "/v1/runs",
                    json={"external_id": "e1", "title": "Refunds", "owner": {"email": "a@x.io"}},
                    headers=auth,
                )
            ).json()
            await client.post(
                f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth
            )
            checkpoint = {
                "checkpoint_id": "c1",
                "step": "refund",
                "side_effects": [{"key": "refund:9", "idempotent": False}],
            }
            await client.post(f"/v1/runs/{run['id']}/checkpoints", json=checkpoint, headers=auth)
            await client.post(
                f"/v1/runs/{run['id']}/approvals",
                json={"request_id": "r1", "title": "Refund 40 EUR?"},
                headers=auth,
            )

    def cli(*argv: str) -> str:
        code, out, _ = run_cli(capsys, *argv)
        assert code == 0
        return out

    listed = await in_thread(cli, "runs", "list", "--status", "waiting_approval")
    assert run["id"] in listed and "Refunds" in listed
    assert run["id"] not in await in_thread(cli, "runs", "list", "--status", "running")
    shown = await in_thread(cli, "runs", "show", run["id"])
    for expected in [
        "waiting_approval",
        "refund:9 (not idempotent)",
        "Refund 40 EUR?",
        "run.registered",
        "approval.requested",
        "billing-bot via api",
    ]:
        assert expected in shown, expected


async def test_cli_operator_actions_queue_commands_and_refusals_exit_nonzero(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = await seed_run(cli_db)
    run_id = seeded["run"]

    def cli(*argv: str) -> tuple[int, str, str]:
        return run_cli(capsys, *argv)

    async def call(*argv: str) -> tuple[int, str, str]:
        return await in_thread(cli, *argv)

    code, _, err = await call("runs", "approve", run_id, "--as", "mallory@example.com")
    assert code == 1 and "not linked to opslayer yet" in err
    code, out, _ = await call(
        "runs", "approve", run_id, "--as", "alice@example.com", "--reason", "ok"
    )
    assert code == 0 and "queued approve" in out and "next poll" in out
    code, _, err = await call("runs", "approve", run_id, "--as", "alice@example.com")
    assert code == 1 and "no pending approval" in err
    code, _, err = await call("runs", "resume", run_id, "--as", "alice@example.com")
    assert code == 1 and "resume is not allowed" in err
    await in_thread(cli, "runs", "cancel", run_id, "--as", "alice@example.com")
    listed = (await call("commands", "list"))[1]
    assert "approve" in listed and "cancel" in listed and "pending" in listed
    shown = (await call("runs", "show", run_id))[1]
    assert "approval.approved" in shown and "alice" in shown.lower() and "action.refused" in shown


async def test_cli_retry_asks_for_confirmation_before_unsafe_replay(
    cli_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed_run(cli_db)
    run_id = seeded["run"]
    monkeypatch.setenv("OPSLAYER_ADMINS", "email:ops@example.com")

    def cli(*argv: str) -> tuple[int, str, str]:
        return run_cli(capsys, *argv)

    assert (await in_thread(cli, "people", "add", "--email", "ops@example.com", "--name", "Ops"))[
        0
    ] == 0
    code, _, err = await in_thread(cli, "runs", "force-cancel", run_id, "--as", "alice@example.com")
    assert code == 1 and "admins only" in err
    code, out, _ = await in_thread(
        cli, "runs", "force-cancel", run_id, "--as", "ops@example.com", "--reason", "agent gone"
    )
    assert code == 0 and "queued cancel" in out
    code, _, err = await in_thread(cli, "runs", "retry", run_id, "--as", "alice@example.com")
    assert code == 1 and "canceled" in err  # a force-canceled run is ended


async def test_cli_retry_needs_confirm_for_unsafe_side_effects(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = (await seed_run(cli_db, fail=True))["run"]

    def cli(*argv: str) -> tuple[int, str, str]:
        return run_cli(capsys, *argv)

    code, _, err = await in_thread(cli, "runs", "retry", run_id, "--as", "alice@example.com")
    assert code == 2 and "refund:9" in err and "--confirm" in err
    code, out, _ = await in_thread(
        cli, "runs", "retry", run_id, "--as", "alice@example.com", "--confirm"
    )
    assert code == 0 and "queued retry" in out


async def test_cli_reassign_accept_and_ack(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = (await seed_run(cli_db, fail=True))["run"]

    def cli(*argv: str) -> tuple[int, str, str]:
        return run_cli(capsys, *argv)

    assert (await in_thread(cli, "people", "add", "--email", "bob@example.com", "--name", "Bob"))[
        0
    ] == 0
    code, out, _ = await in_thread(
        cli, "runs", "reassign", run_id, "--as", "alice@example.com", "--to", "bob@example.com"
    )
    assert code == 0 and "stays with its owner until they accept" in out
    code, out, _ = await in_thread(cli, "runs", "accept", run_id, "--as", "bob@example.com")
    assert code == 0 and "queued reassign" in out
    # The run failed: its failure alert is Bob's now, and acknowledging it settles it.
    code, out, _ = await in_thread(cli, "runs", "ack", run_id, "--as", "bob@example.com")
    assert code == 0 and "acknowledged failed" in out and "settled" in out
    code, _, err = await in_thread(cli, "runs", "ack", run_id, "--as", "bob@example.com")
    assert code == 1 and "no open alert" in err
    shown = (await in_thread(cli, "runs", "show", run_id))[1]
    assert "run.handoff_offered" in shown and "run.reassigned" in shown and "Bob" in shown


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("OPSLAYER_WEBHOOK_DENY", "privat", "OPSLAYER_WEBHOOK_DENY: 'privat' is not a network"),
        ("OPSLAYER_ADMINS", "slak:U1", "expected slack:ID, teams:ID or email:ADDRESS"),
        ("OPSLAYER_SCAN_INTERVAL_S", "-3", "OPSLAYER_SCAN_INTERVAL_S: Input should be greater"),
    ],
)
def test_a_configuration_typo_is_one_line_that_names_it(
    cli_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    said: str,
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not start"))
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_only_serve_and_db_upgrade_create_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # another folder: the default ./opslayer.db is not there
    monkeypatch.delenv("OPSLAYER_DATABASE_URL", raising=False)
    for argv in (["runs", "list"], ["token", "create", "--agent", "x"], ["rules", "list"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and f"no database at {tmp_path / 'opslayer.db'}" in err, err
        assert "OPSLAYER_DATABASE_URL" in err and "db upgrade" in err
    assert not (tmp_path / "opslayer.db").exists()
    assert run_cli(capsys, "db", "upgrade")[0] == 0
    code, out, _ = run_cli(capsys, "runs", "list")
    assert code == 0 and out.splitlines()[0] == "# database: sqlite+aiosqlite:///./opslayer.db"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sqlite:///x.db", "cannot use the database sqlite:///x.db"),
        ("postgresql+asyncpg://postgres:secret@127.0.0.1:1/x", "cannot use the database"),
        ("nonsense", "cannot use the database"),
    ],
)
def test_a_wrong_database_url_is_one_line(
    url: str, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSLAYER_DATABASE_URL", url)
    code, out, err = run_cli(capsys, "runs", "list")
    assert code == 2 and said in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "secret" not in err  # no password in what is printed


def test_cli_token_rotation_is_explicit_and_listed(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = json.loads(run_cli(capsys, "token", "create", "--agent", "billing-bot", "--json")[1])
    code, _, err = run_cli(capsys, "token", "create", "--agent", "billing-bot")
    assert code == 1 and "token rotate --agent billing-bot" in err  # no silent rotation
    code, out, _ = run_cli(capsys, "token", "rotate", "--agent", "billing-bot", "--grace-h", "2")
    assert code == 0 and "For 2 h every command is signed with the old secret too" in out
    assert first["webhook_secret"] not in out
    code, out, _ = run_cli(capsys, "token", "list")
    lines = [line for line in out.splitlines() if line.startswith("billing-bot")]
    assert code == 0 and len(lines) == 2 and all("live" in line for line in lines)
    assert all("until " in line for line in lines)  # the old secret still signs
    assert run_cli(capsys, "token", "create", "--agent", "billing-bot", "--rotate")[0] == 0


async def test_token_list_says_when_each_token_was_last_used(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from opslayer.adapters.app import create_app
    from opslayer.adapters.settings import Settings

    made = await in_thread(run_cli, capsys, "token", "create", "--agent", "a1", "--json")
    used = json.loads(made[1])
    await in_thread(run_cli, capsys, "token", "create", "--agent", "idle", "--json")
    app = create_app(Settings(database_url=cli_db))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as api:
            auth = {"Authorization": f"Bearer {used['token']}"}
            for _ in range(3):
                assert (await api.get("/v1/runs", headers=auth)).status_code == 200
        for _ in range(100):  # written in the background, once a minute at most
            async with app.state.core.store.read() as uow:
                if any(r.last_used_at for r in await uow.agents.tokens()):
                    break
            await asyncio.sleep(0.02)
    out = (await in_thread(run_cli, capsys, "token", "list"))[1]
    [a1] = [line for line in out.splitlines() if line.startswith("a1")]
    [idle] = [line for line in out.splitlines() if line.startswith("idle")]
    assert "LAST USE" in out and " ago" in a1 and idle.rstrip().endswith("never")


def test_rotating_an_unknown_agent_mints_nothing(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seen: `token rotate --agent nosuch` made a live token for a new agent and said an old
    secret kept signing for 24 h."""
    code, out, err = run_cli(capsys, "token", "rotate", "--agent", "nosuch")
    assert code == 1 and "no agent 'nosuch' to rotate" in err
    assert "token create --agent nosuch" in err and "opl_" not in out
    assert "nosuch" not in run_cli(capsys, "token", "list")[1]


async def test_one_leaked_token_is_revoked_while_the_new_one_keeps_working(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from opslayer.adapters.app import create_app
    from opslayer.adapters.settings import Settings

    def minted(*argv: str) -> dict[str, str]:
        found: dict[str, str] = json.loads(run_cli(capsys, "token", *argv, "--json")[1])
        return found

    leaked = await in_thread(minted, "create", "--agent", "a1")
    fresh = await in_thread(minted, "rotate", "--agent", "a1")
    spare = await in_thread(minted, "rotate", "--agent", "a1")
    code, _, err = await in_thread(
        run_cli, capsys, "token", "revoke", "--agent", "a1", "--token", leaked["token"]
    )
    assert code == 0, err
    out = (await in_thread(run_cli, capsys, "token", "list"))[1]
    rows = [line.split() for line in out.splitlines() if line.startswith("a1")]
    assert [r for r in rows if "revoked" in r] and len(rows) == 3
    [spare_id] = [r[1] for r in rows if "revoked" not in r][:1]  # newest first: the spare
    code, said, _ = await in_thread(
        run_cli, capsys, "token", "revoke", "--agent", "a1", "--id", spare_id
    )
    assert code == 0 and "revoked 1 token of a1" in said
    app = create_app(Settings(database_url=cli_db, token_cache_ttl_s=0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as api:

            async def status(token: str) -> int:
                headers = {"Authorization": f"Bearer {token}"}
                return (await api.get("/v1/runs", headers=headers)).status_code

            assert await status(leaked["token"]) == 401
            assert await status(spare["token"]) == 401
            assert await status(fresh["token"]) == 200
    code, _, err = await in_thread(
        run_cli, capsys, "token", "revoke", "--agent", "a1", "--id", "abc"
    )
    assert code == 1 and "at least 8 characters" in err


def test_the_demo_on_a_busy_port_says_so_in_one_line_and_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """Seen: `opslayer demo` ignored OPSLAYER_PORT, and a busy port was uvicorn's traceback
    with a temp folder left behind."""
    import socket
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        monkeypatch.setenv("OPSLAYER_PORT", str(port))
        code, _, err = run_cli(capsys, "demo")
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
