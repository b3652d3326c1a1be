"""The agent API v1 as pydantic models: what agents send and what they get back.

One source for both sides: the server validates with these models and answers with them, the
client sends and parses them. Only pydantic is needed. Field names and enum values are a
contract (DESIGN §3): extend, never rename.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    Strict,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

# ---- the enumerations an operator (and an agent) sees --------------------------------------


class RunStatus(StrEnum):
    """Where a run stands, as its agent reported it."""

    QUEUED = "queued"  # registered, not started yet
    RUNNING = "running"  # working; heartbeats are expected
    WAITING_APPROVAL = "waiting_approval"  # blocked on a human decision
    WAITING_AUTH = "waiting_auth"  # blocked on expired or missing credentials
    PAUSED = "paused"  # stopped on purpose, can be resumed
    FAILED = "failed"  # ended with an error; a retry re-opens it
    CANCELED = "canceled"  # ended by a person or by the agent
    SUCCEEDED = "succeeded"  # done

    @property
    def terminal(self) -> bool:
        """True when the run has ended (failed, canceled, succeeded)."""
        return self in TERMINAL


TERMINAL = frozenset({RunStatus.FAILED, RunStatus.CANCELED, RunStatus.SUCCEEDED})
WAITING = frozenset({RunStatus.WAITING_APPROVAL, RunStatus.WAITING_AUTH, RunStatus.PAUSED})
LIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


class Health(StrEnum):
    """A problem the scanner found with a run; shown wherever its status is shown."""

    STUCK = "stuck"  # queued or running, but no heartbeat within heartbeat_timeout_s
    APPROVAL_OVERDUE = "approval_overdue"  # an approval pending past approval_reminder_s
    STALE = "stale"  # waiting or paused for longer than stale_after_s
    AUTH_EXPIRED = "auth_expired"  # credentials expired (or about to), or waiting_auth
    UNDELIVERED = "undelivered"  # a command to the agent exhausted its retries
    UNOWNED = "unowned"  # the owner is unknown or was removed
    UNACTED = "unacted"  # a decision went to the agent decision_ack_s ago; the run never moved


class ApprovalStatus(StrEnum):
    """Where a request for a human decision stands."""

    PENDING = "pending"  # nobody has decided yet
    APPROVED = "approved"  # a person said yes
    REJECTED = "rejected"  # a person said no
    EXPIRED = "expired"  # nobody decided before expires_at
    CANCELED = "canceled"  # the run ended before anyone decided


class CommandKind(StrEnum):
    """What an operator asks the agent to do."""

    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    REASSIGN = "reassign"


class CommandStatus(StrEnum):
    """Where a command to an agent stands in the outbox."""

    PENDING = "pending"  # waiting for (another) delivery attempt, or for the agent to poll
    DELIVERED = "delivered"  # the agent's webhook answered 2xx
    ACKED = "acked"  # the agent confirmed it acted on the command
    FAILED = "failed"  # the agent acknowledged that acting on it failed
    UNDELIVERED = "undelivered"  # every delivery attempt failed; the owner was told


class MemoryScope(StrEnum):
    """How far a long-term memory reference reaches."""

    THREAD = "thread"  # this conversation only
    USER = "user"  # everything for one user
    APP = "app"  # the whole application
    TEMPORARY = "temporary"  # scratch memory that may vanish


class Via(StrEnum):
    """The surface an action came through; kept in the audit trail."""

    SLACK = "slack"
    TEAMS = "teams"
    WEB = "web"
    CLI = "cli"
    API = "api"
    TIMEOUT = "timeout"  # opslayer decided at an approval's deadline (its on_timeout)
    RULE = "rule"  # an approval rule decided it (`opslayer rules`)


class DecisionType(StrEnum):
    """What an approver may answer."""

    APPROVE = "approve"  # yes, as asked
    EDIT = "edit"  # yes, with changed arguments
    REJECT = "reject"  # no (with feedback the agent can use)
    RESPOND = "respond"  # an answer in words instead (the agent takes it as the human's reply)


class Risk(StrEnum):
    """How much could go wrong; a high-risk approval asks the approver to confirm."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class OnTimeout(StrEnum):
    """What happens when nobody decides in time."""

    EXPIRE = "expire"  # the approval lapses; the agent is not told (it polls or times out)
    APPROVE = "approve"  # opslayer approves
    REJECT = "reject"  # opslayer rejects
    CANCEL = "cancel"  # opslayer cancels the run


# ---- field types --------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=4000)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
Email = Annotated[
    str,
    StringConstraints(
        max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", strip_whitespace=True, to_lower=True
    ),
]


# Numbers and flags on the wire are what they say: `"progress": false`, `"timeout_s": "60"` or
# `"idempotent": "yes"` are refused, not coerced (Strict), so a client's bug shows at once.
def _a_number(value: Any) -> Any:
    """JSON numbers only: `true` or `"60"` are refused; `60.0` is the integer 60, as JSON
    Schema says."""
    if isinstance(value, bool | str):
        raise ValueError("expected a number")
    return value


Seconds = Annotated[int, Field(gt=0, le=90 * 24 * 3600), BeforeValidator(_a_number)]
Flag = Annotated[bool, Strict()]
# Platform ids are ids, never words a person would read as a name ("Alice (admin)"): a Slack
# member id as Slack writes it, an Entra object id (or any one-word id) for Teams.
SlackUserId = Annotated[
    str, StringConstraints(max_length=40, pattern=r"^[UW][A-Z0-9]{2,}$", strip_whitespace=True)
]
TeamsUserId = Annotated[
    str, StringConstraints(max_length=200, pattern=r"^[^\s#@<>()\[\]]+$", strip_whitespace=True)
]
# What an approval asks to do, as rules match it: `send_email`, `payments.refund`.
ActionName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\w.:/-]+$")]

# NUL cannot be stored by PostgreSQL, and a lone surrogate cannot be encoded as UTF-8: either in
# one agent's text would fail the batched write it shares with other agents' data.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


# One depth limit for every JSON value an agent sends (state, arguments, schemas, labels): deep
# enough for any honest payload, shallow enough that nothing reading it later (serialisers,
# validators, templates) runs out of stack. Checked before anything is written.
MAX_JSON_DEPTH = 32


def _storable(value: Any, where: str, depth: int = 0) -> None:
    """Refuse NUL and lone surrogates anywhere in a request body, keys included, and nesting
    deeper than MAX_JSON_DEPTH."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise ValueError(
                f"{where or 'body'}: text may not contain NUL (\\u0000) or a lone surrogate "
                "(\\ud800-\\udfff)"
            )
        return
    if not isinstance(value, dict | list):
        return
    if depth >= MAX_JSON_DEPTH:
        raise ValueError(
            f"{where or 'body'}: nested deeper than {MAX_JSON_DEPTH} levels; flatten it"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _storable(key, where, depth)
            _storable(item, f"{where}.{key}" if where else str(key), depth + 1)
    else:
        for index, item in enumerate(value):
            _storable(item, f"{where}[{index}]", depth + 1)


CLIPPED = f"(removed: nested deeper than {MAX_JSON_DEPTH} levels)"


def clip_depth(value: Any, depth: int = 0) -> Any:
    """The value with whatever lies deeper than MAX_JSON_DEPTH replaced by CLIPPED (for values
    stored before the limit existed; new ones are refused)."""
    if not isinstance(value, dict | list):
        return value
    if depth >= MAX_JSON_DEPTH:
        return CLIPPED
    if isinstance(value, dict):
        return {key: clip_depth(item, depth + 1) for key, item in value.items()}
    return [clip_depth(item, depth + 1) for item in value]


def _in_range(value: datetime) -> datetime:
    """A moment opslayer can compute with: between 1970 and 9000, in UTC."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError as out:
        raise ValueError("the moment is out of range (1970 to 9000)") from out
    if not _EARLIEST <= utc < _LATEST:
        raise ValueError("the moment is out of range (1970 to 9000)")
    return value


def _written_moment(value: Any) -> Any:
    """A moment is RFC 3339 text (`2026-11-29T09:00:00Z`): a bare number is refused, not read
    as seconds since 1970."""
    if isinstance(value, bool | int | float):
        raise ValueError("a moment is written as RFC 3339 text, e.g. 2026-11-29T09:00:00Z")
    return value


# The document says what the server checks: RFC 3339 with a zone, in the years it computes with.
_MOMENT_SCHEMA = {"pattern": r"^(197[1-9]|19[89]\d|[2-8]\d{3})-"}
Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_written_moment),
    AfterValidator(_in_range),
    WithJsonSchema({"type": "string", "format": "date-time", **_MOMENT_SCHEMA}),
]


class _In(BaseModel):
    """Input: unknown fields are refused so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class _Body(_In):
    """A request body: every string in it, however deep, must be storable text."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        _storable(data, "")
        return data


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---- inputs -------------------------------------------------------------------------------


class OwnerIn(_In):
    """Who owns a run, as the agent claims it. Identities that belong to one known person make
    them the owner; the rest only route messages and are never linked to anyone (see
    `owner_claim.unverified` on the run)."""

    # The document says it too: at least one identity, as text.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
                for name in ("email", "slack_user_id", "teams_user_id")
            ]
        },
    )

    email: Email | None = None
    slack_user_id: SlackUserId | None = None
    teams_user_id: TeamsUserId | None = None
    name: Title | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> OwnerIn:
        if not (self.email or self.slack_user_id or self.teams_user_id):
            raise ValueError("owner needs at least one of email, slack_user_id, teams_user_id")
        return self


class ChannelIn(_In):
    """Where alerts go: a Slack channel id, a Teams conversation id, or both."""

    slack: Id | None = None
    teams: Id | None = None


class PolicyIn(_In):
    """Overrides of the default timings, in seconds."""

    heartbeat_timeout_s: Seconds | None = None
    stale_after_s: Seconds | None = None
    approval_reminder_s: Seconds | None = None
    escalate_after_s: Seconds | None = None
    decision_ack_s: Seconds | None = None


class MemoryIn(_In):
    """A reference to long-term memory the run relies on."""

    key: Id
    scope: MemoryScope
    updated_at: Moment


class ContextIn(_In):
    """References to the agent's own conversation and memory."""

    thread_id: Id | None = None
    memory: Annotated[list[MemoryIn], Field(max_length=100)] = []


class RunCreate(_Body):
    """`POST /v1/runs`: register a run (idempotent per agent and external_id)."""

    external_id: Id
    title: Title
    owner: OwnerIn
    channel: ChannelIn | None = None
    webhook_url: HttpUrl | None = None
    policy: PolicyIn | None = None
    context: ContextIn | None = None
    labels: Annotated[
        dict[Id, Annotated[str, StringConstraints(max_length=200)]], Field(max_length=50)
    ] = {}


class Heartbeat(_Body):
    """`POST /v1/runs/{id}/heartbeat`: the run is alive; `at` is when, if not now."""

    at: Moment | None = None
    step: Title | None = None
    progress: Annotated[float, Strict(), Field(ge=0, le=1)] | None = None
    message: Text | None = None


class StatusReport(_Body):
    """`POST /v1/runs/{id}/status`: the agent reports a new status."""

    status: RunStatus
    reason: Text | None = None
    error: Text | None = None
    auth_expires_at: Moment | None = None


class SideEffectIn(_In):
    """Something done to the outside world since the previous checkpoint."""

    key: Id
    description: Text | None = None
    idempotent: Flag


class CheckpointIn(_Body):
    """`POST /v1/runs/{id}/checkpoints`: a point the run can be retried from."""

    checkpoint_id: Id
    step: Title
    summary: Text | None = None
    side_effects: Annotated[list[SideEffectIn], Field(max_length=500)] = []
    resumable: Flag = True

    @model_validator(mode="after")
    def _unique_keys(self) -> CheckpointIn:
        keys = [e.key for e in self.side_effects]
        if len(keys) != len(set(keys)):
            raise ValueError("side_effects keys must be unique within a checkpoint")
        return self


def _plain_json(value: Any, name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and the agent reading it back) does not.
    try:
        json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"{name} must be plain JSON: NaN and Infinity are not allowed") from exc
    return value


class ApprovalIn(_Body):
    """`POST /v1/runs/{id}/approvals`: ask a human; `state` comes back with the decision.

    Beyond a yes or no: `decisions` the approver may take (approve, edit, reject, respond),
    `arguments` to show (and edit, within `arguments_schema`), `required_approvals` distinct
    approvers, a deadline (`timeout_s` or `expires_at`) with `on_timeout`, and `risk`.
    `approvers` name people (email, Slack or Teams id) or groups (`group:NAME`)."""

    # The document says what the server checks: a deadline is given once, and offering
    # "edit" needs the arguments to edit.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "not": {
                "required": ["timeout_s", "expires_at"],
                "properties": {"timeout_s": {"type": "integer"}, "expires_at": {"type": "string"}},
            },
            "if": {
                "required": ["decisions"],
                "properties": {"decisions": {"type": "array", "contains": {"const": "edit"}}},
            },
            "then": {"required": ["arguments"], "properties": {"arguments": {"type": "object"}}},
        },
    )

    request_id: Id
    title: Title
    details: Text | None = None
    expires_at: Moment | None = None
    approvers: Annotated[list[Id], Field(max_length=50)] = []
    state: Any = None
    action: ActionName | None = None
    arguments: dict[str, Any] | None = None
    arguments_schema: dict[str, Any] | None = None
    decisions: Annotated[
        list[DecisionType],
        Field(min_length=1, max_length=4, json_schema_extra={"uniqueItems": True}),
    ] = [
        DecisionType.APPROVE,
        DecisionType.REJECT,
    ]
    required_approvals: Annotated[int, Field(ge=1, le=20), BeforeValidator(_a_number)] = 1
    timeout_s: Seconds | None = None
    on_timeout: OnTimeout = OnTimeout.EXPIRE
    risk: Risk | None = None

    @field_validator("state")
    @classmethod
    def _strict_json(cls, value: Any) -> Any:
        return _plain_json(value, "state")

    @field_validator("arguments", "arguments_schema")
    @classmethod
    def _strict_json_object(cls, value: Any) -> Any:
        return _plain_json(value, "arguments")

    @model_validator(mode="after")
    def _one_deadline(self) -> ApprovalIn:
        if self.timeout_s is not None and self.expires_at is not None:
            raise ValueError("give a deadline once: timeout_s or expires_at, not both")
        if len(set(self.decisions)) != len(self.decisions):
            raise ValueError("decisions must not repeat")
        if DecisionType.EDIT in self.decisions and self.arguments is None:
            raise ValueError("an 'edit' decision needs the arguments to edit")
        return self


class CommandAck(_Body):
    """`POST /v1/commands/{id}/ack`: the agent acted on a command (or could not)."""

    result: Literal["done", "failed"]
    message: Text | None = None


# ---- outputs ------------------------------------------------------------------------------


class OwnerOut(_Out):
    id: str
    name: str
    email: str | None = None
    slack_user_id: str | None = None
    teams_user_id: str | None = None


class OwnerClaimOut(_Out):
    """What the agent said about the owner; `unverified` lists the identities that were not
    linked to the owner (routing only, no rights)."""

    email: str | None = None
    slack_user_id: str | None = None
    teams_user_id: str | None = None
    name: str | None = None
    unverified: list[str] = []


class ChannelOut(_Out):
    slack: str | None = None
    teams: str | None = None


class PolicyOut(_Out):
    heartbeat_timeout_s: int
    stale_after_s: int
    approval_reminder_s: int
    escalate_after_s: int
    decision_ack_s: int


class MemoryOut(_Out):
    key: str
    scope: MemoryScope
    updated_at: datetime


class ContextOut(_Out):
    thread_id: str | None = None
    memory: list[MemoryOut] = []


class RunOut(_Out):
    """A run as agents and operators see it."""

    id: str
    external_id: str
    agent: str
    title: str
    status: RunStatus
    health: list[Health]
    owner: OwnerOut
    owner_claim: OwnerClaimOut | None = None
    channel: ChannelOut
    webhook_url: str | None = None
    policy: PolicyOut
    context: ContextOut
    labels: dict[str, str]
    step: str | None = None
    progress: float | None = None
    message: str | None = None
    reason: str | None = None
    error: str | None = None
    attempt: int
    last_heartbeat_at: datetime | None = None
    auth_expires_at: datetime | None = None
    next_check_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class ActorRef(_Out):
    """Who did something: a person (by id and name) through a surface, or opslayer."""

    id: str
    name: str
    via: Via


class VoteOut(_Out):
    """One approver's yes so far (of `required_approvals`); an edit's with its arguments."""

    person_id: str
    name: str
    at: datetime
    via: Via
    type: DecisionType
    arguments: dict[str, Any] | None = None


class DecisionOut(_Out):
    """The decision taken, and by whom (`opslayer` for a deadline or a rule)."""

    type: DecisionType
    arguments: dict[str, Any] | None = None
    message: str | None = None
    by: ActorRef
    at: datetime


class ApprovalOut(_Out):
    id: str
    run_id: str
    request_id: str
    title: str
    status: ApprovalStatus
    details: str | None = None
    expires_at: datetime | None = None
    approvers: list[str] = []
    state: Any = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    created_at: datetime
    action: str | None = None
    arguments: dict[str, Any] | None = None
    arguments_schema: dict[str, Any] | None = None
    decisions: list[DecisionType] = [DecisionType.APPROVE, DecisionType.REJECT]
    required_approvals: int = 1
    on_timeout: OnTimeout = OnTimeout.EXPIRE
    risk: Risk | None = None
    votes: list[VoteOut] = []
    decision: DecisionOut | None = None


class CommandOut(_Out):
    id: str
    run_id: str
    kind: CommandKind
    status: CommandStatus
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    delivered_at: datetime | None = None
    acked_at: datetime | None = None
    last_error: str | None = None
    result_message: str | None = None


class RunDetailOut(RunOut):
    """`GET /v1/runs/{id}`: the run with what is open on it."""

    approvals: list[ApprovalOut]
    pending_commands: list[CommandOut]


class RunPage(_Out):
    items: list[RunOut]
    next_cursor: str | None = None


class SideEffectOut(_Out):
    key: str
    idempotent: bool
    description: str | None = None


class CheckpointOut(_Out):
    checkpoint_id: str
    run_id: str
    step: str
    summary: str | None = None
    resumable: bool
    side_effects: list[SideEffectOut]
    created_at: datetime


class ActorOut(_Out):
    id: str
    name: str
    via: Via


class AuditOut(_Out):
    id: int | None = None
    at: datetime
    action: str
    actor: ActorOut
    run_id: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = {}


class CommandActorOut(BaseModel):
    """Who decided, and where."""

    id: str
    name: str
    via: Via


class CommandDecision(BaseModel):
    """What the approver decided (`kind` stays approve or reject, for agents that read only
    that): edit carries the edited arguments, reject and respond the approver's words."""

    type: DecisionType
    arguments: dict[str, Any] | None = None
    message: str | None = None


class CommandBody(BaseModel):
    """An operator's command as the agent receives it (webhook or poll)."""

    id: str
    kind: CommandKind
    run_id: str
    external_id: str
    actor: CommandActorOut
    issued_at: datetime
    approval_id: str | None = None
    state: Any = None
    from_checkpoint_id: str | None = None
    skip_side_effects: list[str] | None = None
    new_owner: dict[str, Any] | None = None
    reason: str | None = None
    decision: CommandDecision | None = None


class CommandMessage(BaseModel):
    """The body of a signed webhook delivery: `{"type": "command", "command": {...}}`."""

    type: Literal["command"]
    command: CommandBody


class ErrorOut(BaseModel):
    """Every 4xx answer: a readable reason (422 adds pydantic's error list)."""

    detail: str | list[dict[str, Any]]
