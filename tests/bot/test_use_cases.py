"""Use cases over the in-memory store (milliseconds each): what an operator or an agent sees
when they act. The same paths run on SQLite and PostgreSQL in tests/store and tests/e2e."""

from __future__ import annotations

import pytest

from opslayer.adapters.core import Core
from opslayer.bot.audit import Via
from opslayer.bot.commands.model import CommandKind
from opslayer.bot.errors import Conflict
from opslayer.bot.people.directory import add_person, find_person
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.people.tokens import mint_token
from opslayer.bot.runs.model import RunStatus
from opslayer_client.contract import ApprovalIn, CommandAck, RunCreate, StatusReport
from tests.memory_store import MemoryStore
from tests.replica import replica
from tests.support import MovableClock


@pytest.fixture
async def bot(clock: MovableClock) -> tuple[Core, Person, Person]:
    """An agent, Alice (who owns its runs) and Root (an admin), over memory."""
    store = MemoryStore(clock)
    core = replica(store, clock, admins=["email:root@example.com"])
    await mint_token(store, "agent")
    await add_person(store, identity=Identity(email="alice@example.com", name="Alice"))
    await add_person(store, identity=Identity(email="root@example.com", name="Root"))
    alice = await find_person(store, Identity(email="alice@example.com"))
    root = await find_person(store, Identity(email="root@example.com"))
    return core, alice, root


async def _running(core: Core, external_id: str = "job") -> str:
    body = {"external_id": external_id, "title": "Job", "owner": {"email": "alice@example.com"}}
    run, _ = await core.runs.register_run("agent", RunCreate.model_validate(body))
    await core.runs.report_status("agent", run.id, StatusReport(status=RunStatus.RUNNING))
    return run.id


async def test_a_double_click_issues_one_command_until_the_first_settles(
    bot: tuple[Core, Person, Person],
) -> None:
    core, alice, _ = bot
    run_id = await _running(core)
    first = await core.operations.commands.pause(run_id, person=alice, via=Via.SLACK)
    again = await core.operations.commands.pause(run_id, person=alice, via=Via.TEAMS)
    assert first.created and not again.created and again.command.id == first.command.id
    # The agent could not pause: the command settled, and the same request is a new command.
    await core.acks.ack_command("agent", first.command.id, CommandAck(result="failed"))
    third = await core.operations.commands.pause(run_id, person=alice, via=Via.SLACK)
    assert third.created and third.command.id != first.command.id
    kinds = [c.kind for c in await core.reads.commands(run_id)]
    assert kinds == [CommandKind.PAUSE, CommandKind.PAUSE]


async def test_force_cancel_closes_open_approvals_like_any_ending(
    bot: tuple[Core, Person, Person],
) -> None:
    """One interpreter of a transition's effects: an admin's force-cancel closes the approval,
    says so on its message, and audits it, as the agent's own 'canceled' would."""
    core, _, root = bot
    run_id = await _running(core)
    approval, _ = await core.approval_requests.request_approval(
        "agent", run_id, ApprovalIn(request_id="r", title="Pay?")
    )
    await core.operations.commands.force_cancel(run_id, person=root, via=Via.CLI, reason="gone")
    assert (await core.reads.approval(approval.id)).status == "canceled"
    actions = [e.action for e in await core.reads.audit_trail(run_id)]
    assert "run.force_canceled" in actions and "approval.canceled" in actions
    async with core.store.read() as uow:
        [alert] = await uow.alerts.open_for_runs([run_id]) or [[]]  # nothing open is left
    assert alert == []


async def test_an_approval_is_decided_once_and_the_second_hears_who_was_first(
    bot: tuple[Core, Person, Person],
) -> None:
    core, alice, root = bot
    run_id = await _running(core)
    approval, _ = await core.approval_requests.request_approval(
        "agent", run_id, ApprovalIn(request_id="r", title="Pay?", state={"n": 1})
    )
    decision = await core.operations.approvals.approve(approval.id, person=alice, via=Via.SLACK)
    assert decision.command is not None
    assert decision.command.payload["command"]["state"] == {"n": 1}
    with pytest.raises(Conflict, match="already approved by Alice"):
        await core.operations.approvals.reject(approval.id, person=root, via=Via.TEAMS)
