"""How an approval is decided (pure): votes toward a quorum, one reject (or an answer in words)
ends it, an edit is a yes with changed arguments, and the deadline decides what is left.

A table of cases tests this module (decisions allowed × decision taken × votes × risk)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opslayer.bot.approvals.model import (
    Approval,
    ApprovalStatus,
    Decided,
    DecisionType,
    OnTimeout,
    Risk,
    Vote,
)
from opslayer.bot.audit import Actor, Via
from opslayer.bot.errors import ConfirmationRequired, Conflict, ValidationFailed

YES = frozenset({DecisionType.APPROVE, DecisionType.EDIT})


class AlreadyVoted(Conflict):
    """The approver's yes is counted already; a quorum needs other people."""

    def __init__(self, *, name: str, approval_id: str) -> None:
        super().__init__(f"{name} already approved {approval_id}: it needs someone else's vote")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The approval after a vote, and whether that vote decided it."""

    approval: Approval
    final: bool


def cast(
    approval: Approval,
    decision: DecisionType,
    *,
    actor: Actor,
    now: datetime,
    arguments: dict[str, Any] | None = None,
    message: str | None = None,
    confirmed: bool = False,
) -> Outcome:
    """One person's decision on a pending approval.

    Raises Conflict (decided already, or this person's yes is counted already),
    ValidationFailed (a decision the agent did not offer; an edit without arguments; an
    answer without words) and ConfirmationRequired (a high-risk yes not confirmed)."""
    if approval.status is not ApprovalStatus.PENDING:
        raise Conflict(f"approval {approval.id} is no longer pending: already {approval.status}")
    if decision not in approval.decisions:
        offered = ", ".join(d.value for d in approval.decisions)
        raise ValidationFailed(f"approval {approval.id} takes {offered}, not {decision.value}")
    if decision is DecisionType.EDIT and arguments is None:
        raise ValidationFailed("an edit needs the changed arguments")
    if decision is DecisionType.RESPOND and not (message or "").strip():
        raise ValidationFailed("an answer in words needs the words")
    if decision in YES and approval.risk is Risk.HIGH and not confirmed:
        raise ConfirmationRequired(
            action=f"approving {approval.id}",
            risks=[f"it is high risk: {approval.title}"],
        )
    if decision not in YES:  # one reject (or an answer) ends it
        decided = Decided(decision, actor, now, message=message)
        return Outcome(ended(approval, ApprovalStatus.REJECTED, decided), True)
    if any(v.person_id == actor.id for v in approval.votes):
        raise AlreadyVoted(name=actor.name, approval_id=approval.id)
    vote = Vote(actor.id, actor.name, now, actor.via.value, decision, arguments)
    votes = (*approval.votes, vote)
    counted = dataclasses.replace(approval, votes=votes)
    if len(votes) < approval.required_approvals:
        return Outcome(counted, False)
    edits = [v for v in votes if v.type is DecisionType.EDIT]
    final_type = DecisionType.EDIT if edits else DecisionType.APPROVE
    acting_with = edits[-1].arguments if edits else approval.arguments
    decided = Decided(final_type, actor, now, arguments=acting_with, message=message)
    return Outcome(ended(counted, ApprovalStatus.APPROVED, decided), True)


def at_deadline(approval: Approval, now: datetime) -> Approval:
    """What the deadline decides for a pending approval: its on_timeout, as opslayer."""
    actor = Actor(id="system", name="opslayer", via=Via.TIMEOUT)
    if approval.on_timeout is OnTimeout.APPROVE:
        decided = Decided(DecisionType.APPROVE, actor, now, arguments=approval.arguments)
        return ended(approval, ApprovalStatus.APPROVED, decided)
    if approval.on_timeout is OnTimeout.REJECT:
        decided = Decided(
            DecisionType.REJECT, actor, now, message="no decision before the deadline"
        )
        return ended(approval, ApprovalStatus.REJECTED, decided)
    status = (
        ApprovalStatus.CANCELED
        if approval.on_timeout is OnTimeout.CANCEL
        else ApprovalStatus.EXPIRED
    )
    return dataclasses.replace(approval, status=status, decided_at=now)


def progress(approval: Approval) -> str | None:
    """'1 of 2 approvals (Alice)' while a quorum is being gathered; None otherwise."""
    if approval.required_approvals < 2 or approval.status is not ApprovalStatus.PENDING:
        return None
    names = ", ".join(v.name for v in approval.votes)
    counted = f" ({names})" if names else ""
    return f"{len(approval.votes)} of {approval.required_approvals} approvals{counted}"


def ended(approval: Approval, status: ApprovalStatus, decided: Decided) -> Approval:
    """The approval decided: its status, the decision, who and when."""
    return dataclasses.replace(
        approval,
        status=status,
        decision=decided,
        decided_by=decided.by.id,
        decided_at=decided.at,
        comment=decided.message,
    )
