"""A command: an operator's decision on its way to the agent (a row of the outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from opslayer_client.contract import CommandKind, CommandStatus

__all__ = [
    "Command",
    "CommandFields",
    "CommandKind",
    "CommandPayload",
    "CommandStatus",
    "Delivery",
    "NewOwner",
]


# The body an agent receives, as the core writes it; `opslayer_client.contract.CommandMessage`
# is the same shape as agents parse it.
class ActorFields(TypedDict):
    id: str
    name: str
    via: str


class NewOwner(TypedDict):
    """Who owns the run now (a `reassign` command)."""

    id: str
    name: str
    email: str | None


class DecisionFields(TypedDict):
    """What the approver decided: `type`, an edit's (or the asked) arguments, their words."""

    type: str
    arguments: NotRequired[dict[str, Any]]
    message: NotRequired[str]


class CommandFields(TypedDict):
    id: str
    kind: str
    run_id: str
    external_id: str
    actor: ActorFields
    issued_at: str
    reason: NotRequired[str]
    approval_id: NotRequired[str]
    state: NotRequired[Any]  # the approval's state, handed back exactly as the agent sent it
    from_checkpoint_id: NotRequired[str]
    skip_side_effects: NotRequired[list[str]]
    new_owner: NotRequired[NewOwner]
    decision: NotRequired[DecisionFields]  # a decided approval's (kind stays approve|reject)


class CommandPayload(TypedDict):
    """The JSON body of a delivery: `{"type": "command", "command": {...}}`."""

    type: Literal["command"]
    command: CommandFields


@dataclass(frozen=True, slots=True)
class Command:
    """An operator's decision on its way to the agent (a row of the outbox)."""

    id: str
    run_id: str
    kind: CommandKind
    status: CommandStatus
    payload: CommandPayload  # what the agent receives, the same on every delivery
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    acked_at: datetime | None = None
    result_message: str | None = None
    # While the command is open (pending or delivered), its idempotency key (unique): the same
    # request again finds this command instead of issuing another. None once it settles.
    open_key: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at delivering a command, and what the agent's webhook answered."""

    command_id: str
    run_id: str
    at: datetime
    delivered: bool
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A command claimed for one delivery attempt, with where and how to sign it."""

    command: Command
    url: str
    secret: str
    previous_secret: str | None = None  # after a rotation, within its grace: signs too
