"""The operator checklist as a table: what opslayer observed of an agent → each verdict."""

from __future__ import annotations

from dataclasses import replace

import pytest

from opslayer.adapters.web.checklist import checklist
from opslayer.store.console import AgentFacts, AgentSummary, Deliveries, Outcomes

NOTHING = Outcomes(0)
WEBHOOK = "Does its webhook take commands?"
GOOD = AgentFacts(
    summary=AgentSummary("billing", 10, {"succeeded": 10}, 0, None),
    window=10,
    deliveries=Deliveries(4, 4, None, None, 0),
    heartbeating_runs=10,
    heartbeat_gaps_s=[],
    silences=NOTHING,
    runs_with_checkpoints=10,
    checkpoints=30,
    side_effects=5,
    unsafe_side_effects=1,
    unowned_runs=0,
    recovered=NOTHING,
    retried=NOTHING,
    overridden=NOTHING,
    decided_automatically=0,
)


def verdicts(facts: AgentFacts) -> dict[str, str]:
    return {a.question: a.verdict for a in checklist(facts)}


@pytest.mark.parametrize(
    ("change", "question", "verdict"),
    [
        ({}, "Does it heartbeat, regularly?", "yes"),
        ({"heartbeating_runs": 4}, "Does it heartbeat, regularly?", "partly"),
        ({"heartbeating_runs": 0}, "Does it heartbeat, regularly?", "no"),
        ({"silences": Outcomes(2, 1, 0)}, "Does it heartbeat, regularly?", "partly"),
        ({}, "Does it report checkpoints?", "yes"),
        ({"runs_with_checkpoints": 3}, "Does it report checkpoints?", "partly"),
        ({"runs_with_checkpoints": 0}, "Does it report checkpoints?", "no"),
        ({"side_effects": 0}, "Does it declare side effects?", "no"),
        ({"unowned_runs": 1}, "Does every run have an owner?", "no"),
        ({}, WEBHOOK, "yes"),
        (
            {"deliveries": Deliveries(0, 0, None, None, 0)},
            "Does its webhook take commands?",
            "unknown",
        ),
        (
            {"deliveries": Deliveries(4, 3, "502", None, 0)},
            "Does its webhook take commands?",
            "partly",
        ),
        (
            {"deliveries": Deliveries(4, 4, None, None, 1)},
            "Does its webhook take commands?",
            "partly",
        ),
        ({"deliveries": Deliveries(3, 0, "401", None, 1)}, WEBHOOK, "no"),
        ({}, "Do stuck or stale runs recover?", "none"),
        ({"recovered": Outcomes(2)}, "Do stuck or stale runs recover?", "unknown"),
        ({"recovered": Outcomes(2, 2, 0)}, "Do stuck or stale runs recover?", "yes"),
        ({"recovered": Outcomes(3, 1, 1)}, "Do stuck or stale runs recover?", "partly"),
        ({"recovered": Outcomes(1, 0, 1)}, "Do stuck or stale runs recover?", "no"),
        ({"retried": Outcomes(2, 2, 0)}, "Do retries work?", "yes"),
        ({"retried": Outcomes(2, 0, 2)}, "Do retries work?", "no"),
        ({}, "Were runs overridden, and how did that go?", "none"),
        ({"overridden": Outcomes(1, 0, 1)}, "Were runs overridden, and how did that go?", "some"),
        ({"decided_automatically": 2}, "Were runs overridden, and how did that go?", "some"),
    ],
)
def test_each_answer_follows_what_was_observed(
    change: dict[str, object], question: str, verdict: str
) -> None:
    assert verdicts(replace(GOOD, **change))[question] == verdict  # type: ignore[arg-type]


def test_an_agent_without_runs_is_asked_only_whether_it_registered_one() -> None:
    empty = replace(GOOD, summary=AgentSummary("new", 0, {}, 0, None), window=0)
    [answer] = checklist(empty)
    assert (answer.question, answer.verdict) == ("Has it registered a run?", "unknown")


def test_the_evidence_counts_in_words_and_links_to_a_run_that_shows_it() -> None:
    facts = replace(
        GOOD,
        window=1,
        retried=Outcomes(3, 1, 1),
        side_effects=1,
        example_runs={"retried": "run_1"},
    )
    answers = {a.question: a for a in checklist(facts)}
    retries = answers["Do retries work?"]
    assert (
        retries.evidence
        == "3 runs retried: 1 then succeeded, 1 failed or was canceled, 1 still open"
    )
    assert retries.link == "/runs/run_1"
    assert answers["Does it declare side effects?"].evidence.startswith("1 side effect declared")
    assert "of 1 run " in answers["Does it report checkpoints?"].evidence
