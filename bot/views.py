"""What a person is shown, platform-neutral: alerts, approvals and digests as plain data.

Adapters render these (Block Kit, Adaptive Cards, a log line); the wording lives here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opslayer.bot.domain.alerts import AlertKind
from opslayer.bot.domain.models import Approval, Checkpoint, Run
from opslayer.bot.domain.status import RunStatus

HEADLINES = {
    AlertKind.STUCK: "No sign of life from {title}",
    AlertKind.APPROVAL_OVERDUE: "{title} is still waiting for a decision",
    AlertKind.STALE: "{title} has been {status} for a long time",
    AlertKind.AUTH_EXPIRED: "{title} is blocked on expired credentials",
    AlertKind.AUTH_EXPIRING: "{title}'s credentials expire soon",
    AlertKind.UNDELIVERED: "A command to {title} could not be delivered",
    AlertKind.UNOWNED: "{title} has no owner",
    AlertKind.APPROVAL: "{title} asks for approval",
    AlertKind.HANDOFF: "{title} is being handed over to you",
}


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


def _ago(since: datetime, now: datetime) -> str:
    seconds = int((now - since).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


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
) -> dict[str, Any]:
    """The alert's content: headline, the facts an operator decides on, and its buttons."""
    title = run.title
    facts = {
        "agent": run.agent,
        "status": run.status.value,
        "health": [h.value for h in run.health],
        "owner": run.owner.name,
        "since": _ago(run.status_changed_at, now),
    }
    if run.step:
        facts["step"] = run.step
    if run.progress is not None:
        facts["progress"] = f"{run.progress:.0%}"
    if run.last_heartbeat_at:
        facts["last heartbeat"] = f"{_ago(run.last_heartbeat_at, now)} ago"
    if checkpoints:
        last = checkpoints[-1]
        facts["last checkpoint"] = (
            f"{last.checkpoint_id} · {last.step} ({_ago(last.created_at, now)} ago)"
        )
        unsafe = [e.key for c in checkpoints for e in c.side_effects if not e.idempotent]
        if unsafe:
            facts["side effects (not idempotent)"] = ", ".join(unsafe[-10:])
    view: dict[str, Any] = {
        "kind": kind.value,
        "headline": HEADLINES[kind].format(title=title, status=run.status.value),
        "run_id": run.id,
        "run_title": title,
        "facts": facts,
        "actions": actions_for(run, kind),
        "mention": {
            "name": run.owner.name,
            "email": run.owner.email,
            "slack_user_id": run.owner.slack_user_id,
            "teams_user_id": run.owner.teams_user_id,
        },
    }
    if approval is not None:
        view["approval"] = {"id": approval.id, "title": approval.title, "details": approval.details}
    return view


@dataclass(frozen=True, slots=True)
class DigestLine:
    run_id: str
    title: str
    status: str
    health: list[str]
    since: str


def digest_view(
    channel: str, day: str, sections: dict[str, dict[str, list[DigestLine]]]
) -> dict[str, Any]:
    """A channel's daily digest: section → owner → lines, and the counts that head it."""
    counts = {
        name: sum(len(lines) for lines in owners.values()) for name, owners in sections.items()
    }
    return {
        "kind": "digest",
        "channel": channel,
        "day": day,
        "headline": "All clear" if not any(counts.values()) else "Runs that need attention",
        "counts": counts,
        "sections": {
            name: {owner: [_line(line) for line in lines] for owner, lines in owners.items()}
            for name, owners in sections.items()
        },
    }


def _line(line: DigestLine) -> dict[str, Any]:
    return {
        "run_id": line.run_id,
        "title": line.title,
        "status": line.status,
        "health": line.health,
        "since": line.since,
    }
