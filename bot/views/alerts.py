"""What a person is shown about an alert, platform-neutral: headline, facts, buttons.

Adapters render these (Block Kit, Adaptive Cards, a log line); the wording lives here and in
`bot.alerts.kinds` (headlines), once, so Slack and Teams cannot drift.
"""

from __future__ import annotations

from datetime import datetime

from opslayer.bot.alerts.kinds import AlertKind, headline
from opslayer.bot.approvals.model import Approval
from opslayer.bot.people.model import Person
from opslayer.bot.runs.model import Checkpoint, Run, RunStatus
from opslayer.bot.views.model import AlertView, Mention

# What each action's button says, on every surface.
BUTTON_TEXT = {
    "approve": "Approve",
    "reject": "Reject",
    "acknowledge": "Acknowledge",
    "retry": "Retry",
    "cancel": "Cancel",
    "pause": "Pause",
    "resume": "Resume",
    "reassign": "Reassign",
    "details": "Details",
    "accept": "Accept",
}


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


def mention_of(person: Person) -> Mention:
    """How a message names and mentions a person."""
    return {
        "name": person.name,
        "email": person.email,
        "slack_user_id": person.slack_user_id,
        "teams_user_id": person.teams_user_id,
    }


def actions_for(run: Run, kind: AlertKind) -> list[str]:
    """The buttons a person needs for this situation, in order."""
    if kind is AlertKind.APPROVAL:
        return ["approve", "reject", "reassign", "details"]
    if kind is AlertKind.HANDOFF:
        return ["accept", "details"]
    buttons = ["acknowledge"]
    if run.status is RunStatus.FAILED or kind is AlertKind.STUCK:
        buttons.append("retry")
    if run.status is RunStatus.PAUSED:
        buttons.append("resume")
    elif not run.status.terminal:
        buttons.append("pause")
    if not run.status.terminal:
        buttons.append("cancel")
    return [*buttons, "reassign", "details"]


def alert_view(
    kind: AlertKind,
    run: Run,
    *,
    now: datetime,
    approval: Approval | None = None,
    checkpoints: list[Checkpoint] | None = None,
) -> AlertView:
    """The alert's content: headline, the facts an operator decides on, and its buttons."""
    facts = {
        "agent": run.agent,
        "status": run.status.value,
        "health": ", ".join(h.value for h in run.health) or "ok",
        "owner": run.owner.name,
        "since": ago(run.status_changed_at, now),
    }
    if run.step:
        facts["step"] = run.step
    if run.progress is not None:
        facts["progress"] = f"{run.progress:.0%}"
    if run.last_heartbeat_at:
        facts["last heartbeat"] = f"{ago(run.last_heartbeat_at, now)} ago"
    if checkpoints:
        last = checkpoints[-1]
        facts["last checkpoint"] = (
            f"{last.checkpoint_id} · {last.step} ({ago(last.created_at, now)} ago)"
        )
        unsafe = [e.key for c in checkpoints for e in c.side_effects if not e.idempotent]
        if unsafe:
            facts["side effects (not idempotent)"] = ", ".join(unsafe[-10:])
    view: AlertView = {
        "kind": kind.value,
        "headline": headline(kind, run),
        "run_id": run.id,
        "run_title": run.title,
        "facts": facts,
        "actions": actions_for(run, kind),
        "mention": mention_of(run.owner),
    }
    if approval is not None:
        view["approval"] = {"id": approval.id, "title": approval.title, "details": approval.details}
    return view
