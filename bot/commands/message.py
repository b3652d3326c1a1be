"""The message an agent receives for a command (DESIGN §3): the same on every delivery."""

from __future__ import annotations

from datetime import datetime

from opslayer.bot.approvals.model import Approval, Decided
from opslayer.bot.audit import Actor
from opslayer.bot.commands.model import (
    CommandFields,
    CommandKind,
    CommandPayload,
    DecisionFields,
    NewOwner,
)
from opslayer.bot.commands.rules import RetryPlan
from opslayer.bot.runs.model import Run


def decision_fields(decided: Decided) -> DecisionFields:
    """The decision as the agent reads it: {type, arguments?, message?}."""
    fields: DecisionFields = {"type": decided.type.value}
    if decided.arguments is not None:
        fields["arguments"] = decided.arguments
    if decided.message:
        fields["message"] = decided.message
    return fields


def command_message(
    *,
    command_id: str,
    kind: CommandKind,
    run: Run,
    actor: Actor,
    issued_at: datetime,
    reason: str | None = None,
    approval: Approval | None = None,
    retry: RetryPlan | None = None,
    new_owner: NewOwner | None = None,
) -> CommandPayload:
    """The JSON body the agent receives (DESIGN §3); the same for every delivery attempt."""
    command: CommandFields = {
        "id": command_id,
        "kind": kind.value,
        "run_id": run.id,
        "external_id": run.external_id,
        "actor": {"id": actor.id, "name": actor.name, "via": actor.via.value},
        "issued_at": issued_at.isoformat(),
    }
    if reason:
        command["reason"] = reason
    if approval is not None:
        command["approval_id"] = approval.id
        command["state"] = approval.state  # handed back unchanged
        if approval.decision is not None:
            command["decision"] = decision_fields(approval.decision)
    if retry is not None:
        if retry.from_checkpoint is not None:
            command["from_checkpoint_id"] = retry.from_checkpoint.checkpoint_id
        command["skip_side_effects"] = retry.skip_keys
    if new_owner is not None:
        command["new_owner"] = new_owner
    return {"type": "command", "command": command}
