"""The operator checklist for one agent, answered from what opslayer observed of it (pure):
each answer with its evidence and where to look."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from opslayer.store.console import AgentFacts


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    verdict: str  # yes, no, partly, unknown (nothing observed yet)
    evidence: str
    link: str


def _runs(agent: str, **filters: str) -> str:
    return "/runs?" + urlencode({"agent": agent, **filters})


def _run_or_list(facts: AgentFacts, key: str, **filters: str) -> str:
    run = facts.example_runs.get(key)
    return f"/runs/{run}" if run else _runs(facts.summary.name, **filters)


def checklist(facts: AgentFacts) -> list[Answer]:
    name = facts.summary.name
    total = facts.summary.runs
    answers: list[Answer] = []

    if total == 0:
        return [Answer("Has it registered a run?", "unknown", "no runs yet", _runs(name))]

    beat = facts.heartbeating_runs
    longest = max(facts.heartbeat_gaps_s, default=0.0)
    answers.append(
        Answer(
            "Does it heartbeat?",
            "yes" if beat == total else "partly" if beat else "no",
            f"{beat} of {total} runs sent heartbeats"
            + (f"; the longest silence of a live run is {longest:.0f} s" if longest else ""),
            _run_or_list(facts, "heartbeat"),
        )
    )
    with_points = facts.runs_with_checkpoints
    answers.append(
        Answer(
            "Does it report checkpoints?",
            "yes" if with_points == total else "partly" if with_points else "no",
            f"{with_points} of {total} runs reported checkpoints ({facts.checkpoints} in all)",
            _run_or_list(facts, "checkpoint"),
        )
    )
    answers.append(
        Answer(
            "Does it declare side effects?",
            "yes" if facts.side_effects else "no",
            f"{facts.side_effects} side effects declared, {facts.unsafe_side_effects} of them"
            " not idempotent (a retry asks before replaying those)",
            _run_or_list(facts, "checkpoint"),
        )
    )
    answers.append(
        Answer(
            "Does every run have an owner?",
            "yes" if facts.unowned_runs == 0 else "no",
            "every run's owner is a known person"
            if facts.unowned_runs == 0
            else f"{facts.unowned_runs} runs have a removed owner or an unverified owner claim",
            _run_or_list(facts, "unowned"),
        )
    )
    deliveries = facts.deliveries
    rate = deliveries.success_rate
    answers.append(
        Answer(
            "Does its webhook take commands?",
            "unknown"
            if rate is None
            else "yes"
            if rate == 1 and not deliveries.undelivered_commands
            else "partly"
            if rate > 0
            else "no",
            "no command sent yet"
            if rate is None
            else f"{deliveries.delivered} of {deliveries.attempts} delivery attempts succeeded"
            + (f"; last error: {deliveries.last_error}" if deliveries.last_error else "")
            + (
                f"; {deliveries.undelivered_commands} commands undelivered"
                if deliveries.undelivered_commands
                else ""
            ),
            _runs(name, health="undelivered"),
        )
    )
    answers.append(
        Answer(
            "How many runs recovered?",
            "yes" if facts.recovered else "unknown",
            f"{facts.recovered} runs flagged stuck or stale later succeeded",
            _runs(name, status="succeeded"),
        )
    )
    answers.append(
        Answer(
            "How did retries go?",
            "unknown"
            if not facts.retried
            else "yes"
            if facts.retried_ok == facts.retried
            else "partly",
            f"{facts.retried} retries issued, {facts.retried_ok} of those runs then succeeded",
            _run_or_list(facts, "retried"),
        )
    )
    answers.append(
        Answer(
            "How often were decisions overridden?",
            "yes" if facts.overridden == 0 else "partly",
            f"{facts.overridden} runs force-canceled or approvals decided by a deadline or rule",
            _runs(name),
        )
    )
    return answers
