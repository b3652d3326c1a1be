"""What a person is shown about an alert, platform-neutral: headline, facts, buttons.

Adapters render these (Block Kit, Adaptive Cards, a log line); the wording lives here and in
`bot.alerts.kinds` (headlines), once, so Slack and Teams cannot drift. A view is built from the
run as it is NOW (the chat sync rebuilds it on every update), and its moments are absolute (the
platforms show them in each reader's own time zone), so a message never freezes at the moment
it was posted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from opslayer.bot.alerts.kinds import KINDS, AlertKind, headline
from opslayer.bot.approvals.model import Approval, DecisionType, OnTimeout
from opslayer.bot.approvals.voting import progress
from opslayer.bot.people.model import Person
from opslayer.bot.runs.model import Checkpoint, Health, Run, RunStatus
from opslayer.bot.views.model import AlertView, ApprovalView, Fact, Handoff, Mention

# What each action's button says, on every surface.
BUTTON_TEXT = {
    "approve": "Approve",
    "edit": "Edit and approve",
    "reject": "Reject",
    "respond": "Answer instead",
    "approve_always": "Always approve",
    "acknowledge": "Acknowledge",
    "retry": "Retry",
    "cancel": "Cancel",
    "pause": "Pause",
    "resume": "Resume",
    "reassign": "Reassign",
    "details": "Details",
    "accept": "Accept",
}
# What marks a follow-up message, on every surface.
PING_TEXT = {
    "reminder": "Reminder: this still needs someone",
    "escalation": "Escalated: nobody has answered yet",
}


def unsafe_sentence(keys: Sequence[str]) -> str:
    """The warning for side effects a retry would replay."""
    return (
        f"Not idempotent, already done: {', '.join(keys)}. A retry from before them replays them."
    )


ARGUMENTS_LIMIT = 1200  # characters of an approval's arguments shown before "…"
TEXT_LIMIT = 600  # characters of an agent's error or message shown before "…"


def stamp(moment: datetime) -> str:
    """A moment as a view carries it: ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat()


def fallback_time(moment: datetime) -> str:
    """A moment in words, for where a platform cannot show it in the reader's zone."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def ago(since: datetime, now: datetime) -> str:
    """A duration as people say it: 40 s, 12 min, 5 h, 3 days."""
    seconds = int((now - since).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a word (never mid-word) and marked with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def mention_of(person: Person) -> Mention:
    """How a message names and mentions a person."""
    return {
        "name": person.name,
        "email": person.email,
        "slack_user_id": person.slack_user_id,
        "teams_user_id": person.teams_user_id,
    }


def _moment(label: str, moment: datetime, text: str = "") -> Fact:
    return {"label": label, "text": text, "at": stamp(moment)}


# What a deadline does, said before it comes ("Rejects automatically in 20 min").
AT_DEADLINE = {
    OnTimeout.APPROVE: "Approves automatically",
    OnTimeout.REJECT: "Rejects automatically",
    OnTimeout.CANCEL: "Cancels the run automatically",
}
_DECISION_ORDER = (
    DecisionType.APPROVE,
    DecisionType.EDIT,
    DecisionType.REJECT,
    DecisionType.RESPOND,
)


def button_text(verb: str, view: AlertView) -> str:
    """A button's words; "always approve" names the action and the agent."""
    approval = view.get("approval")
    if verb == "approve_always" and approval and "always" in approval:
        return approval["always"]
    return BUTTON_TEXT[verb]


def deadline_text(approval: ApprovalView, moment: str, *, ping: bool) -> str | None:
    """'Rejects automatically <moment> (in 20 min)' or 'Decide by <moment>', with the deadline
    as the surface shows a moment; the time left is said on a follow-up only (it is posted
    once, so it cannot go stale)."""
    if "expires_at" not in approval:
        return None
    says = approval.get("at_deadline")
    text = f"{says} {moment}" if says else f"Decide by {moment}"
    if ping and "remaining" in approval:
        text += f" (in {approval['remaining']})"
    return text


def decision_buttons(approval: Approval) -> list[str]:
    """The approval's own buttons: the decisions the agent offered, and "always approve" when
    rules could match it (it names an action)."""
    buttons = [d.value for d in _DECISION_ORDER if d in approval.decisions]
    if DecisionType.APPROVE in approval.decisions and approval.action is not None:
        buttons.append("approve_always")
    return buttons


def actions_for(run: Run, kind: AlertKind, *, approval: Approval | None = None) -> list[str]:
    """The buttons a person needs for this situation, in order."""
    if kind is AlertKind.APPROVAL:
        return [
            *(decision_buttons(approval) if approval else ["approve", "reject"]),
            "reassign",
            "details",
        ]
    if kind is AlertKind.HANDOFF:
        return ["accept", "details"]
    buttons = decision_buttons(approval) if approval else []
    buttons.append("acknowledge")
    if run.status is RunStatus.FAILED or kind is AlertKind.STUCK:
        buttons.append("retry")
    if run.status is RunStatus.PAUSED:
        buttons.append("resume")
    elif not run.status.terminal and not approval:
        buttons.append("pause")
    if not run.status.terminal:
        buttons.append("cancel")
    return [*buttons, "reassign", "details"]


def approval_view(
    approval: Approval,
    *,
    now: datetime,
    agent: str = "",
    approvers: Sequence[Mention] = (),
) -> ApprovalView:
    """What an approver decides on: the question, the arguments, who may answer and how many
    must, by when and what happens then."""
    view: ApprovalView = {"id": approval.id, "title": approval.title, "details": approval.details}
    if approvers:
        view["approvers"] = list(approvers)
    if approval.expires_at is not None:
        view["expires_at"] = stamp(approval.expires_at)
        if approval.on_timeout in AT_DEADLINE:
            view["at_deadline"] = AT_DEADLINE[approval.on_timeout]
        if approval.expires_at > now:
            view["remaining"] = ago(now, approval.expires_at)
    shown = approval.arguments if approval.arguments is not None else approval.state
    if shown is not None:
        pretty = json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=True, default=str)
        view["arguments"] = clip(pretty, ARGUMENTS_LIMIT)
    counted = progress(approval)
    if counted:
        view["progress"] = counted
    if approval.risk is not None:
        view["risk"] = approval.risk.value
    if approval.action is not None and agent:
        view["always"] = clip(f"Approve, and always approve {approval.action} for {agent}", 75)
    return view


def _unsafe_after(checkpoints: Sequence[Checkpoint]) -> list[str]:
    return [e.key for c in checkpoints for e in c.side_effects if not e.idempotent]


def _health(kind: AlertKind, run: Run) -> list[Health]:
    """What the run has, this alert's own flag included (the scan raises the alert before it
    writes the run's new assessment)."""
    flags = list(run.health)
    own = KINDS[kind].health
    if own is not None and own not in flags:
        flags.append(own)
    return flags


def alert_view(
    kind: AlertKind,
    run: Run,
    *,
    now: datetime,
    approval: Approval | None = None,
    approvers: Sequence[Mention] = (),
    checkpoints: Sequence[Checkpoint] = (),
    handoff: Handoff | None = None,
    acknowledged: bool = False,
) -> AlertView:
    """The alert's content as the run is now: headline, facts, buttons (none to acknowledge
    once someone has), and whom it is for."""
    facts: list[Fact] = [
        {"label": "status", "text": run.status.value},
        {"label": "health", "text": ", ".join(h.value for h in _health(kind, run)) or "ok"},
        {"label": "agent", "text": run.agent},
        _moment("since", run.status_changed_at),
    ]
    if run.step:
        facts.append({"label": "step", "text": run.step})
    if run.progress is not None:
        facts.append({"label": "progress", "text": f"{run.progress:.0%}"})
    if run.last_heartbeat_at:
        facts.append(_moment("last heartbeat", run.last_heartbeat_at))
    if checkpoints:
        last = checkpoints[-1]
        facts.append(
            _moment("last checkpoint", last.created_at, f"{last.checkpoint_id} · {last.step}")
        )
    if run.attempt > 1:
        facts.append({"label": "attempt", "text": str(run.attempt)})
    actions = actions_for(run, kind, approval=approval)
    if acknowledged:
        actions = [a for a in actions if a != "acknowledge"]
    mention = mention_of(run.owner)
    view: AlertView = {
        "kind": kind.value,
        "headline": headline(kind, run),
        "run_id": run.id,
        "run_title": run.title,
        "facts": facts,
        "actions": actions,
        "mention": mention,
    }
    if approval is not None:
        view["approval"] = approval_view(approval, now=now, agent=run.agent, approvers=approvers)
        refresh = [a["teams_user_id"] for a in approvers if a["teams_user_id"]]
        if run.owner.teams_user_id:
            refresh.insert(0, run.owner.teams_user_id)
        if refresh:
            view["refresh_for"] = list(dict.fromkeys(refresh))[:60]
    if run.error and run.status is RunStatus.FAILED:
        view["error"] = clip(run.error, TEXT_LIMIT)
    if run.message:
        view["said"] = clip(run.message, TEXT_LIMIT)
    unsafe = _unsafe_after(checkpoints)
    if unsafe:  # what a retry would replay: part of every decision about this run
        view["unsafe"] = unsafe[-10:]
    if handoff is not None:
        view["mention"] = handoff["to"]
        view["offered_by"] = handoff["by"]
        view["reason"] = handoff["reason"]
        until = datetime.fromisoformat(handoff["until"])
        view["facts"].append(_moment("offer lapses", until))
        if handoff["to"]["teams_user_id"]:
            view["refresh_for"] = [handoff["to"]["teams_user_id"]]
    return view


def handoff_note(view: AlertView, run: Run) -> AlertView:
    """The old owner's note about an offer: theirs until the new owner accepts, no Accept."""
    to = view["mention"]["name"]
    return {
        **view,
        "headline": f"{run.title} is offered to {to}; it stays yours until they accept",
        "mention": mention_of(run.owner),
        "actions": ["details"],
        "refresh_for": [],
    }
