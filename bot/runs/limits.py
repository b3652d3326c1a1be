"""How much one agent may hold at once, so a runaway agent cannot crowd out the others (pure
configuration; the counts come from the store when something new would be opened)."""

from __future__ import annotations

from dataclasses import dataclass

from opslayer.bot.errors import LimitReached
from opslayer.bot.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class AgentLimits:
    open_runs: int = 10_000
    pending_approvals: int = 1_000

    async def check_new_run(self, uow: UnitOfWork, agent: str) -> None:
        if await uow.runs.count_open(agent) >= self.open_runs:
            raise LimitReached(
                agent=agent,
                limit="open runs",
                allowed=self.open_runs,
                setting="OPSLAYER_MAX_OPEN_RUNS_PER_AGENT",
            )

    async def check_new_approval(self, uow: UnitOfWork, agent: str) -> None:
        if await uow.approvals.count_pending(agent) >= self.pending_approvals:
            raise LimitReached(
                agent=agent,
                limit="pending approvals",
                allowed=self.pending_approvals,
                setting="OPSLAYER_MAX_PENDING_APPROVALS_PER_AGENT",
            )
