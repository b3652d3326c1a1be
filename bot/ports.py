"""What the core needs from the outside, as Protocols: a clock, a store, and chat surfaces."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from bot.domain.models import (
    Approval,
    AuditEvent,
    Checkpoint,
    Command,
    Delivery,
    Group,
    Identity,
    Person,
    Run,
)
from bot.domain.status import ApprovalStatus, CommandKind, CommandStatus, Health, RunStatus

T = TypeVar("T")


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


class AgentRepository(Protocol):
    async def add(self, *, name: str, token_hash: str, webhook_secret: str) -> Agent: ...
    async def by_token_hash(self, token_hash: str) -> Agent | None: ...
    async def by_name(self, name: str) -> Agent | None: ...
    async def revoke(self, name: str) -> int: ...


class PeopleRepository(Protocol):
    async def find(self, identity: Identity) -> Person | None: ...
    async def get(self, person_id: str) -> Person | None: ...
    async def add(self, person: Person) -> Person: ...
    async def everyone(self) -> Sequence[Person]: ...
    async def add_group(self, group: Group) -> Group: ...
    async def groups(self) -> Sequence[Group]: ...
    async def group(self, name: str) -> Group | None: ...


class RunRepository(Protocol):
    async def get(self, run_id: str, *, for_update: bool = False) -> Run | None: ...
    async def by_external_id(self, agent: str, external_id: str) -> Run | None: ...
    async def add(self, run: Run) -> None: ...
    async def update(self, run: Run, *, expected_version: int) -> bool: ...
    async def page(self, query: RunFilter) -> tuple[list[Run], str | None]: ...
    async def apply_beats(self, beats: Sequence[BeatUpdate]) -> list[str]: ...
    async def count_by_status(self) -> dict[RunStatus, int]: ...


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
    async def decide(self, approval: Approval) -> bool: ...
    async def expire_due(self, now: datetime) -> list[Approval]: ...


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
    async def open_of_kind(self, run_id: str, kind: CommandKind) -> Command | None: ...
    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Delivery]: ...
    async def release_claims(self) -> int: ...
    async def mark_delivered(self, command_id: str, *, at: datetime) -> bool: ...
    async def count_by_status(self) -> dict[CommandStatus, int]: ...


class AuditRepository(Protocol):
    async def add(self, event: AuditEvent) -> None: ...
    async def for_run(self, run_id: str) -> list[AuditEvent]: ...


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


class Store(Protocol):
    """Opens units of work; the only door to persistence."""

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A transaction of its own: commits when the block ends, rolls back when it raises."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A consistent read-only view (writes through it are a bug)."""
        ...

    async def run(self, job: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run a write job in a transaction (perhaps shared with other jobs: group commit) and
        return its result once durable. The job may run twice, so it reads all it decides on."""
        ...
