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
                    "decisions": ["approve", "edit", "reject", "respond"],
                }
            ],
        ),
    ],
    ids=["middleware batch", "middleware per call", "any payload", "a string", "nothing usable"],
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
        (
            "OK?",
            [Decided("respond", None, "wait")],
            {"type": "respond", "approved": False, "arguments": None, "message": "wait"},
        ),
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
