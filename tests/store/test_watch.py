"""The watch on both backends: alerts raised once per episode, resolved when the situation
clears, reminded, escalated, acknowledged, and digests once per channel and day."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from opslayer.adapters.chat.recording import RecordingNotifier
from opslayer.bot.alerts.sync import ChatSync
from opslayer.bot.audit import Via
from opslayer.bot.errors import NotAuthorized
from opslayer.bot.people.directory import add_group, add_person, find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import mint_token
from opslayer.bot.ports import MessageRef
from opslayer.bot.runs.model import RunStatus
from opslayer.bot.views.model import AlertView, MessageView, Target
from opslayer.store.uow import SqlStore
from opslayer_client.contract import ApprovalIn, Heartbeat, RunCreate, StatusReport
from tests.replica import replica
from tests.support import MovableClock

POLICY = {
    "heartbeat_timeout_s": 60,
    "approval_reminder_s": 600,
    "escalate_after_s": 1200,
    "stale_after_s": 86400,
}


def said(view: AlertView, which: str) -> str:
    """A note of a message (resolution, confirmed, acknowledged) as words."""
    notes = {
        "resolution": view.get("resolution"),
        "confirmed": view.get("confirmed"),
        "acknowledged": view.get("acknowledged"),
    }
    found = notes[which]
    assert isinstance(found, dict), f"no {which} in {view}"
    return found["text"]


class World:
    """An agent, its runs, operators and the watch over one store, with a movable clock."""

    def __init__(self, store: SqlStore, clock: MovableClock) -> None:
        self.clock = clock
        self.chat = RecordingNotifier()
        self.core = replica(store, clock, notifiers=[self.chat], holder="replica-a")
        self.ops = self.core.operations
        self.store = store

    async def run(self, external_id: str = "job-1", **extra: Any) -> str:
        body = {
            "external_id": external_id,
            "title": f"Run {external_id}",
            "owner": {"email": "alice@example.com"},
            "policy": POLICY,
            **extra,
        }
        run, _ = await self.core.runs.register_run("bot", RunCreate.model_validate(body))
        await self.core.runs.report_status("bot", run.id, StatusReport(status=RunStatus.RUNNING))
        return run.id

    async def tick(self) -> None:
        """What the scheduler does on each scan: scan, follow up, bring chat in step."""
        await self.core.scanner.scan()
        await self.core.scanner.follow_ups()
        await self.core.sync.sync()


@pytest.fixture
async def world(store: SqlStore, clock: MovableClock) -> World:
    await mint_token(store, "bot")
    await add_group(store, name="payments", slack_channel="C-PAY", slack_escalation_channel="C-ESC")
    await add_person(
        store,
        identity=Identity(email="alice@example.com", name="Alice", slack_user_id="UALICE"),
        group="payments",
    )
    return World(store, clock)


async def test_stuck_run_alerts_once_per_episode_and_resolves_when_alive(world: World) -> None:
    run_id = await world.run()
    await world.tick()
    assert world.chat.posts == []
    world.clock.advance(seconds=61)
    await world.tick()
    await world.tick()  # scanning again finds nothing new
    [(target, view)] = world.chat.alerts
    assert (
        view["kind"] == "stuck"
        and target["slack"] == "C-PAY"
        and target["mention"]["slack_user_id"] == "UALICE"
    )
    assert "retry" in view["actions"] and "acknowledge" in view["actions"]
    assert (await world.core.reads.get_run(run_id)).run.health == ("stuck",)
    world.clock.advance(seconds=5)
    await world.core.runs.heartbeat("bot", run_id, Heartbeat(step="back"))
    await world.core.cache.flush()
    await world.tick()
    assert world.chat.current(0)["state"] == "resolved"
    assert said(world.chat.current(0), "resolution") == "the agent is alive again"
    world.clock.advance(seconds=61)  # silent again: a new episode, a new alert
    await world.tick()
    assert len(world.chat.posts) == 2


async def test_approval_is_posted_at_once_and_the_message_follows_the_decision(
    world: World,
) -> None:
    run_id = await world.run()
    approval, _ = await world.core.approval_requests.request_approval(
        "bot", run_id, ApprovalIn(request_id="r1", title="Refund 40 EUR?")
    )
    await world.core.sync.sync()  # the sync loop's work: no scan needed
    [(target, view)] = world.chat.alerts
    assert view["kind"] == "approval" and view["approval"]["title"] == "Refund 40 EUR?"
    assert view["actions"] == ["approve", "reject", "reassign", "details"]
    alice = await find_person(world.store, Identity(email="alice@example.com"))
    world.clock.advance(minutes=1)
    await world.ops.approvals.approve(approval.id, person=alice, via=Via.SLACK)
    await world.core.sync.sync()
    assert said(world.chat.current(0), "resolution") == "Approved by Alice, waiting for the agent"
    await world.core.runs.report_status("bot", run_id, StatusReport(status=RunStatus.RUNNING))
    await world.core.sync.sync()
    assert said(world.chat.current(0), "confirmed").startswith("the agent reported running")


async def test_unanswered_approval_is_reminded_then_escalated(world: World) -> None:
    run_id = await world.run()
    await world.core.approval_requests.request_approval(
        "bot", run_id, ApprovalIn(request_id="r1", title="Ship it?")
    )
    await world.core.sync.sync()
    world.clock.advance(seconds=601)
    await world.tick()
    pings = [view.get("ping") for _, view in world.chat.alerts]
    assert "reminder" in pings
    [reminder] = [view for _, view in world.chat.alerts if view.get("ping") == "reminder"]
    first = world.chat.alerts[0][1]
    # Its buttons act like the first message's: same approval, same alert.
    assert reminder["approval"] == first["approval"] and reminder["alert_id"] == first["alert_id"]
    world.clock.advance(seconds=600)
    await world.tick()
    escalations = [target for target, view in world.chat.alerts if view.get("ping") == "escalation"]
    assert escalations and escalations[0]["slack"] == "C-ESC"


async def test_acknowledged_alert_waits_then_reopens(world: World) -> None:
    run_id = await world.run()
    world.clock.advance(seconds=61)
    await world.tick()
    alice = await find_person(world.store, Identity(email="alice@example.com"))
    await world.ops.alerts.acknowledge(run_id, person=alice, via=Via.SLACK)
    await world.core.sync.sync()
    assert said(world.chat.current(0), "acknowledged").startswith("Acknowledged by Alice")
    world.clock.advance(seconds=1300)  # past escalate_after_s, but acknowledged: no escalation
    await world.tick()
    assert not [v for _, v in world.chat.alerts if v.get("ping") == "escalation"]
    world.clock.advance(hours=4)  # the acknowledgement times out: open again
    await world.tick()
    assert world.chat.current(0)["state"] == "open"


async def test_two_replicas_scanning_at_once_raise_one_alert(
    world: World, store: SqlStore, clock: MovableClock
) -> None:
    await world.run()
    clock.advance(seconds=61)
    other = replica(store, clock, notifiers=[world.chat], holder="replica-b")
    first, second = await asyncio.gather(world.core.scanner.scan(), other.scanner.scan())
    assert sorted([first.raised, second.raised]) == [0, 1]
    assert first.skipped or second.skipped  # only one held the scan lease
    await asyncio.gather(world.core.sync.sync(), other.sync.sync(), world.core.sync.sync())
    assert len(world.chat.posts) == 1  # only the holder of the notify lease posts


async def test_digest_once_per_channel_and_day(world: World, store: SqlStore) -> None:
    stuck = await world.run("stuck")
    waiting = await world.run("waiting")
    await world.core.approval_requests.request_approval(
        "bot", waiting, ApprovalIn(request_id="r", title="OK?")
    )
    world.clock.advance(seconds=61)
    await world.core.scanner.scan()
    assert await world.core.digests.queue() == 1
    assert await world.core.digests.queue() == 0  # the same day again: nothing
    await add_group(store, name="quiet", slack_channel="C-QUIET")
    await add_group(store, name="chatty", slack_channel="C-CHATTY", all_clear=True)
    assert await world.core.digests.queue() == 1  # only the group that wants "all clear"
    await world.core.sync.sync()
    by_channel = {t["slack"]: v for t, v in world.chat.digests}
    assert set(by_channel) == {"C-PAY", "C-CHATTY"}
    pay = by_channel["C-PAY"]
    assert [line["run_id"] for line in pay["sections"]["stuck"]["Alice"]] == [stuck]
    assert [line["run_id"] for line in pay["sections"]["waiting for approval"]["Alice"]] == [
        waiting
    ]
    assert by_channel["C-CHATTY"]["headline"] == "All clear"


async def test_expired_approvals_close_and_say_so(world: World) -> None:
    run_id = await world.run()
    expires = world.clock.now().replace(minute=30)
    approval, _ = await world.core.approval_requests.request_approval(
        "bot", run_id, ApprovalIn(request_id="r", title="Now or never", expires_at=expires)
    )
    await world.core.sync.sync()
    world.clock.advance(minutes=31)
    assert await world.ops.approvals.decide_overdue() == 1
    assert await world.ops.approvals.decide_overdue() == 0  # once
    await world.core.sync.sync()
    assert said(world.chat.current(0), "resolution") == "Expired without a decision"
    assert (await world.core.reads.approval(approval.id)).status == "expired"


async def test_a_deadline_rejects_by_itself_once_with_two_replicas_and_says_so_before(
    world: World, store: SqlStore
) -> None:
    run_id = await world.run(webhook_url="https://agent.example/hook")
    approval, _ = await world.core.approval_requests.request_approval(
        "bot",
        run_id,
        ApprovalIn(request_id="r", title="Ship it?", timeout_s=1800, on_timeout="reject"),
    )
    await world.core.sync.sync()
    first = world.chat.current(0)["approval"]
    assert first.get("at_deadline") == "Rejects automatically" and "expires_at" in first

    world.clock.advance(minutes=10)  # the reminder (approval_reminder_s) says what will happen
    await world.tick()
    [(_, reminder)] = [(t, v) for t, v in world.chat.alerts if v.get("ping") == "reminder"]
    assert "approval" in reminder
    assert reminder["approval"].get("remaining") == "20 min"

    world.clock.advance(minutes=20)
    other = replica(store, world.clock, holder="replica-b")
    decided = await asyncio.gather(
        world.ops.approvals.decide_overdue(), other.operations.approvals.decide_overdue()
    )
    assert sum(decided) == 1  # exactly once, whichever replica was first
    assert await world.ops.approvals.decide_overdue() == 0
    [command] = await world.core.reads.commands(run_id)
    body = command.payload["command"]
    assert body["kind"] == "reject" and body["actor"] == {
        "id": "system",
        "name": "opslayer",
        "via": "timeout",
    }
    assert body.get("decision") == {"type": "reject", "message": "no decision before the deadline"}
    await world.core.sync.sync()
    assert said(world.chat.current(0), "resolution") == (
        "Rejected automatically at the deadline, waiting for the agent"
    )
    assert world.chat.current(0)["state"] == "resolved"
    shown = await world.core.reads.approval(approval.id)
    assert shown.status == "rejected" and shown.decision is not None
    assert shown.decision.by.via == "timeout"
    trail = [(e.action, e.actor.via) for e in await world.core.reads.audit_trail(run_id)]
    assert ("approval.rejected", "timeout") in trail


@pytest.mark.parametrize(
    ("on_timeout", "status", "kind"),
    [
        ("approve", "approved", "approve"),
        ("cancel", "canceled", "cancel"),
        ("expire", "expired", None),
    ],
)
async def test_each_default_at_the_deadline(
    world: World, on_timeout: str, status: str, kind: str | None
) -> None:
    run_id = await world.run(webhook_url="https://agent.example/hook")
    approval, _ = await world.core.approval_requests.request_approval(
        "bot",
        run_id,
        ApprovalIn(request_id="r", title="Ship it?", timeout_s=60, on_timeout=on_timeout),
    )
    world.clock.advance(minutes=2)
    assert await world.ops.approvals.decide_overdue() == 1
    assert (await world.core.reads.approval(approval.id)).status == status
    commands = await world.core.reads.commands(run_id)
    assert [c.kind for c in commands] == ([kind] if kind else [])


async def test_handoff_waits_for_acceptance_and_both_are_told(
    world: World, store: SqlStore
) -> None:
    run_id = await world.run()
    await add_person(
        store, identity=Identity(email="bob@example.com", name="Bob", slack_user_id="UBOB")
    )
    alice = await find_person(store, Identity(email="alice@example.com"))
    bob = await find_person(store, Identity(email="bob@example.com"))
    await world.ops.handoffs.reassign(
        run_id,
        person=alice,
        via=Via.SLACK,
        new_owner=Identity(email="bob@example.com"),
        reason="vacation",
    )
    await world.core.sync.sync()
    (offer_target, offer), (note_target, note) = world.chat.alerts
    assert offer["kind"] == "handoff" and offer["actions"] == ["accept", "details"]
    assert offer_target["slack_user"] == "UBOB" and offer["offered_by"] == "Alice"
    assert note_target["slack"] == "C-PAY" and "stays yours" in note["headline"]
    assert note["actions"] == ["details"]  # the owner is told, not offered an Accept button
    assert (await world.core.reads.get_run(run_id)).run.owner.name == "Alice"  # still responsible
    with pytest.raises(NotAuthorized):
        await world.ops.handoffs.accept(run_id, person=alice, via=Via.SLACK)
    decision = await world.ops.handoffs.accept(run_id, person=bob, via=Via.SLACK)
    assert decision.command.payload["command"]["new_owner"]["name"] == "Bob"
    await world.core.sync.sync()
    assert said(world.chat.current(0), "resolution").startswith("Accepted by Bob")
    assert (await world.core.reads.get_run(run_id)).run.owner.name == "Bob"


async def test_unaccepted_handoff_lapses_back_to_the_owner(world: World, store: SqlStore) -> None:
    run_id = await world.run()
    await add_person(store, identity=Identity(email="bob@example.com", name="Bob"))
    alice = await find_person(store, Identity(email="alice@example.com"))
    await world.ops.handoffs.reassign(
        run_id, person=alice, via=Via.CLI, new_owner=Identity(email="bob@example.com")
    )
    await world.core.sync.sync()
    world.clock.advance(seconds=POLICY["escalate_after_s"] + 1)
    assert await world.ops.handoffs.lapse() == 1
    await world.core.sync.sync()
    assert said(world.chat.current(0), "resolution") == "not accepted in time: it stays with Alice"
    run = (await world.core.reads.get_run(run_id)).run
    assert run.owner.name == "Alice" and run.pending_owner_id is None


async def test_run_ending_closes_its_approval_message(world: World) -> None:
    run_id = await world.run()
    await world.core.approval_requests.request_approval(
        "bot", run_id, ApprovalIn(request_id="r", title="OK?")
    )
    await world.core.sync.sync()
    await world.core.runs.report_status(
        "bot", run_id, StatusReport(status=RunStatus.CANCELED, reason="gave up")
    )
    await world.core.sync.sync()
    assert said(world.chat.current(0), "resolution") == "the run canceled"


async def test_a_surface_that_is_down_does_not_hold_up_the_others(world: World) -> None:
    """Teams (say) fails: it is tried once per round, Slack (say) still gets every alert, and
    Teams catches up on the next round, without posting anything twice."""

    class Flaky(RecordingNotifier):
        calls = 0
        down = True

        async def post(
            self, target: Target, view: MessageView, *, thread: MessageRef | None = None
        ) -> MessageRef | None:
            self.calls += 1
            if self.down:
                raise ConnectionError("the surface is down")
            return await super().post(target, view, thread=thread)

    flaky = Flaky(name="flaky")
    watch = ChatSync(world.store, world.clock, notifiers=[world.chat, flaky], holder="replica-a")
    for n in range(3):
        run_id = await world.run(f"job-{n}")
        await world.core.approval_requests.request_approval(
            "bot", run_id, ApprovalIn(request_id="r", title=f"Ship {n}?")
        )
    assert await watch.sync() == 0  # none fully in step: flaky missed them all
    assert await watch.behind() == 3  # what /metrics shows as opslayer_alerts_unsynced
    assert len(world.chat.posts) == 3 and flaky.calls == 1  # tried once, not once per alert
    flaky.down = False
    assert await watch.sync() == 3
    assert await watch.behind() == 0
    assert len(world.chat.posts) == 3 and len(flaky.posts) == 3  # nothing posted twice


async def test_credentials_reported_with_less_than_the_warning_left_are_warned_at_once(
    world: World,
) -> None:
    """An agent that reports its token expires in 20 minutes (inside the hour's warning) gets
    the warning on the next scan, once, not only when the token has expired."""
    expires = world.clock.now() + timedelta(minutes=20)
    run_id = await world.run()
    await world.core.runs.report_status(
        "bot", run_id, StatusReport(status=RunStatus.RUNNING, auth_expires_at=expires)
    )
    await world.tick()
    await world.tick()  # looking again raises nothing new
    assert [view["kind"] for _, view in world.chat.alerts] == ["auth_expiring"]
    world.clock.advance(minutes=21)
    await world.core.runs.heartbeat("bot", run_id, Heartbeat(step="still here"))
    await world.core.cache.flush()
    await world.tick()
    assert [view["kind"] for _, view in world.chat.alerts] == ["auth_expiring", "auth_expired"]
