"""Deciding approvals: a person approves, edits, rejects or answers (rights checked, one vote
each, toward the quorum), or the approval's deadline takes its default decision. A vote or a
decision is recorded with its audit event, the update of the approval's message and, once
decided, the command for the agent, in one transaction under the run's lock."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opslayer.bot.alerts.keys import alert_key, command_key
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import WAITING, AlertStatus, changed_at, resolve
from opslayer.bot.approvals.editing import judge_edit
from opslayer.bot.approvals.model import Approval, ApprovalStatus, DecisionType
from opslayer.bot.approvals.rule_book import new_rule, rule_detail
from opslayer.bot.approvals.rules import Rule, RuleDecision
from opslayer.bot.approvals.voting import at_deadline, cast, progress
from opslayer.bot.audit import Actor, AuditEvent, Via, actor_of
from opslayer.bot.commands.issuing import enqueue
from opslayer.bot.commands.model import Command, CommandKind
from opslayer.bot.commands.rules import check_command
from opslayer.bot.errors import (
    ApprovalNotFound,
    Conflict,
    InvalidTransition,
    NotAuthorized,
    RunNotFound,
    ValidationFailed,
)
from opslayer.bot.people.acting import Acting
from opslayer.bot.people.model import Person
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.runs.model import Run, RunStatus
from opslayer.bot.runs.saving import save_run_or_conflict


@dataclass(frozen=True, slots=True)
class Answer:
    """What a decision produced: the approval as it is now, and the command for the agent
    (None while a quorum is still being gathered, or when the deadline only let it lapse)."""

    approval: Approval
    command: Command | None = None
    rule: Rule | None = None  # made by "approve, and always approve"


# How a decided approval's message ends, per decision taken.
_ENDED = {
    DecisionType.APPROVE: "Approved by {name}",
    DecisionType.EDIT: "Approved with changes by {name}",
    DecisionType.REJECT: "Rejected by {name}",
    DecisionType.RESPOND: "Answered by {name}",
}
_AT_DEADLINE = {
    ApprovalStatus.APPROVED: "Approved automatically at the deadline",
    ApprovalStatus.REJECTED: "Rejected automatically at the deadline",
    ApprovalStatus.CANCELED: "No decision by the deadline: run canceled automatically",
    ApprovalStatus.EXPIRED: "Expired without a decision",
}


def _may(acting: Acting, person: Person, run: Run, approval: Approval) -> bool:
    """Whether the person may decide: judging an edit costs work, so only theirs is judged
    (everyone else's refusal is said, and audited, by the decision itself)."""
    try:
        acting.allow(person, run, DecisionType.EDIT.value, approval)
    except NotAuthorized:
        return False
    return True


def ended_note(approval: Approval, *, waiting: bool = False) -> str:
    """'Approved with changes by Alice, waiting for the agent: “…”', as the approval's message
    ends (`waiting`: a command is on its way to the agent)."""
    decided = approval.decision
    then = WAITING if waiting else ""
    if decided is None or decided.by.via is Via.TIMEOUT:
        return _AT_DEADLINE.get(approval.status, approval.status.value.capitalize()) + then
    if decided.by.via is Via.RULE:
        return f"{_ENDED[decided.type].format(name='a rule')} ({decided.by.id}){then}"
    note = _ENDED[decided.type].format(name=decided.by.name) + then
    if decided.message:
        note += f": “{decided.message}”"
    return note


async def resolve_approval_alert(
    uow: UnitOfWork, approval_id: str, *, now: datetime, resolution: str
) -> None:
    """The approval's message says how it ended, and its buttons go."""
    alert = await uow.alerts.by_key(alert_key(AlertKind.APPROVAL, approval_id=approval_id))
    if alert is not None and alert.status is not AlertStatus.RESOLVED:
        await uow.alerts.update(resolve(alert, now=now, resolution=resolution))


async def _touch_approval_alert(uow: UnitOfWork, approval_id: str, now: datetime) -> None:
    """A vote changes the approval's message ("1 of 2 approvals (Alice)"): sync it."""
    alert = await uow.alerts.by_key(alert_key(AlertKind.APPROVAL, approval_id=approval_id))
    if alert is not None and alert.status is not AlertStatus.RESOLVED:
        touched = dataclasses.replace(alert, needs_sync=True, updated_at=changed_at(alert, now))
        await uow.alerts.update(touched)


def command_for(approval: Approval) -> CommandKind | None:
    """The command a decided approval sends: approve|reject as before (an edit approves, an
    answer in words rejects the action as asked), cancel for a deadline that cancels."""
    if approval.status is ApprovalStatus.APPROVED:
        return CommandKind.APPROVE
    if approval.status is ApprovalStatus.REJECTED:
        return CommandKind.REJECT
    if approval.status is ApprovalStatus.CANCELED:
        return CommandKind.CANCEL
    return None


async def settle(
    uow: UnitOfWork, run: Run, decided: Approval, *, actor: Actor, now: datetime
) -> Answer:
    """Store a decided approval (False from the store: someone decided first), audit it, end
    its message, and send the agent its command."""
    if not await uow.approvals.decide(decided):
        raise Conflict(await _already(uow, decided))
    detail: dict[str, Any] = {"approval_id": decided.id, "title": decided.title}
    if decided.decision is not None:
        detail["decision"] = decided.decision.type.value
        if decided.decision.arguments is not None and decided.decision.type is DecisionType.EDIT:
            detail["arguments"] = decided.decision.arguments
    reason = decided.decision.message if decided.decision else "no decision before the deadline"
    await uow.audit.add(
        AuditEvent(f"approval.{decided.status.value}", now, actor, run.id, detail, reason)
    )
    kind = command_for(decided)
    note = ended_note(decided, waiting=kind is not None)
    await resolve_approval_alert(uow, decided.id, now=now, resolution=note)
    if kind is None:
        return Answer(decided)
    if run.status is RunStatus.WAITING_APPROVAL and not await uow.approvals.for_run(
        run.id, status=ApprovalStatus.PENDING
    ):
        # The run waits for nothing else now: the agent should move, and is watched for it.
        run = await save_run_or_conflict(uow, run, dataclasses.replace(run, decided_at=now), now)
    issued = await enqueue(
        uow,
        run=run,
        kind=kind,
        actor=actor,
        now=now,
        reason=reason,
        approval=decided,
        # A deadline's cancel meets an operator's cancel of the same run as one command.
        open_key=(
            command_key(run.id, kind.value, episode=run.status_changed_at)
            if kind is CommandKind.CANCEL
            else command_key(run.id, kind.value, approval_id=decided.id)
        ),
    )
    return Answer(decided, issued.command)


class ApprovalDecisions:
    """Approve, edit, reject and answer as a person; take the default at the deadline."""

    def __init__(self, acting: Acting) -> None:
        self._acting = acting

    async def pending_approval(self, run_id: str, approval_id: str | None = None) -> Approval:
        """The run's one pending approval (or the named one): what `approve RUN` acts on."""
        async with self._acting.store.read() as uow:
            if await uow.runs.get(run_id) is None:
                raise RunNotFound(run_id)
            pending = await uow.approvals.for_run(run_id, status=ApprovalStatus.PENDING)
        if approval_id is not None:
            chosen = next((a for a in pending if a.id == approval_id), None)
            if chosen is None:
                raise ApprovalNotFound(approval_id)
            return chosen
        if not pending:
            raise Conflict(f"run {run_id} has no pending approval")
        if len(pending) > 1:
            ids = ", ".join(a.id for a in pending)
            raise ValidationFailed(
                f"run {run_id} has {len(pending)} pending approvals ({ids}): name one"
            )
        return pending[0]

    async def approve(
        self,
        approval_id: str,
        *,
        person: Person,
        via: Via,
        comment: str | None = None,
        confirmed: bool = False,
    ) -> Answer:
        """Approve as asked; the agent gets the approval's `state` back unchanged."""
        return await self.decide(
            approval_id,
            DecisionType.APPROVE,
            person=person,
            via=via,
            message=comment,
            confirmed=confirmed,
        )

    async def reject(
        self, approval_id: str, *, person: Person, via: Via, comment: str | None = None
    ) -> Answer:
        """Reject, with feedback the agent receives."""
        return await self.decide(
            approval_id, DecisionType.REJECT, person=person, via=via, message=comment
        )

    async def decide(
        self,
        approval_id: str,
        decision: DecisionType,
        *,
        person: Person,
        via: Via,
        arguments: Any = None,
        message: str | None = None,
        confirmed: bool = False,
        always: bool = False,
    ) -> Answer:
        """One person's decision: a vote toward the quorum, or the one that decides it.

        `arguments` are an edit's changed arguments (checked against the approval's schema);
        `message` a rejection's feedback or the answer in words; `confirmed` the second yes a
        high-risk approval asks for; `always` (owner or admin) also makes a rule that approves
        this agent's `action` from now on."""
        acting = self._acting
        actor = actor_of(person, via)
        async with acting.store.read() as uow:
            found = await uow.approvals.get(approval_id)
            seen = await uow.runs.get(found.run_id) if found is not None else None
        if found is None:
            raise ApprovalNotFound(approval_id)
        message = (message or "").strip() or None
        # Judged before the transaction, off the loop: an agent's schema must not hold the
        # writer (or anyone else) while it runs. An approval's schema never changes.
        # Its refusal waits for the rights check, so a person without the right learns no more.
        edited: dict[str, Any] | None = None
        refused: ValidationFailed | None = None
        if decision is DecisionType.EDIT and seen is not None and _may(acting, person, seen, found):
            try:
                edited = await judge_edit(arguments, found.arguments_schema)
            except ValidationFailed as wrong:
                refused = wrong

        async def job(uow: UnitOfWork) -> Answer:
            now = acting.clock.now()
            run = await acting.locked_run(uow, found.run_id)
            approval = await uow.approvals.get(approval_id)
            assert approval is not None
            acting.allow(person, run, decision.value, approval)
            if approval.status is not ApprovalStatus.PENDING:
                raise Conflict(await _already(uow, approval))
            if approval.expires_at is not None and approval.expires_at <= now:
                raise Conflict(
                    f"approval {approval_id} reached its deadline at"
                    f" {approval.expires_at:%Y-%m-%d %H:%M} UTC; opslayer decides it now"
                )
            if refused is not None:
                raise refused
            if decision is DecisionType.EDIT and edited is None:  # rights changed meanwhile
                raise Conflict(f"approval {approval_id} changed while the edit was judged")
            rule = await self._always(uow, run, approval, actor, person, now) if always else None
            outcome = cast(
                approval,
                decision,
                actor=actor,
                now=now,
                arguments=edited,
                message=message,
                confirmed=confirmed,
            )
            if outcome.final:
                kind = command_for(outcome.approval)
                if kind is not None:
                    check_command(run, kind)
                answer = await settle(uow, run, outcome.approval, actor=actor, now=now)
                return dataclasses.replace(answer, rule=rule)
            if not await uow.approvals.decide(outcome.approval):
                raise Conflict(await _already(uow, approval))
            detail = {
                "approval_id": approval.id,
                "decision": decision.value,
                "progress": progress(outcome.approval),
            }
            await uow.audit.add(AuditEvent("approval.voted", now, actor, run.id, detail))
            await _touch_approval_alert(uow, approval.id, now)
            return Answer(outcome.approval, rule=rule)

        return await acting.audited(
            person=person, via=via, action=decision.value, run_id=found.run_id, job=job
        )

    async def _always(
        self,
        uow: UnitOfWork,
        run: Run,
        approval: Approval,
        actor: Actor,
        person: Person,
        now: datetime,
    ) -> Rule:
        """The rule "always approve this action for this agent": the owner's or an admin's."""
        if run.owner.id != person.id and not self._acting.admins.includes(person):
            raise NotAuthorized(
                actor=person.name,
                action="make a rule",
                target=f"agent {run.agent} (only the run's owner or an admin may)",
            )
        if approval.action is None:
            raise ValidationFailed(
                f"approval {approval.id} names no action: a rule needs one to match"
            )
        rule = dataclasses.replace(
            new_rule(agent=run.agent, action=approval.action, decide=RuleDecision.APPROVE),
            created_by=person.name,
            created_at=now,
        )
        await uow.rules.add(rule)
        detail = rule_detail(rule)
        await uow.audit.add(AuditEvent("rule.added", now, actor, run.id, detail))
        return rule

    async def decide_overdue(self) -> int:
        """Approvals past their deadline take their default decision, each exactly once (the
        run's lock and a conditional write make a second replica find it decided). Returns
        how many were decided."""
        acting = self._acting
        async with acting.store.read() as uow:
            due = await uow.approvals.past_deadline(acting.clock.now())
        decided = 0
        for candidate in due:

            async def job(uow: UnitOfWork, approval_id: str = candidate.id) -> bool:
                now = acting.clock.now()
                approval = await uow.approvals.get(approval_id)
                if approval is None:
                    return False
                run = await acting.locked_run(uow, approval.run_id)
                approval = await uow.approvals.get(approval_id)
                if approval is None or approval.status is not ApprovalStatus.PENDING:
                    return False  # another replica, or a person, was first
                if approval.expires_at is None or approval.expires_at > now:
                    return False
                outcome = at_deadline(approval, now)
                kind = command_for(outcome)
                if kind is not None and _refused(run, kind):
                    # The run moved on (paused, say): the deadline cannot act, so it lapses.
                    outcome = dataclasses.replace(
                        approval, status=ApprovalStatus.EXPIRED, decided_at=now
                    )
                actor = outcome.decision.by if outcome.decision else _deadline_actor()
                try:
                    await settle(uow, run, outcome, actor=actor, now=now)
                except Conflict:
                    return False
                return True

            if await acting.store.run(job, urgent=True):
                decided += 1
        if decided:
            acting.woke()
        return decided


def _deadline_actor() -> Actor:
    return Actor(id="system", name="opslayer", via=Via.TIMEOUT)


def _refused(run: Run, kind: CommandKind) -> bool:
    try:
        check_command(run, kind)
    except InvalidTransition:
        return True
    return False


async def _already(uow: UnitOfWork, approval: Approval) -> str:
    """'already approved by Alice at 10:32' for the one who clicked second."""
    current = await uow.approvals.get(approval.id)
    assert current is not None
    if current.decision is not None:
        by = f" by {current.decision.by.name}"
    else:
        who = await uow.people.get(current.decided_by) if current.decided_by else None
        by = f" by {who.name}" if who else ""
    at = f" at {current.decided_at:%H:%M} UTC" if current.decided_at else ""
    return f"approval {approval.id} is no longer pending: already {current.status}{by}{at}"
