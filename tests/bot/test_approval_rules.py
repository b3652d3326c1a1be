"""How approvals are decided, as tables: decisions offered × decision taken × votes so far ×
risk; what the deadline does; which rule matches; the edit form and what it reads back."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from opslayer.bot.approvals.editing import check_edit, check_schema
from opslayer.bot.approvals.model import (
    Approval,
    ApprovalStatus,
    DecisionType,
    OnTimeout,
    Risk,
    Vote,
)
from opslayer.bot.approvals.rules import Rule, RuleDecision, matching_rule
from opslayer.bot.approvals.voting import AlreadyVoted, at_deadline, cast, progress
from opslayer.bot.audit import Actor, Via
from opslayer.bot.errors import ConfirmationRequired, Conflict, ValidationFailed
from opslayer.bot.views.forms import edit_form, read_edit
from tests.bot.factories import T0

D = DecisionType
A, E, R, Q = D.APPROVE, D.EDIT, D.REJECT, D.RESPOND
ALICE = Actor("per_alice", "Alice", Via.SLACK)
BOB = Actor("per_bob", "Bob", Via.TEAMS)
NOW = T0 + timedelta(minutes=5)
ASKED = {"amount": 120, "to": "ACME"}


def approval(
    decisions: tuple[DecisionType, ...] = (A, R),
    *,
    required: int = 1,
    votes: tuple[Actor, ...] = (),
    risk: Risk | None = None,
    **changes: Any,
) -> Approval:
    counted = tuple(Vote(v.id, v.name, T0, v.via.value, A) for v in votes)
    return Approval(
        id="apr_1",
        run_id="run_1",
        request_id="r1",
        title="Refund 120 EUR?",
        status=ApprovalStatus.PENDING,
        created_at=T0,
        decisions=decisions,
        required_approvals=required,
        votes=counted,
        risk=risk,
        arguments=ASKED,
        **changes,
    )


OK = "decided"
COUNTED = "counted"
# (offered, taken, required, votes before, risk, confirmed) -> status after, or the refusal
CASES: list[
    tuple[tuple[DecisionType, ...], DecisionType, int, tuple[Actor, ...], Risk | None, bool, object]
] = [
    # one approver: approve and reject decide at once
    ((A, R), A, 1, (), None, False, ApprovalStatus.APPROVED),
    ((A, R), R, 1, (), None, False, ApprovalStatus.REJECTED),
    # a decision the agent did not offer is refused
    ((A, R), E, 1, (), None, False, ValidationFailed),
    ((A, R), Q, 1, (), None, False, ValidationFailed),
    ((A, E, R, Q), E, 1, (), None, False, ApprovalStatus.APPROVED),
    ((A, E, R, Q), Q, 1, (), None, False, ApprovalStatus.REJECTED),
    ((E, R), A, 1, (), None, False, ValidationFailed),  # only edits: a plain yes is refused
    ((Q,), Q, 1, (), None, False, ApprovalStatus.REJECTED),
    # a quorum: the first yes is counted, the second decides, one no ends it whatever the votes
    ((A, R), A, 2, (), None, False, ApprovalStatus.PENDING),
    ((A, R), A, 2, (BOB,), None, False, ApprovalStatus.APPROVED),
    ((A, E, R), E, 2, (BOB,), None, False, ApprovalStatus.APPROVED),
    ((A, R), R, 2, (BOB,), None, False, ApprovalStatus.REJECTED),
    ((A, R), R, 3, (), None, False, ApprovalStatus.REJECTED),
    ((A, R), A, 3, (BOB,), None, False, ApprovalStatus.PENDING),
    # the same person cannot vote twice
    ((A, R), A, 2, (ALICE,), None, False, AlreadyVoted),
    ((A, E, R), E, 2, (ALICE,), None, False, AlreadyVoted),
    ((A, R), R, 2, (ALICE,), None, False, ApprovalStatus.REJECTED),  # but may still say no
    # high risk: a yes needs the second confirmation, a no never does
    ((A, R), A, 1, (), Risk.HIGH, False, ConfirmationRequired),
    ((A, R), A, 1, (), Risk.HIGH, True, ApprovalStatus.APPROVED),
    ((A, E, R), E, 1, (), Risk.HIGH, False, ConfirmationRequired),
    ((A, R), R, 1, (), Risk.HIGH, False, ApprovalStatus.REJECTED),
    ((A, R), A, 2, (), Risk.HIGH, False, ConfirmationRequired),
    ((A, R), A, 1, (), Risk.MEDIUM, False, ApprovalStatus.APPROVED),
    ((A, R), A, 1, (), Risk.LOW, False, ApprovalStatus.APPROVED),
]


@pytest.mark.parametrize(
    ("offered", "taken", "required", "votes", "risk", "confirmed", "then"), CASES
)
def test_decision_table(
    offered: tuple[DecisionType, ...],
    taken: DecisionType,
    required: int,
    votes: tuple[Actor, ...],
    risk: Risk | None,
    confirmed: bool,
    then: object,
) -> None:
    asked = approval(offered, required=required, votes=votes, risk=risk)
    arguments = {"amount": 40, "to": "ACME"} if taken is E else None
    message = "Ask finance first" if taken is Q else None

    def decide() -> Any:
        return cast(
            asked,
            taken,
            actor=ALICE,
            now=NOW,
            arguments=arguments,
            message=message,
            confirmed=confirmed,
        )

    if isinstance(then, type) and issubclass(then, Exception):
        with pytest.raises(then):
            decide()
        return
    outcome = decide()
    assert outcome.approval.status is then
    assert outcome.final is (then is not ApprovalStatus.PENDING)
    if outcome.final:
        decided = outcome.approval.decision
        assert decided is not None and decided.by == ALICE and decided.at == NOW
        assert outcome.approval.decided_by == ALICE.id
    else:
        assert outcome.approval.decision is None
        assert [v.person_id for v in outcome.approval.votes] == [*(v.id for v in votes), ALICE.id]


def test_what_the_agent_is_told_per_decision() -> None:
    full = (A, E, R, Q)
    yes = cast(approval(full), A, actor=ALICE, now=NOW).approval.decision
    assert yes is not None and yes.type is A and yes.arguments == ASKED  # acts as asked
    edited = cast(approval(full), E, actor=ALICE, now=NOW, arguments={"amount": 40})
    assert edited.approval.decision is not None
    assert edited.approval.decision.arguments == {"amount": 40}
    no = cast(approval(full), R, actor=ALICE, now=NOW, message="too much").approval.decision
    assert no is not None and no.type is R and no.message == "too much" and no.arguments is None
    said = cast(approval(full), Q, actor=ALICE, now=NOW, message="Ask Bob").approval
    assert said.decision is not None and said.decision.message == "Ask Bob"
    assert said.comment == "Ask Bob"


def test_the_last_edit_of_a_quorum_is_what_the_agent_acts_on() -> None:
    first = cast(approval((A, E, R), required=2), E, actor=BOB, now=NOW, arguments={"amount": 50})
    assert not first.final and progress(first.approval) == "1 of 2 approvals (Bob)"
    second = cast(first.approval, A, actor=ALICE, now=NOW)
    assert second.final and second.approval.decision is not None
    assert second.approval.decision.type is E and second.approval.decision.arguments == {
        "amount": 50
    }


@pytest.mark.parametrize(
    ("bad", "refusal"),
    [
        ({"taken": E, "arguments": None}, "needs the changed arguments"),
        ({"taken": Q, "message": "   "}, "needs the words"),
    ],
)
def test_an_incomplete_decision_is_refused(bad: dict[str, Any], refusal: str) -> None:
    taken = bad.pop("taken")
    with pytest.raises(ValidationFailed, match=refusal):
        cast(approval((A, E, R, Q)), taken, actor=ALICE, now=NOW, **bad)


def test_a_decided_approval_takes_no_more_votes() -> None:
    done = cast(approval(), R, actor=BOB, now=NOW).approval
    with pytest.raises(Conflict, match="no longer pending"):
        cast(done, A, actor=ALICE, now=NOW)


@pytest.mark.parametrize(
    ("on_timeout", "status", "decision"),
    [
        (OnTimeout.EXPIRE, ApprovalStatus.EXPIRED, None),
        (OnTimeout.APPROVE, ApprovalStatus.APPROVED, A),
        (OnTimeout.REJECT, ApprovalStatus.REJECTED, R),
        (OnTimeout.CANCEL, ApprovalStatus.CANCELED, None),
    ],
)
def test_the_deadline_takes_the_default(
    on_timeout: OnTimeout, status: ApprovalStatus, decision: DecisionType | None
) -> None:
    decided = at_deadline(approval(on_timeout=on_timeout, required=2, votes=(BOB,)), NOW)
    assert decided.status is status and decided.decided_at == NOW
    if decision is None:
        assert decided.decision is None
    else:
        assert decided.decision is not None and decided.decision.type is decision
        assert decided.decision.by.via is Via.TIMEOUT and decided.decision.by.name == "opslayer"


def rule(agent: str, action: str, made_minutes: int = 0, rid: str = "") -> Rule:
    return Rule(
        id=rid or f"rule_{agent}_{action}",
        agent=agent,
        action=action,
        decide=RuleDecision.APPROVE,
        created_at=T0 + timedelta(minutes=made_minutes),
    )


RULES = [
    rule("*", "*"),
    rule("*", "send_*"),
    rule("mailer", "send_*"),
    rule("mailer", "send_email"),
    rule("billing", "refund"),
    rule("billing", "refund", made_minutes=5, rid="rule_newer"),
]


@pytest.mark.parametrize(
    ("agent", "action", "chosen"),
    [
        ("mailer", "send_email", "rule_mailer_send_email"),  # the most literal
        ("mailer", "send_sms", "rule_mailer_send_*"),  # the agent's own over everyone's
        ("crm", "send_sms", "rule_*_send_*"),
        ("crm", "delete", "rule_*_*"),
        ("crm", None, "rule_*_*"),  # an approval without an action matches only *
        ("billing", "refund", "rule_newer"),  # of equals, the newest
    ],
)
def test_the_most_specific_rule_wins(agent: str, action: str | None, chosen: str) -> None:
    found = matching_rule(RULES, agent, action)
    assert found is not None and found.id == chosen


def test_no_rule_no_match() -> None:
    assert matching_rule([rule("mailer", "send_*")], "mailer", "delete") is None
    assert matching_rule([rule("mailer", "send_*")], "mailer", None) is None


SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "integer", "minimum": 1, "maximum": 100, "title": "Amount"},
        "currency": {"enum": ["EUR", "USD"]},
        "note": {"type": "string", "description": "for the customer"},
        "notify": {"type": "boolean"},
    },
    "required": ["amount", "currency"],
}


def test_a_simple_schema_is_a_form_and_reads_back_typed() -> None:
    asked = dataclasses.replace(
        approval((A, E, R)),
        arguments={"amount": 120, "currency": "EUR", "notify": True, "ticket": 7},
        arguments_schema=SCHEMA,
    )
    form = edit_form(asked)
    fields = {f["name"]: f for f in form.get("fields", [])}
    assert [f["kind"] for f in fields.values()] == ["integer", "choice", "text", "boolean"]
    assert fields["amount"]["value"] == "120" and fields["amount"]["required"]
    assert fields["currency"]["value"] == '"EUR"' and fields["note"]["hint"] == "for the customer"
    edited = read_edit(
        asked, {"amount": "40", "currency": '"USD"', "note": " sorry ", "notify": False}
    )
    # typed as the schema says; a field the form did not show (ticket) is kept
    assert edited == {
        "amount": 40,
        "currency": "USD",
        "note": "sorry",
        "notify": False,
        "ticket": 7,
    }
    assert read_edit(asked, {"amount": "40", "currency": '"USD"', "note": ""}).get("note") is None


@pytest.mark.parametrize(
    ("submitted", "refusal"),
    [
        ({"amount": "forty", "currency": '"EUR"'}, "Amount: 'forty' is not a number"),
        ({"amount": "4.5", "currency": '"EUR"'}, "Amount: '4.5' is not a whole number"),
        ({"amount": "nan", "currency": '"EUR"'}, "is not a number"),
        ({"amount": "4", "currency": '"GBP"'}, "choose one of the listed values"),
    ],
)
def test_what_a_form_cannot_read_is_refused(submitted: dict[str, Any], refusal: str) -> None:
    asked = dataclasses.replace(approval((A, E)), arguments_schema=SCHEMA)
    with pytest.raises(ValidationFailed, match=refusal):
        read_edit(asked, submitted)


def test_a_schema_that_is_not_simple_is_edited_as_json() -> None:
    nested = {"type": "object", "properties": {"lines": {"type": "array"}}}
    asked = dataclasses.replace(
        approval((A, E)), arguments={"lines": [1, 2]}, arguments_schema=nested
    )
    assert edit_form(asked) == {"json": '{\n  "lines": [\n    1,\n    2\n  ]\n}'}
    assert read_edit(asked, {"json": '{"lines": [3]}'}) == {"lines": [3]}
    with pytest.raises(ValidationFailed, match="not JSON"):
        read_edit(asked, {"json": "{lines: 3}"})
    with pytest.raises(ValidationFailed, match="must be a JSON object"):
        read_edit(asked, {"json": "[3]"})
    assert edit_form(dataclasses.replace(asked, arguments_schema=None)).keys() == {"json"}
    huge = dataclasses.replace(asked, arguments={"text": "x" * 5000})
    assert edit_form(huge).get("too_large") is True


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        ({"amount": 500, "currency": "EUR"}, "amount: 500 is greater than the maximum of 100"),
        ({"amount": 5}, "'currency' is a required property"),
        ({"amount": 5, "currency": "EUR", "notify": "yes"}, "notify: 'yes' is not of type"),
        ([1], "must be a JSON object"),
    ],
)
def test_an_edit_is_judged_by_the_schema(arguments: Any, refusal: str) -> None:
    with pytest.raises(ValidationFailed, match=refusal):
        check_edit(arguments, SCHEMA)
    assert check_edit({"amount": 5, "currency": "EUR"}, SCHEMA) == {"amount": 5, "currency": "EUR"}


def test_a_schema_that_is_not_one_is_refused_at_request_time() -> None:
    with pytest.raises(ValidationFailed, match="not a JSON Schema"):
        check_schema({"type": "objekt"})
    check_schema(SCHEMA)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 1, "b": 3}, [("b", "2", "3")]),
        ({"a": 1}, {"a": 1, "c": "x"}, [("c", "", '"x"')]),
        ({"a": 1, "b": True}, {"a": 1}, [("b", "true", "")]),
        ({"a": 1}, {"a": 1.0}, []),  # the same number, as JSON Schema sees it
        (None, {"a": [1]}, [("a", "", "[1]")]),
    ],
)
def test_an_edit_is_shown_as_what_it_changed(
    before: dict[str, Any] | None, after: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    from opslayer.bot.views.forms import changes

    assert [(c["name"], c["before"], c["after"]) for c in changes(before, after)] == expected
