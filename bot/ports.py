"""What the core needs from the outside, as Protocols: a clock, a store, and chat surfaces."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from opslayer.bot.alerts.model import Alert
from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.approvals.rules import Rule
from opslayer.bot.audit import AuditEvent
from opslayer.bot.commands.model import Attempt, Command, CommandStatus, Delivery
from opslayer.bot.people.model import Group, Identity, Person, Role
from opslayer.bot.runs.model import Checkpoint, Health, Run, RunStatus
from opslayer.bot.views.model import MessageView, Target

T = TypeVar("T")


# Where a surface posted a message, in its own terms (Slack: channel and ts; Teams: the
# conversation and activity ids); opaque to the core.
MessageRef = dict[str, str]


class ChatNotifier(Protocol):
    """A chat surface (Slack, Teams, a log): posts and updates messages rendered from views."""

    name: str

    async def post(
        self, target: Target, view: MessageView, *, thread: MessageRef | None = None
    ) -> MessageRef | None:
        """Post a new message; return where it lives, or None when this surface has no place
        for the target (say, no Teams channel is bound). With `thread` (where the alert's first
        message lives), a follow-up goes in that message's thread when it is to the same place.
        A message the platform refuses for good (too long, malformed) is logged and given up:
        an empty reference is returned, so it is not tried again."""
        ...

    async def update(self, ref: MessageRef, view: MessageView) -> None:
        """Replace a posted message with the view's current state."""
        ...


class Clock(Protocol):
    """Where the core gets the time; tests move it."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent known by its name; its token is stored only as a hash."""

    id: str
    name: str
    webhook_secret: str


@dataclass(frozen=True, slots=True)
class BeatUpdate:
    """A coalesced heartbeat to write, valid only while the run is still at `version`."""

    run: Run
    version: int


@dataclass(frozen=True, slots=True)
class RunFilter:
    """What `GET /v1/runs` and `opslayer runs list` may filter on."""

    status: RunStatus | None = None
    health: Health | None = None
    owner: str | None = None  # person id or email
    agent: str | None = None
    limit: int = 50
    cursor: str | None = None
    group: str | None = None  # runs owned by members of this group
    search: str | None = None  # in the title or the external id, or the run's id
    # Only runs owned by (or offered to) one of these people: what a member may see.
    visible_to: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """A place a chat surface can post to unasked: a channel, a group chat or a personal chat
    (Teams: the serialised conversation reference the bot was handed there)."""

    surface: str
    conversation_id: str
    kind: str
    reference: dict[str, Any]  # the surface's own serialised reference (Teams: botbuilder's)
    user_id: str | None = None
    title: str | None = None  # e.g. "Payments › Alerts", when the surface said
    seen_at: datetime | None = None


class ConversationRepository(Protocol):
    async def remember(self, conversation: Conversation) -> None: ...
    async def get(self, surface: str, conversation_id: str) -> Conversation | None: ...
    async def personal(self, surface: str, user_id: str) -> Conversation | None: ...
    async def latest(self, surface: str) -> Conversation | None: ...
    async def forget(self, surface: str, conversation_id: str) -> None: ...
    async def listing(self, surface: str) -> list[Conversation]: ...


class SeenRequestRepository(Protocol):
    async def remember(self, key: str, *, at: datetime) -> bool:
        """Record a signed request; False when it was recorded before (a replay)."""
        ...

    async def forget_before(self, moment: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class TokenRow:
    """One of an agent's tokens, as `opslayer token list` shows it."""

    agent: str
    created_at: datetime
    revoked_at: datetime | None
    previous_secret_until: datetime | None  # the agent's old secret signs until then
    last_used_at: datetime | None = None  # when a request last carried it (to the minute)
    token_hash: str = ""  # its first characters name it (`token list`, `token revoke --id`)


class AgentRepository(Protocol):
    async def add(
        self,
        *,
        name: str,
        token_hash: str,
        webhook_secret: str,
        previous_until: datetime | None = None,
    ) -> Agent: ...
    async def tokens(self) -> list[TokenRow]: ...
    async def used(self, token_hash: str, *, at: datetime) -> None: ...
    async def by_token_hash(self, token_hash: str) -> Agent | None: ...
    async def by_name(self, name: str) -> Agent | None: ...
    async def revoke(self, name: str, *, token_hash: str | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class SignInLink:
    """A one-time way into the console, kept as the hash of its token."""

    token_hash: str
    person_id: str | None  # None: the set-up link, whose redeemer becomes the first admin
    purpose: str  # login, setup
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser, kept as the hash of its cookie."""

    token_hash: str
    person_id: str
    csrf: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None


class SessionRepository(Protocol):
    async def add_link(self, link: SignInLink) -> None: ...
    async def link(self, token_hash: str) -> SignInLink | None: ...
    async def take_link(self, token_hash: str, *, now: datetime) -> SignInLink | None:
        """Mark a live link used and return it; None when it is spent, expired or unknown (so
        two browsers racing for one link open one session)."""
        ...

    async def add_session(self, session: WebSession) -> None: ...
    async def session(self, token_hash: str) -> WebSession | None: ...
    async def end(self, token_hash: str, *, at: datetime) -> None: ...


class PeopleRepository(Protocol):
    async def find(self, identity: Identity) -> Person | None: ...
    async def holders(self, identity: Identity) -> dict[str, Person]:
        """For each identity field set, the known person holding that identity (if any)."""
        ...

    async def get(self, person_id: str) -> Person | None: ...
    async def by_ids(self, person_ids: Sequence[str]) -> dict[str, Person]: ...
    async def add(self, person: Person) -> Person: ...
    async def everyone(self) -> Sequence[Person]: ...
    async def set_role(self, person_id: str, role: Role) -> None: ...
    async def update_person(self, person: Person) -> None: ...
    async def remove_person(self, person_id: str, *, at: datetime) -> None: ...
    async def update_group(self, group: Group) -> None: ...
    async def remove_group(self, name: str) -> int:
        """Delete the group; its members stay, without one. Returns how many there were."""
        ...

    async def member_ids(self, group: str) -> list[str]: ...
    async def add_group(self, group: Group) -> Group: ...
    async def groups(self) -> Sequence[Group]: ...
    async def group(self, name: str) -> Group | None: ...
    async def link_chat_user(self, person_id: str, surface: str, user_id: str) -> bool:
        """Give a person without one their Slack or Teams identity (`surface`: slack, teams);
        False when they already have one."""
        ...

    async def bind_channel(
        self, surface: str, channel: str, *, person_id: str | None = None, group: str | None = None
    ) -> bool:
        """Make `channel` the person's (or the group's) alert channel on `surface`."""
        ...


class RunRepository(Protocol):
    async def get(self, run_id: str, *, for_update: bool = False) -> Run | None: ...
    async def by_external_id(self, agent: str, external_id: str) -> Run | None: ...
    async def add(self, run: Run) -> None: ...
    async def update(self, run: Run, *, expected_version: int) -> bool: ...
    async def page(self, query: RunFilter) -> tuple[list[Run], str | None]: ...
    async def apply_beats(self, beats: Sequence[BeatUpdate]) -> list[str]: ...
    async def count_by_status(self) -> dict[RunStatus, int]: ...
    async def count_by_health(self) -> dict[Health, int]: ...
    async def count_open(self, agent: str) -> int:
        """The agent's runs that have not ended."""
        ...

    async def due(self, now: datetime, *, limit: int) -> list[Run]: ...
    async def lapsed_handoffs(self, now: datetime) -> list[Run]: ...
    async def set_assessments(self, pairs: Sequence[tuple[Run, int]]) -> None: ...
    async def needing_attention(
        self, owner_ids: Sequence[str], *, failed_since: datetime
    ) -> list[Run]: ...


class CheckpointRepository(Protocol):
    async def get(self, run_id: str, checkpoint_id: str) -> Checkpoint | None: ...
    async def add(self, checkpoint: Checkpoint) -> bool: ...
    async def for_run(self, run_id: str) -> list[Checkpoint]: ...


class ApprovalRepository(Protocol):
    async def get(self, approval_id: str) -> Approval | None: ...
    async def by_request_id(self, run_id: str, request_id: str) -> Approval | None: ...
    async def add(self, approval: Approval) -> None: ...
    async def for_run(
        self, run_id: str, *, status: ApprovalStatus | None = None
    ) -> list[Approval]: ...
    async def close_pending(self, run_id: str, *, status: ApprovalStatus, at: datetime) -> int: ...
    async def decide(self, approval: Approval) -> bool:
        """Record a vote or a decision while the approval is pending; False if it was not."""
        ...

    async def past_deadline(self, now: datetime, *, limit: int = 500) -> list[Approval]: ...
    async def pending(self, *, limit: int = 500) -> list[Approval]: ...
    async def count_pending(self, agent: str) -> int:
        """The agent's approvals still waiting for a decision."""
        ...


class RuleRepository(Protocol):
    async def add(self, rule: Rule) -> None: ...
    async def live(self, agent: str | None = None) -> list[Rule]: ...
    async def remove(self, rule_id: str, *, at: datetime) -> Rule | None: ...


class CommandRepository(Protocol):
    async def get(self, command_id: str, *, for_update: bool = False) -> Command | None: ...
    async def for_run(
        self, run_id: str, *, status: CommandStatus | None = None
    ) -> list[Command]: ...
    async def update(self, command: Command) -> None: ...
    async def add(self, command: Command) -> None: ...
    async def listing(
        self, *, status: CommandStatus | None = None, limit: int = 100
    ) -> list[Command]: ...
    async def open_with_key(self, key: str) -> Command | None:
        """The open (pending or delivered) command holding this idempotency key, if any."""
        ...

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Delivery]: ...
    async def release_claims(self) -> int: ...
    async def mark_delivered(self, command_id: str, *, at: datetime) -> bool: ...
    async def count_by_status(self) -> dict[CommandStatus, int]: ...
    async def record_attempt(self, attempt: Attempt) -> None: ...
    async def attempts_for_run(self, run_id: str) -> list[Attempt]: ...


class AuditRepository(Protocol):
    async def add(self, event: AuditEvent) -> None: ...
    async def for_run(self, run_id: str) -> list[AuditEvent]: ...
    async def listing(self, *, after_id: int = 0, limit: int = 1000) -> list[AuditEvent]:
        """Every event (of any run, or none), oldest first, after the event `after_id`."""
        ...


class AlertRepository(Protocol):
    async def add(self, alert: Alert) -> bool: ...
    async def add_many(self, alerts: list[Alert]) -> None: ...
    async def open_for_runs(self, run_ids: list[str]) -> dict[str, list[Alert]]: ...
    async def existing_keys(self, keys: list[str]) -> set[str]: ...
    async def get(self, alert_id: str) -> Alert | None: ...
    async def by_key(self, key: str) -> Alert | None: ...
    async def update(self, alert: Alert) -> None: ...
    async def open_for_run(self, run_id: str) -> list[Alert]: ...
    async def for_run(self, run_id: str) -> list[Alert]: ...
    async def due_follow_ups(self, now: datetime, *, limit: int) -> list[Alert]: ...
    async def to_sync(self, *, limit: int) -> list[Alert]: ...
    async def count_to_sync(self) -> int: ...
    async def synced(
        self,
        alert_id: str,
        *,
        refs: dict[str, MessageRef],
        pings_sent: dict[str, int],
        seen_update: datetime | None,
    ) -> None: ...
    async def take_lease(
        self, name: str, *, holder: str, now: datetime, until: datetime
    ) -> bool: ...
    async def release_lease(self, name: str, *, holder: str) -> None:
        """Give the lease up now, if this holder has it (a peer takes it on its next round)."""
        ...


class RetentionRepository(Protocol):
    async def ended_before(self, moment: datetime, *, limit: int) -> list[str]:
        """Runs that ended before `moment` (some of them, up to `limit`)."""
        ...

    async def count_ended_before(self, moment: datetime) -> dict[str, int]: ...
    async def purge(self, run_ids: Sequence[str], *, audit: bool) -> dict[str, int]:
        """Remove the runs and what hangs off them (their audit trail only with `audit`)."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; leaving the block commits, an error rolls back."""

    @property
    def agents(self) -> AgentRepository: ...
    @property
    def people(self) -> PeopleRepository: ...
    @property
    def runs(self) -> RunRepository: ...
    @property
    def checkpoints(self) -> CheckpointRepository: ...
    @property
    def approvals(self) -> ApprovalRepository: ...
    @property
    def commands(self) -> CommandRepository: ...
    @property
    def audit(self) -> AuditRepository: ...

    @property
    def alerts(self) -> AlertRepository: ...
    @property
    def conversations(self) -> ConversationRepository: ...
    @property
    def seen(self) -> SeenRequestRepository: ...
    @property
    def rules(self) -> RuleRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def retention(self) -> RetentionRepository: ...


class Store(Protocol):
    """Opens units of work; the only door to persistence."""

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A transaction of its own: commits when the block ends, rolls back when it raises."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A consistent read-only view (writes through it are a bug)."""
        ...

    async def run(self, job: Callable[[UnitOfWork], Awaitable[T]], *, urgent: bool = False) -> T:
        """Run a write job in a transaction (perhaps shared with other jobs: group commit) and
        return its result once durable. The job may run twice, so it reads all it decides on.
        `urgent` jobs (the watch's) go ahead of queued ones, so ingest load cannot delay it."""
        ...
