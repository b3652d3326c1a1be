"""The agent confirms it acted on a command (or that it could not)."""

from __future__ import annotations

import dataclasses

from opslayer.bot.audit import Actor, AuditEvent
from opslayer.bot.commands.model import Command, CommandStatus
from opslayer.bot.errors import CommandNotFound, Conflict
from opslayer.bot.ports import Clock, Store, UnitOfWork
from opslayer.bot.runs.cache import owned_run
from opslayer_client.contract import CommandAck


class CommandAcks:
    """Records agents' acknowledgements of commands (the same ack again is a no-op)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def ack_command(self, agent: str, command_id: str, ack: CommandAck) -> Command:
        """The agent confirms it acted on a command (or failed); the same ack again is a no-op."""
        status = CommandStatus.ACKED if ack.result == "done" else CommandStatus.FAILED

        async def job(uow: UnitOfWork) -> Command:
            now = self._clock.now()
            command = await uow.commands.get(command_id, for_update=True)
            if command is None:
                raise CommandNotFound(command_id)
            await owned_run(uow, agent, command.run_id)
            if command.status in (CommandStatus.ACKED, CommandStatus.FAILED):
                if command.status is status:
                    return command
                raise Conflict(f"command {command_id} was already acknowledged as {command.status}")
            acked = dataclasses.replace(
                command,
                status=status,
                acked_at=now,
                result_message=ack.message,
                next_attempt_at=None,
            )
            await uow.commands.update(acked)
            detail = {"command_id": command_id, "kind": command.kind.value, "result": ack.result}
            await uow.audit.add(
                AuditEvent(
                    "command.acked", now, Actor.agent(agent), command.run_id, detail, ack.message
                )
            )
            return acked

        return await self._store.run(job)
