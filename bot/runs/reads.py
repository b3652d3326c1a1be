"""What anyone may read of runs, through the agent API, chat or the CLI.

An agent reads only its own runs; a run is shown with the heartbeats this process accepted but
has not written yet, so an answer never looks older than what the agent just sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.audit import AuditEvent
from opslayer.bot.commands.model import Command, CommandStatus
from opslayer.bot.errors import ApprovalNotFound
from opslayer.bot.ports import RunFilter, Store, UnitOfWork
from opslayer.bot.runs.cache import RunCache, owned_run
from opslayer.bot.runs.model import Checkpoint, Health, Run, RunStatus


@dataclass(frozen=True, slots=True)
class RunDetail:
    """A run with what is open on it: pending approvals and undelivered commands."""

    run: Run
    approvals: list[Approval]
    pending_commands: list[Command]


class RunReads:
    """Reads of runs and what hangs off them, for agents (their own runs only), chat and the CLI."""

    def __init__(self, store: Store, *, cache: RunCache | None = None) -> None:
        self._store = store
        self._cache = cache

    def _current(self, run: Run) -> Run:
        return self._cache.current(run) if self._cache is not None else run

    async def _owned(self, uow: UnitOfWork, agent: str | None, run_id: str) -> Run:
        return await owned_run(uow, agent, run_id)

    async def get_run(self, run_id: str, *, agent: str | None = None) -> RunDetail:
        """A run (as `agent` if given: another agent's run is refused) with what is open on it."""
        async with self._store.read() as uow:
            run = await self._owned(uow, agent, run_id)
            approvals = await uow.approvals.for_run(run_id, status=ApprovalStatus.PENDING)
            commands = await uow.commands.for_run(run_id, status=CommandStatus.PENDING)
        return RunDetail(self._current(run), approvals, commands)

    async def list_runs(self, query: RunFilter) -> tuple[list[Run], str | None]:
        """A page of runs, newest first, and the cursor of the next page."""
        async with self._store.read() as uow:
            items, cursor = await uow.runs.page(query)
        return [self._current(r) for r in items], cursor

    async def count_by_status(self) -> dict[RunStatus, int]:
        """How many runs are in each status (for metrics)."""
        async with self._store.read() as uow:
            return await uow.runs.count_by_status()

    async def count_by_health(self) -> dict[Health, int]:
        """How many runs carry each health flag (for metrics)."""
        async with self._store.read() as uow:
            return await uow.runs.count_by_health()

    async def checkpoints(self, run_id: str, *, agent: str | None = None) -> list[Checkpoint]:
        """A run's checkpoints, oldest first."""
        async with self._store.read() as uow:
            await self._owned(uow, agent, run_id)
            return await uow.checkpoints.for_run(run_id)

    async def audit_trail(self, run_id: str, *, agent: str | None = None) -> list[AuditEvent]:
        """A run's audit events, oldest first."""
        async with self._store.read() as uow:
            await self._owned(uow, agent, run_id)
            return await uow.audit.for_run(run_id)

    async def approval(self, approval_id: str, *, agent: str | None = None) -> Approval:
        """One approval, visible to the agent that owns its run."""
        async with self._store.read() as uow:
            approval = await uow.approvals.get(approval_id)
            if approval is None:
                raise ApprovalNotFound(approval_id)
            await self._owned(uow, agent, approval.run_id)
            return approval

    async def commands(
        self, run_id: str, *, agent: str | None = None, status: CommandStatus | None = None
    ) -> list[Command]:
        """A run's commands, oldest first (`pending`: not yet acknowledged, for polling agents)."""
        async with self._store.read() as uow:
            await self._owned(uow, agent, run_id)
            return await uow.commands.for_run(run_id, status=status)
