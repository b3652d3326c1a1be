"""How interrupts become approvals and decisions become resume values (pure), as tables: the
shapes LangChain's HumanInTheLoopMiddleware reads back, and any other payload."""

from __future__ import annotations

from typing import Any

import pytest

from opslayer_client.interrupts import (
    Decided,
    approvals_for,
    parse_request_id,
    request_id,
    resume_for,
)

BATCH = {
    "action_requests": [
        {"name": "send_email", "args": {"to": "bob@x.io"}, "description": "Email Bob?"},
        {"name": "refund", "args": {"order": 7}},
    ],
    "review_configs": [
        {"action_name": "send_email", "allowed_decisions": ["approve", "edit", "reject"]},
        {"action_name": "refund", "allowed_decisions": ["approve", "reject", "respond"]},
    ],
}
# Agent Inbox's `HumanInterrupt` (langchain-ai/agent-inbox README), two in one interrupt.
INBOX = [
    {
        "action_request": {"action": "write_file", "args": {"path": "notes.md"}},
        "config": {
            "allow_ignore": True,
            "allow_respond": True,
            "allow_edit": True,
            "allow_accept": True,
        },
        "description": "Please review the tool call",
    },
    {
        "action_request": {"action": "Question", "args": {}},
        "config": {
            "allow_ignore": False,
            "allow_respond": True,
            "allow_edit": False,
            "allow_accept": False,
        },
    },
]
PER_CALL = {
    "type": "tool_approval",
    "tool_call_id": "c1",
    "name": "refund",
    "args": {"order": 7},
    "description": "Refund order 7?",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            BATCH,
            [
                {
                    "request_id": "int:i1:0",
                    "title": "Email Bob?",
                    "action": "send_email",
                    "arguments": {"to": "bob@x.io"},
                    "decisions": ["approve", "edit", "reject"],
                },
                {
                    "request_id": "int:i1:1",
                    "title": "Run refund?",
                    "action": "refund",
                    "arguments": {"order": 7},
                    "decisions": ["approve", "reject", "respond"],
                },
            ],
        ),
        (
            PER_CALL,
            [
                {
                    "request_id": "int:i1:0",
                    "title": "Refund order 7?",
                    "action": "refund",
                    "arguments": {"order": 7},
                    "decisions": ["approve", "edit", "reject", "respond"],
                }
            ],
        ),
        (
            {
                "question": "Ship it?",
                "details": "to prod",
                "action": "deploy now!",
                "arguments": [1, 2],
                "decisions": ["approve", "reject", "shrug"],
                "risk": "high",
            },
            [
                {
                    "request_id": "int:i1:0",
                    "title": "Ship it?",
                    "details": "to prod",
                    "action": "deploy_now_",
                    "arguments": {"value": [1, 2]},
                    "decisions": ["approve", "reject"],
                    "risk": "high",
                }
            ],
        ),
        (
            "Proceed\nwith   the migration?",
            [
                {
                    "request_id": "int:i1:0",
                    "title": "Proceed with the migration?",
                    "decisions": ["approve", "reject", "respond"],
                }
            ],
        ),
        (
            {"risk": "extreme"},
            [
                {
                    "request_id": "int:i1:0",
                    "title": "The agent asks for a decision",
                    "details": "risk: extreme",
                    "decisions": ["approve", "reject", "respond"],
                }
            ],
        ),
        (  # LangGraph's approve-or-reject example: no arguments, so nothing to edit
            {"question": "Do you approve the following output?", "llm_output": "The output."},
            [
                {
                    "request_id": "int:i1:0",
                    "title": "Do you approve the following output?",
                    "details": "llm_output: The output.",
                    "decisions": ["approve", "reject", "respond"],
                }
            ],
        ),
        (  # opslayer's keys, edit asked without arguments: not offered (it would be refused)
            {"title": "Ship?", "decisions": ["approve", "edit", "reject"], "action": "ship"},
            [
                {
                    "request_id": "int:i1:0",
                    "title": "Ship?",
                    "action": "ship",
                    "decisions": ["approve", "reject"],
                }
            ],
        ),
        (
            INBOX,
            [
                {
                    "request_id": "int:i1:0",
                    "title": "write_file",
                    "action": "write_file",
                    "arguments": {"path": "notes.md"},
                    "decisions": ["approve", "edit", "respond", "reject"],
                    "details": "Please review the tool call",
                },
                {
                    "request_id": "int:i1:1",
                    "title": "Question",
                    "action": "Question",
                    "arguments": {},
                    "decisions": ["respond"],
                },
            ],
        ),
    ],
    ids=[
        "middleware batch",
        "middleware per call",
        "any payload",
        "a string",
        "nothing usable",
        "plain question",
        "edit without arguments",
        "agent inbox",
    ],
)
def test_an_interrupt_becomes_approvals(value: Any, expected: list[dict[str, Any]]) -> None:
    assert approvals_for("i1", value) == expected


@pytest.mark.parametrize(
    ("value", "decisions", "expected"),
    [
        (
            BATCH,
            [Decided("edit", {"to": "carol@x.io"}), Decided("respond", None, "done by hand")],
            {
                "decisions": [
                    {
                        "type": "edit",
                        "edited_action": {"name": "send_email", "args": {"to": "carol@x.io"}},
                    },
                    {"type": "respond", "message": "done by hand"},
                ]
            },
        ),
        (
            BATCH,
            [Decided("approve"), Decided("reject", None, "too much")],
            {"decisions": [{"type": "approve"}, {"type": "reject", "message": "too much"}]},
        ),
        (
            BATCH,
            [Decided("approve"), Decided("reject")],
            {"decisions": [{"type": "approve"}, {"type": "reject"}]},
        ),
        (PER_CALL, [Decided("respond")], {"type": "respond", "message": ""}),
        (
            {"arguments": {"amount": 42}},
            [Decided("approve")],
            {"type": "approve", "approved": True, "arguments": {"amount": 42}, "message": None},
        ),
        (
            {"arguments": {"amount": 42}},
            [Decided("edit", {"amount": 30})],
            {"type": "edit", "approved": True, "arguments": {"amount": 30}, "message": None},
        ),
        (
            {"arguments": {"amount": 42}},
            [Decided("reject", None, "no")],
            {"type": "reject", "approved": False, "arguments": {"amount": 42}, "message": "no"},
        ),
        ("OK?", [Decided("respond", None, "wait")], "wait"),
        ("What is your age?", [Decided("respond", None, " 25 ")], 25),
        ({"question": "Approve?"}, [Decided("approve")], True),
        ({"question": "Approve?"}, [Decided("reject", None, "no")], False),
        (
            INBOX,
            [Decided("edit", {"path": "todo.md"}), Decided("respond", None, "yes")],
            [
                {"type": "edit", "args": {"action": "write_file", "args": {"path": "todo.md"}}},
                {"type": "response", "args": "yes"},
            ],
        ),
        (
            INBOX[:1],
            [Decided("reject")],
            [{"type": "ignore", "args": None}],
        ),
        (INBOX[:1], [Decided("approve")], [{"type": "accept", "args": None}]),
    ],
    ids=[
        "batch edit+respond",
        "batch approve+reject",
        "reject without words",
        "per call respond",
        "approve as asked",
        "edit",
        "reject",
        "answer a string",
        "an answer that is a number",
        "plain approve",
        "plain reject",
        "inbox edit+respond",
        "inbox ignore",
        "inbox accept",
    ],
)
def test_decisions_resume_in_the_shape_the_interrupt_expects(
    value: Any, decisions: list[Decided], expected: Any
) -> None:
    assert resume_for(value, decisions) == expected


def test_a_batch_resumes_only_with_one_decision_per_request() -> None:
    with pytest.raises(ValueError):
        resume_for(BATCH, [Decided("approve")])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (request_id("abc:def", 3), ("abc:def", 3)),
        ("int:abc:x", None),
        ("int::1", None),
        ("refund-42", None),
    ],
)
def test_request_ids_are_read_back(given: str, expected: tuple[str, int] | None) -> None:
    assert parse_request_id(given) == expected


def test_a_per_call_interrupt_offers_what_its_response_schema_allows() -> None:
    """LangChain's per-call interrupt carries the decisions its tool allows (and an edit's
    argument schema) as the interrupt's `response_schema`, a Python type while the graph runs."""
    from langchain.agents.middleware.human_in_the_loop import _decision_schema

    only_yes_no = _decision_schema(["approve", "reject"], "refund")
    [ask] = approvals_for("i1", PER_CALL, only_yes_no)
    assert ask["decisions"] == ["approve", "reject"] and "arguments_schema" not in ask
    with_edit = _decision_schema(["approve", "edit"], "refund")
    [ask] = approvals_for("i1", PER_CALL, with_edit)
    assert ask["decisions"] == ["approve", "edit"] and ask["arguments_schema"]["type"] == "object"


def test_a_resume_hook_maps_a_plain_decision_its_own_way() -> None:
    def as_words(_value: Any, decided: Decided) -> Any:
        return decided.type

    assert resume_for({"question": "OK?"}, [Decided("approve")], as_words) == "approve"
