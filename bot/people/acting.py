"""What every operator action shares: who may act, the run locked for the decision, and the
audit of a refusal.

An action checks rights, then in ONE transaction records the decision, its audit event and the
command for the agent (the outbox). A refusal a person caused is audited too, in a transaction
of its own (the refused one rolled back).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from opslayer.bot.approvals.model import Approval
from opslayer.bot.audit import Actor, AuditEvent, Via, actor_of
from opslayer.bot.errors import ConfirmationRequired, NotAuthorized, OpsError, RunNotFound
from opslayer.bot.people.model import Person
from opslayer.bot.people.rights import Admins, may_act
from opslayer.bot.ports import Clock, Store, T, UnitOfWork
from opslayer.bot.runs.model import Run


class Acting:
    """The store, the clock and the admins every operator use case works with, and what happens
    after a decision (`on_command`: the deliverer and the chat sync are woken)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        admins: Admins,
        on_command: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.admins = admins
        self._on_command = on_command or (lambda: None)

    async def audited(
        self,
        *,
        person: Person,
        via: Via,
        action: str,
        run_id: str | None,
        job: Callable[[UnitOfWork], Awaitable[T]],
    ) -> T:
        """Run the job; if it refuses, write the refusal to the audit trail and re-raise."""
        try:
            result = await self.store.run(job)
        except ConfirmationRequired as asked:
            # Not a refusal: the person is asked before a risky step, and may well say yes.
            detail = {"action": action, "risks": "; ".join(asked.risks)}
            await self._record(
                AuditEvent(
                    "action.confirmation_asked",
                    self.clock.now(),
                    actor_of(person, via),
                    run_id,
                    detail,
                    asked.message,
                )
            )
            raise
        except OpsError as refusal:
            await self._refused(
                actor_of(person, via),
                run_id,
                {"action": action, "refusal": type(refusal).__name__},
                refusal.message,
            )
            raise
        self.woke()
        return result

    def woke(self) -> None:
        """A decision was written: wake the deliverer and the chat sync."""
        self._on_command()

    async def record_refusal(
        self,
        *,
        who: str,
        via: Via,
        action: str,
        run_id: str | None,
        reason: str,
        person: Person | None = None,
        refusal: str = "unknown person",
    ) -> None:
        """Audit a refusal the use cases never saw: a stranger's click (`who` is their platform
        id), or a known `person`'s click on a card that is out of date."""
        actor = (
            actor_of(person, via) if person else Actor(id=f"{via.value}:{who}", name=who, via=via)
        )
        await self._refused(actor, run_id, {"action": action, "refusal": refusal}, reason)

    async def _refused(
        self, actor: Actor, run_id: str | None, detail: dict[str, str], reason: str
    ) -> None:
        await self._record(
            AuditEvent("action.refused", self.clock.now(), actor, run_id, detail, reason)
        )

    async def _record(self, event: AuditEvent) -> None:
        async def record(uow: UnitOfWork) -> None:
            await uow.audit.add(event)

        await self.store.run(record)

    async def locked_run(self, uow: UnitOfWork, run_id: str) -> Run:
        """The run, locked for the rest of the transaction."""
        run = await uow.runs.get(run_id, for_update=True)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def allow(
        self, person: Person, run: Run, action: str, approval: Approval | None = None
    ) -> None:
        """Raise NotAuthorized unless the person may act on the run (or the approval)."""
        if not may_act(person, run, self.admins, approval):
            raise NotAuthorized(
                actor=person.name, action=action, target=f"run {run.id} ({run.title})"
            )
