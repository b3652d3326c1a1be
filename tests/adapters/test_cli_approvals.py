"""Approvals from a terminal: approve with edited arguments, reject with feedback, answer in
words, confirm a high-risk yes; and the rules that decide some approvals without anyone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.cli_support import in_thread, run_cli, seed_run

REFUND = {
    "request_id": "r1",
    "title": "Refund order 7?",
    "action": "refund",
    "arguments": {"amount": 120},
    "arguments_schema": {
        "type": "object",
        "properties": {"amount": {"type": "integer", "maximum": 100}},
    },
    "decisions": ["approve", "edit", "reject", "respond"],
}


def sent(cli_db: str, run_id: str) -> list[dict[str, Any]]:
    """The commands waiting for the agent's poll, as the agent would read them."""
    import asyncio

    from opslayer.bot.ports import SystemClock
    from opslayer.store.engine import create_engine
    from opslayer.store.uow import SqlStore

    async def read() -> list[dict[str, Any]]:
        engine = create_engine(cli_db)
        try:
            async with SqlStore(engine, SystemClock()).read() as uow:
                return [dict(c.payload["command"]) for c in await uow.commands.for_run(run_id)]
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("argv", "said", "decision"),
    [
        (
            ["approve", "--edit", '{"amount": 40}'],
            "Approved with changes by Alice",
            {"type": "edit", "arguments": {"amount": 40}},
        ),
        (
            ["approve"],
            "Approved by Alice",
            {"type": "approve", "arguments": {"amount": 120}},
        ),
        (
            ["reject", "--message", "refund 60 instead"],
            "Rejected by Alice",
            {"type": "reject", "message": "refund 60 instead"},
        ),
        (
            ["respond", "--message", "ask finance first"],
            "Answered by Alice",
            {"type": "respond", "message": "ask finance first"},
        ),
    ],
)
async def test_each_decision_from_the_terminal_reaches_the_agent(
    cli_db: str,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
    decision: dict[str, Any],
) -> None:
    run_id = (await seed_run(cli_db, approval=REFUND))["run"]
    verb, *flags = argv
    code, out, err = await in_thread(
        run_cli, capsys, "runs", verb, run_id, "--as", "alice@example.com", *flags
    )
    assert code == 0, err
    assert said in out and "queued" in out
    [command] = await in_thread(sent, cli_db, run_id)
    assert command["decision"] == decision
    assert command["kind"] == ("approve" if verb == "approve" else "reject")


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["approve", "--edit", '{"amount": 400}'], "amount: 400 is greater than the maximum"),
        (["approve", "--edit", "{amount: 4}"], "--edit is not JSON"),
        (["approve", "--edit", "[4]"], "must be a JSON object"),
        (["respond", "--message", "  "], "needs the words"),
    ],
)
async def test_a_wrong_decision_changes_nothing_and_says_why(
    cli_db: str, capsys: pytest.CaptureFixture[str], argv: list[str], refusal: str
) -> None:
    run_id = (await seed_run(cli_db, approval=REFUND))["run"]
    verb, *flags = argv
    code, _, err = await in_thread(
        run_cli, capsys, "runs", verb, run_id, "--as", "alice@example.com", *flags
    )
    assert code == 1 and refusal in err
    assert await in_thread(sent, cli_db, run_id) == []


async def test_a_high_risk_approval_needs_confirm_and_a_decision_not_offered_is_refused(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = {"request_id": "r1", "title": "Drop the table?", "risk": "high"}
    run_id = (await seed_run(cli_db, approval=asked))["run"]
    me = ("--as", "alice@example.com")
    code, _, err = await in_thread(run_cli, capsys, "runs", "approve", run_id, *me)
    assert code == 2 and "needs confirmation" in err and "--confirm" in err
    code, _, err = await in_thread(
        run_cli, capsys, "runs", "respond", run_id, *me, "--message", "no"
    )
    assert code == 1 and "takes approve, reject, not respond" in err
    code, out, _ = await in_thread(run_cli, capsys, "runs", "approve", run_id, *me, "--confirm")
    assert code == 0 and "Approved by Alice" in out


async def test_rules_are_added_listed_applied_and_removed(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = await seed_run(cli_db, approval=REFUND)

    def cli(*argv: str) -> tuple[int, str, str]:
        return run_cli(capsys, *argv)

    code, out, _ = await in_thread(
        cli, "rules", "add", "--agent", "billing-bot", "--action", "refund", "--decide", "approve"
    )
    assert code == 0 and "refund → approve at once" in out
    rule_id = out.split()[1].rstrip(":")
    code, _, err = await in_thread(
        cli, "rules", "add", "--agent", "*", "--action", "*", "--decide", "reject",
        "--approver", "bob@example.com",
    )  # fmt: skip
    assert code == 1 and "asks nobody" in err
    code, out, _ = await in_thread(
        cli, "rules", "add", "--agent", "*", "--action", "send_*", "--decide", "ask",
        "--approver", "group:comms", "--required-approvals", "2", "--as", "alice@example.com",
    )  # fmt: skip
    assert code == 0
    listed = (await in_thread(cli, "rules", "list"))[1]
    assert "billing-bot" in listed and "approve at once" in listed
    assert "ask group:comms, 2 must approve" in listed and "Alice" in listed
    assert "(terminal)" in listed  # who made the first: this terminal's user

    # A new request for the same action is approved by the rule, with nobody asked.
    from opslayer.adapters.app import create_app
    from opslayer.adapters.settings import Settings

    app = create_app(Settings(database_url=cli_db))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        auth = {"Authorization": f"Bearer {seeded['token']}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = {"external_id": "e2", "title": "More refunds", "owner": {"email": "a@x.io"}}
            run = (await client.post("/v1/runs", json=body, headers=auth)).json()
            answer = await client.post(f"/v1/runs/{run['id']}/approvals", json=REFUND, headers=auth)
            assert answer.json()["status"] == "approved"
            assert answer.json()["decision"]["by"]["id"] == f"rule:{rule_id}"
            asked = {"request_id": "r2", "title": "Mail them?", "action": "send_mail"}
            answer = await client.post(f"/v1/runs/{run['id']}/approvals", json=asked, headers=auth)
            shown = answer.json()
            assert shown["status"] == "pending" and shown["approvers"] == ["group:comms"]
            assert shown["required_approvals"] == 2
    [command] = await in_thread(sent, cli_db, run["id"])
    assert command["kind"] == "approve" and command["actor"]["via"] == "rule"

    code, out, _ = await in_thread(cli, "rules", "remove", rule_id)
    assert code == 0 and "approvals ask again" in out
    assert rule_id not in (await in_thread(cli, "rules", "list"))[1]
    code, _, err = await in_thread(cli, "rules", "remove", rule_id)
    assert code == 1 and "no rule" in err
    shown_runs = (await in_thread(cli, "runs", "show", run["id"]))[1]
    assert "approval.approved" in shown_runs and f"rule {rule_id}" in shown_runs
    assert "approve/reject" in shown_runs and "0 of 2 approvals" in shown_runs  # still open


@pytest.mark.parametrize("reported", ["queued", "running", "paused", "waiting_auth"])
async def test_a_pending_approval_stays_decidable_whatever_the_agent_reported_since(
    cli_db: str, capsys: pytest.CaptureFixture[str], reported: str
) -> None:
    seeded = await seed_run(cli_db, approval=REFUND)
    run_id = seeded["run"]
    from opslayer.adapters.app import create_app
    from opslayer.adapters.settings import Settings

    app = create_app(Settings(database_url=cli_db))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        auth = {"Authorization": f"Bearer {seeded['token']}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            moved = await client.post(
                f"/v1/runs/{run_id}/status", json={"status": reported}, headers=auth
            )
            assert moved.status_code == 200, moved.text
    code, out, err = await in_thread(
        run_cli, capsys, "runs", "approve", run_id, "--as", "alice@example.com"
    )
    assert code == 0, err
    assert "Approved by Alice" in out
    [command] = await in_thread(sent, cli_db, run_id)
    assert command["kind"] == "approve"  # delivered when the agent next listens
