"""What every operator use case shares: rights, the audit of refusals, and the outbox.

A use case checks rights, then in ONE transaction records the decision, its audit event and the
command for the agent; a refusal a person caused is audited too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from opslayer.bot.domain.commands import command_message
from opslayer.bot.domain.models import Actor, Approval, AuditEvent, Command, Person, Run
from opslayer.bot.domain.status import CommandKind, CommandStatus, Via
from opslayer.bot.errors import NotAuthorized, OpsError, RunNotFound
from opslayer.bot.ids import new_id
from opslayer.bot.ports import Clock, Store, T, UnitOfWork
from opslayer.bot.rights import Admins, may_act


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """What an operator's action produced: the command for the agent, and the approval if any."""

    command: Command
    approval: Approval | None = None
    created: bool = True  # False: the same command was already on its way (a double click)


def actor_of(person: Person, via: Via) -> Actor:
    """The person as the actor of an audit event, through the surface they used."""
    return Actor(id=person.id, name=person.name, via=via)


class Acting:
    """The plumbing of operators' use cases (Operations and Ownership build on it)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        admins: Admins,
        on_command: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._admins = admins
        self._on_command = on_command or (lambda: None)

    async def _audited(
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
            result = await self._store.run(job)
        except OpsError as refusal:
            detail = {"action": action, "refusal": type(refusal).__name__}
            event = AuditEvent(
                "action.refused",
                self._clock.now(),
                actor_of(person, via),
                run_id,
                detail,
                refusal.message,
            )

            async def record(uow: UnitOfWork) -> None:
                await uow.audit.add(event)

            await self._store.run(record)
            raise
        self._on_command()
        return result

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
        event = AuditEvent(
            "action.refused",
            self._clock.now(),
            actor,
            run_id,
            {"action": action, "refusal": refusal},
            reason,
        )

        async def record(uow: UnitOfWork) -> None:
            await uow.audit.add(event)

        await self._store.run(record)

    async def _run(self, uow: UnitOfWork, run_id: str) -> Run:
        run = await uow.runs.get(run_id, for_update=True)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def _allow(
        self, person: Person, run: Run, action: str, approval: Approval | None = None
    ) -> None:
        if not may_act(person, run, self._admins, approval):
            raise NotAuthorized(
                actor=person.name, action=action, target=f"run {run.id} ({run.title})"
            )

    async def _enqueue(
        self,
        uow: UnitOfWork,
        *,
        run: Run,
        kind: CommandKind,
        actor: Actor,
        now: datetime,
        reason: str | None,
        **message: Any,
    ) -> Command:
        command_id = new_id("cmd")
        payload = command_message(
            command_id=command_id,
            kind=kind,
            run=run,
            actor=actor,
            issued_at=now,
            reason=reason,
            **message,
        )
        command = Command(
            id=command_id,
            run_id=run.id,
            kind=kind,
            status=CommandStatus.PENDING,
            payload=payload,
            created_at=now,
            # Agents without a webhook poll for their commands: nothing to deliver.
            next_attempt_at=now if run.webhook_url else None,
        )
        await uow.commands.add(command)
        detail = {"command_id": command_id, "kind": kind.value}
        await uow.audit.add(AuditEvent("command.issued", now, actor, run.id, detail, reason))
        return command
