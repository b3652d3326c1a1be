"""A run's story on one timeline: the audit trail, its checkpoints and every delivery attempt,
merged in time order (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opslayer.bot.audit import AuditEvent
from opslayer.bot.commands.model import Attempt
from opslayer.bot.runs.model import Checkpoint

# What each audit action reads as on the page; the rest show their machine name.
_WORDS = {
    "run.registered": "registered",
    "run.status_changed": "status changed",
    "run.reassigned": "reassigned",
    "run.handoff_offered": "offered to a new owner",
    "run.handoff_lapsed": "the offer lapsed",
    "run.force_canceled": "force-canceled",
    "run.auth_expiry_set": "credentials' expiry reported",
    "checkpoint.recorded": "checkpoint",
    "command.issued": "command issued",
    "command.acked": "the agent confirmed a command",
    "command.undelivered": "a command could not be delivered",
    "command.redelivery_requested": "redelivery requested",
    "approval.requested": "approval requested",
    "approval.voted": "vote",
    "approval.approved": "approved",
    "approval.rejected": "rejected",
    "approval.edited": "approved with edits",
    "approval.responded": "answered",
    "approval.expired": "approval expired",
    "approval.canceled": "approval withdrawn",
    "alert.raised": "alert",
    "alert.acknowledged": "acknowledged",
    "alert.escalated": "escalated",
    "action.refused": "refused",
    "action.confirmation_asked": "asked to confirm",
    "owner.claim_mismatch": "owner claim not verified",
}


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    kind: str  # audit, checkpoint, attempt: what styles it
    what: str
    who: str
    via: str
    text: str
    detail: dict[str, Any]
    tone: str = ""  # "bad" for failures and refusals


def _summary(event: AuditEvent) -> str:
    detail = event.detail
    parts = []
    for key in ("from", "to", "status", "kind", "command_id", "approval_id", "checkpoint_id"):
        if key in detail and detail[key] not in (None, ""):
            parts.append(f"{key.replace('_', ' ')} {detail[key]}")
    if event.reason:
        parts.append(event.reason)
    return " · ".join(str(p) for p in parts)


def timeline(
    events: Sequence[AuditEvent],
    checkpoints: Sequence[Checkpoint],
    attempts: Sequence[Attempt],
    *,
    agent: str,
) -> list[Entry]:
    """Newest first; a checkpoint's audit line is replaced by the checkpoint itself."""
    entries: list[Entry] = []
    for event in events:
        if event.action == "checkpoint.recorded":
            continue
        bad = event.action in ("action.refused", "command.undelivered", "run.force_canceled")
        entries.append(
            Entry(
                at=event.at,
                kind="audit",
                what=_WORDS.get(event.action, event.action),
                who=event.actor.name,
                via=event.actor.via.value,
                text=_summary(event),
                detail=event.detail,
                tone="bad" if bad or event.detail.get("to") == "failed" else "",
            )
        )
    for point in checkpoints:
        effects = ", ".join(
            e.key + ("" if e.idempotent else " (not idempotent)") for e in point.side_effects
        )
        text = point.step + (f" · {point.summary}" if point.summary else "")
        entries.append(
            Entry(
                at=point.created_at,
                kind="checkpoint",
                what=f"checkpoint {point.checkpoint_id}",
                who=agent,  # who reported it, as its audit line said
                via="api",
                text=text + (f" · side effects: {effects}" if effects else ""),
                detail={},
            )
        )
    for attempt in attempts:
        answer = f"HTTP {attempt.status_code}" if attempt.status_code else (attempt.error or "")
        entries.append(
            Entry(
                at=attempt.at,
                kind="attempt",
                what="delivered" if attempt.delivered else "delivery failed",
                who="opslayer",
                via="webhook",
                text=f"command {attempt.command_id}: {answer}",
                detail={},
                tone="" if attempt.delivered else "bad",
            )
        )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries
