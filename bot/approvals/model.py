"""An approval: a durable request for a human decision, with who may answer it, how (approve,
edit, reject, respond), how many must agree, and what happens at its deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opslayer.bot.audit import Actor
from opslayer_client.contract import ApprovalStatus, DecisionType, OnTimeout, Risk

__all__ = [
    "DEFAULT_DECISIONS",
    "Approval",
    "ApprovalStatus",
    "Decided",
    "DecisionType",
    "OnTimeout",
    "Risk",
    "Vote",
]

DEFAULT_DECISIONS = (DecisionType.APPROVE, DecisionType.REJECT)


@dataclass(frozen=True, slots=True)
class Vote:
    """One approver's yes so far (an approve or an edit), toward `required_approvals`."""

    person_id: str
    name: str
    at: datetime
    via: str
    type: DecisionType
    arguments: dict[str, Any] | None = None  # an edit's arguments


@dataclass(frozen=True, slots=True)
class Decided:
    """The decision taken, by whom (a person, a rule, or opslayer at the deadline)."""

    type: DecisionType
    by: Actor
    at: datetime
    arguments: dict[str, Any] | None = None  # the arguments to act with (edited, or as asked)
    message: str | None = None  # a rejection's reason, or the answer in words


@dataclass(frozen=True, slots=True)
class Approval:
    """A durable request for a human decision, with who may answer and state to hand back."""

    id: str
    run_id: str
    request_id: str
    title: str
    status: ApprovalStatus
    created_at: datetime
    details: str | None = None
    expires_at: datetime | None = None
    approvers: tuple[str, ...] = ()  # people (email, Slack or Teams id, person id), group:NAME
    state: Any = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    action: str | None = None  # a machine name of what is asked; rules match on it
    arguments: dict[str, Any] | None = None  # shown to the approver; an edit changes them
    arguments_schema: dict[str, Any] | None = None  # JSON Schema an edit must satisfy
    decisions: tuple[DecisionType, ...] = DEFAULT_DECISIONS
    required_approvals: int = 1
    on_timeout: OnTimeout = OnTimeout.EXPIRE
    risk: Risk | None = None
    votes: tuple[Vote, ...] = ()
    decision: Decided | None = None

    @property
    def pending(self) -> bool:
        return self.status is ApprovalStatus.PENDING
