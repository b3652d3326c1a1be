"""Operator command rules as tables: allowed statuses, retry planning, back-off, rights."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.commands.model import CommandKind
from opslayer.bot.commands.rules import ALLOWED, check_command, plan_retry, retry_delay
from opslayer.bot.errors import InvalidTransition, ValidationFailed
from opslayer.bot.people.model import Person
from opslayer.bot.people.rights import Admins, may_act
from opslayer.bot.runs.model import Checkpoint, Health, SideEffect
from opslayer.bot.runs.model import RunStatus as S
from tests.bot.factories import T0, make_run

K = CommandKind
# (kind, status) pairs an operator may send, every other pair is refused.
EXPECTED_ALLOWED = {
    K.APPROVE: {S.QUEUED, S.RUNNING, S.WAITING_APPROVAL, S.WAITING_AUTH, S.PAUSED},
    K.REJECT: {S.QUEUED, S.RUNNING, S.WAITING_APPROVAL, S.WAITING_AUTH, S.PAUSED},
    K.CANCEL: {S.QUEUED, S.RUNNING, S.WAITING_APPROVAL, S.WAITING_AUTH, S.PAUSED},
    K.PAUSE: {S.QUEUED, S.RUNNING, S.WAITING_APPROVAL, S.WAITING_AUTH},
    K.RESUME: {S.PAUSED},
    K.RETRY: {S.FAILED},
    K.REASSIGN: set(S),
}


@pytest.mark.parametrize("kind", list(K))
@pytest.mark.parametrize("status", list(S))
def test_check_command_allows_exactly_the_table(kind: K, status: S) -> None:
    run = make_run(status)
    if status in EXPECTED_ALLOWED[kind]:
        check_command(run, kind)
    else:
        with pytest.raises(InvalidTransition) as refused:
            check_command(run, kind)
        assert refused.value.status == status and kind.value in refused.value.message
    assert ALLOWED[kind] == EXPECTED_ALLOWED[kind]


@pytest.mark.parametrize(
    ("status", "allowed"), [(S.RUNNING, True), (S.QUEUED, True), (S.SUCCEEDED, False)]
)
def test_check_command_lets_a_stuck_run_be_retried(status: S, allowed: bool) -> None:
    run = make_run(status, health=(Health.STUCK,))
    if allowed:
        check_command(run, K.RETRY)
    else:
        with pytest.raises(InvalidTransition):
            check_command(run, K.RETRY)


def checkpoint(cid: str, seq: int, *effects: SideEffect, resumable: bool = True) -> Checkpoint:
    return Checkpoint(
        id=f"ckp_{cid}",
        run_id="run_1",
        checkpoint_id=cid,
        step=cid,
        created_at=T0,
        seq=seq,
        side_effects=effects,
        resumable=resumable,
    )


CHARGE = SideEffect("charge:1", idempotent=False, description="charged the card")
EMAIL = SideEffect("email:1", idempotent=True)
REFUND = SideEffect("refund:1", idempotent=False)
HISTORY = [
    checkpoint("fetch", 2),
    checkpoint("charge", 3, CHARGE),
    checkpoint("notify", 5, EMAIL),
    checkpoint("refund", 8, REFUND),
    checkpoint("broken", 9, resumable=False),
]


@pytest.mark.parametrize(
    ("start", "committed", "unsafe"),
    [
        (None, ["charge:1", "email:1", "refund:1"], ["charge:1", "refund:1"]),
        ("fetch", ["charge:1", "email:1", "refund:1"], ["charge:1", "refund:1"]),
        ("charge", ["email:1", "refund:1"], ["refund:1"]),  # its own effect is in its state
        ("notify", ["refund:1"], ["refund:1"]),
        ("refund", [], []),
    ],
)
def test_plan_retry_lists_the_side_effects_after_the_checkpoint(
    start: str | None, committed: list[str], unsafe: list[str]
) -> None:
    plan = plan_retry(HISTORY, start)
    assert plan.skip_keys == committed
    assert [e.key for e in plan.unsafe] == unsafe


@pytest.mark.parametrize(
    ("start", "message"), [("nope", "no checkpoint 'nope'"), ("broken", "not resumable")]
)
def test_plan_retry_refuses_unknown_or_unresumable_checkpoints(start: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        plan_retry(HISTORY, start)


SCHEDULE = (0.0, 5.0, 300.0, 1800.0)


@pytest.mark.parametrize(
    ("attempts", "retry_after", "jitter", "expected"),
    [
        (1, None, 1.0, 5.0),  # after the first failure: the second step of the schedule
        (2, None, 1.0, 300.0),
        (2, None, 1.2, 360.0),  # jitter spreads it
        (1, 60.0, 1.0, 60.0),  # Retry-After wins when later
        (2, 60.0, 1.0, 300.0),  # but never makes it sooner
        (4, None, 1.0, None),  # schedule exhausted: give up
    ],
)
def test_retry_delay_follows_schedule_jitter_and_retry_after(
    attempts: int, retry_after: float | None, jitter: float, expected: float | None
) -> None:
    assert retry_delay(attempts, SCHEDULE, retry_after_s=retry_after, jitter=jitter) == expected


OWNER = Person(id="per_owner", name="Olive", email="olive@example.com")
APPROVER = Person(id="per_appr", name="Bob", email="bob@example.com", slack_user_id="UBOB")
ADMIN = Person(id="per_admin", name="Ada", teams_user_id="aad-ada")
STRANGER = Person(id="per_x", name="Xavier", email="x@example.com")
GONE_OWNER = Person(id="per_owner", name="Olive", removed=True)
ADMINS = Admins.parse(["teams:aad-ada", "email:ops@example.com"])
APPROVAL = Approval(
    id="apr_1",
    run_id="run_1",
    request_id="r",
    title="t",
    status=ApprovalStatus.PENDING,
    created_at=T0,
    approvers=("UBOB",),
)


@pytest.mark.parametrize(
    ("person", "approval", "allowed"),
    [
        (OWNER, None, True),
        (OWNER, APPROVAL, True),
        (APPROVER, APPROVAL, True),  # named by Slack id
        (APPROVER, None, False),  # approvers decide approvals, not run commands
        (ADMIN, None, True),
        (STRANGER, APPROVAL, False),
        (GONE_OWNER, None, False),  # a removed person acts no more
    ],
)
def test_may_act_owner_approvers_admins(
    person: Person, approval: Approval | None, allowed: bool
) -> None:
    run = make_run(S.WAITING_APPROVAL, owner=OWNER, created_at=T0 - timedelta(hours=1))
    assert may_act(person, run, ADMINS, approval) is allowed


def test_admins_parse_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="expected slack:ID"):
        Admins.parse(["github:octocat"])
    assert Admins.parse(["email:Ops@Example.com"]).includes(
        Person(id="p", name="o", email="ops@example.com")
    )
