"""Approval rules (pure): which calls need a human at all. Per agent (or every agent, `*`) and
action (a glob), a rule approves or rejects at once, or asks particular approvers and a quorum.
The most specific rule wins: an agent's own over every agent's, a longer glob over a shorter,
the newest of equals."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RuleDecision(StrEnum):
    """What a rule does with an approval it matches."""

    APPROVE = "approve"  # approved at once: no message, no waiting
    REJECT = "reject"  # rejected at once
    ASK = "ask"  # asked, of the rule's approvers (and quorum)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule, and who made it when."""

    id: str
    agent: str  # an agent's name, or * for every agent
    action: str  # a glob over approvals' `action`: send_*, payments.refund, *
    decide: RuleDecision
    approvers: tuple[str, ...] = ()
    required_approvals: int | None = None
    created_by: str = ""
    created_at: datetime | None = None

    def matches(self, agent: str, action: str | None) -> bool:
        """True for this agent's approval of this action (no action: only the glob `*`)."""
        if self.agent not in (agent, "*"):
            return False
        if action is None:
            return self.action == "*"
        return fnmatch.fnmatchcase(action, self.action)


def _specificity(rule: Rule) -> tuple[bool, int, float]:
    literal = len(rule.action.replace("*", "").replace("?", ""))
    made = rule.created_at.timestamp() if rule.created_at else 0.0
    return (rule.agent != "*", literal, made)


def matching_rule(rules: Sequence[Rule], agent: str, action: str | None) -> Rule | None:
    """The rule that decides this agent's approval of this action, if any."""
    found = [r for r in rules if r.matches(agent, action)]
    return max(found, key=_specificity) if found else None
