"""The operator checklist for one agent, answered from what opslayer observed of it (pure):
each answer with its verdict, its evidence and where to look."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from opslayer.store.console import AgentFacts, Outcomes


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    # yes, no, partly; unknown (nothing to judge by yet); none (nothing of the kind happened);
    # some (it happened: neither good nor bad by itself)
    verdict: str
    evidence: str
    link: str


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _runs_link(agent: str, **filters: str) -> str:
    return "/runs?" + urlencode({"agent": agent, **filters})


def _run_or_list(facts: AgentFacts, key: str, **filters: str) -> str:
    run = facts.example_runs.get(key)
    return f"/runs/{run}" if run else _runs_link(facts.summary.name, **filters)


def _share(done: int, of: int) -> str:
    """yes when all did, partly when some did, no when none did."""
    return "yes" if done == of else "partly" if done else "no"


def _went(outcomes: Outcomes) -> str:
    """How runs that something happened to went: judged only by those that ended."""
    if outcomes.runs == 0:
        return "none"
    if outcomes.succeeded + outcomes.ended_otherwise == 0:
        return "unknown"
    return _share(outcomes.succeeded, outcomes.succeeded + outcomes.ended_otherwise)


def _since(outcomes: Outcomes) -> str:
    parts = [f"{outcomes.succeeded} then succeeded"]
    if outcomes.ended_otherwise:
        n = outcomes.ended_otherwise
        parts.append(f"{n} failed or {'was' if n == 1 else 'were'} canceled")
    if outcomes.still_open:
        parts.append(f"{outcomes.still_open} still open")
    return ", ".join(parts)


def checklist(facts: AgentFacts) -> list[Answer]:
    name = facts.summary.name
    total = facts.window
    if total == 0:
        return [Answer("Has it registered a run?", "unknown", "no runs yet", _runs_link(name))]
    answers: list[Answer] = []

    beat = facts.heartbeating_runs
    longest = max(facts.heartbeat_gaps_s, default=0.0)
    silent = facts.silences.runs
    answers.append(
        Answer(
            "Does it heartbeat, regularly?",
            "no" if not beat else "partly" if beat < total or silent else "yes",
            f"{beat} of {_plural(total, 'run')} sent heartbeats; "
            + (
                f"{_plural(silent, 'run')} went silent past the heartbeat timeout"
                if silent
                else "none went silent"
            )
            + (f"; the longest silence of a live run is {longest:.0f} s" if longest else ""),
            _run_or_list(facts, "silent" if silent else "heartbeat"),
        )
    )
    with_points = facts.runs_with_checkpoints
    answers.append(
        Answer(
            "Does it report checkpoints?",
            _share(with_points, total),
            f"{with_points} of {_plural(total, 'run')} reported checkpoints"
            f" ({_plural(facts.checkpoints, 'checkpoint')} in all)",
            _run_or_list(facts, "checkpoint"),
        )
    )
    answers.append(
        Answer(
            "Does it declare side effects?",
            "yes" if facts.side_effects else "no",
            f"{_plural(facts.side_effects, 'side effect')} declared,"
            f" {facts.unsafe_side_effects} of them not idempotent"
            " (a retry asks before replaying those)",
            _run_or_list(facts, "checkpoint"),
        )
    )
    unowned = facts.unowned_runs
    answers.append(
        Answer(
            "Does every run have an owner?",
            "yes" if unowned == 0 else "no",
            "every run's owner is a known person"
            if unowned == 0
            else f"{_plural(unowned, 'run')} have a removed owner or an unverified owner claim",
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
                f"; {_plural(deliveries.undelivered_commands, 'command')} undelivered"
                if deliveries.undelivered_commands
                else ""
            ),
            _runs_link(name, health="undelivered"),
        )
    )
    flagged = facts.recovered
    answers.append(
        Answer(
            "Do stuck or stale runs recover?",
            _went(flagged),
            f"{_plural(flagged.runs, 'run')} flagged stuck or stale: {_since(flagged)}"
            if flagged.runs
            else "no run was flagged stuck or stale",
            _run_or_list(facts, "flagged", health="stuck"),
        )
    )
    retried = facts.retried
    answers.append(
        Answer(
            "Do retries work?",
            _went(retried),
            f"{_plural(retried.runs, 'run')} retried: {_since(retried)}"
            if retried.runs
            else "no run was retried",
            _run_or_list(facts, "retried"),
        )
    )
    overridden = facts.overridden
    automatic = facts.decided_automatically
    answers.append(
        Answer(
            "Were runs overridden, and how did that go?",
            "none" if not overridden.runs and not automatic else "some",
            (
                f"{_plural(overridden.runs, 'run')} canceled, paused or force-canceled from"
                f" outside the agent: {_since(overridden)}"
                if overridden.runs
                else "no run was canceled, paused or force-canceled from outside the agent"
            )
            + f"; {_plural(automatic, 'approval')} decided by a deadline or a rule",
            _run_or_list(facts, "overridden"),
        )
    )
    return answers
