"""The outbox: commands to agents, leased for delivery, settled once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, or_, select, update

from opslayer.bot.commands.model import Attempt, Command, CommandKind, CommandStatus, Delivery
from opslayer.store.db import Db
from opslayer.store.tables import agents, commands, delivery_attempts, runs


def _command(row: Row[Any]) -> Command:
    return Command(
        id=row.id,
        run_id=row.run_id,
        kind=CommandKind(row.kind),
        status=CommandStatus(row.status),
        payload=row.payload,
        created_at=row.created_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        acked_at=row.acked_at,
        result_message=row.result_message,
        open_key=row.open_key,
    )


_OPEN = (CommandStatus.PENDING, CommandStatus.DELIVERED)


_MARK_DELIVERED = (
    update(commands)
    .where(commands.c.id == bindparam("b_id"), commands.c.status == bindparam("b_pending"))
    .values(
        status=CommandStatus.DELIVERED.value,
        attempts=commands.c.attempts + 1,
        delivered_at=bindparam("at"),
        next_attempt_at=None,
        claimed_until=None,
        last_error=None,
    )
)


class SqlCommandRepository:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def get(self, command_id: str, *, for_update: bool = False) -> Command | None:
        query = select(commands).where(commands.c.id == command_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _command(row) if row else None

    async def add(self, command: Command) -> None:
        await self._conn.execute(
            insert(commands).values(
                id=command.id,
                run_id=command.run_id,
                kind=command.kind.value,
                status=command.status.value,
                payload=command.payload,
                attempts=command.attempts,
                next_attempt_at=command.next_attempt_at,
                created_at=command.created_at,
                open_key=command.open_key,
            )
        )

    async def for_run(self, run_id: str, *, status: CommandStatus | None = None) -> list[Command]:
        query = select(commands).where(commands.c.run_id == run_id)
        if status is not None:
            query = query.where(commands.c.status == status.value)
        return [_command(r) for r in await self._conn.execute(query.order_by(commands.c.id))]

    async def listing(
        self, *, status: CommandStatus | None = None, limit: int = 100
    ) -> list[Command]:
        query = select(commands).order_by(commands.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(commands.c.status == status.value)
        return [_command(r) for r in await self._conn.execute(query)]

    async def open_with_key(self, key: str) -> Command | None:
        query = select(commands).where(commands.c.open_key == key)
        row = (await self._conn.execute(query)).first()
        return _command(row) if row else None

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Delivery]:
        """Lease up to `limit` due commands that have a webhook; other replicas skip them."""
        query = (
            select(
                commands,
                runs.c.webhook_url,
                agents.c.webhook_secret,
                agents.c.previous_webhook_secret,
                agents.c.previous_secret_until,
            )
            .join(runs, runs.c.id == commands.c.run_id)
            .join(agents, agents.c.id == runs.c.agent_id)
            .where(
                commands.c.status == CommandStatus.PENDING.value,
                commands.c.next_attempt_at <= now,
                runs.c.webhook_url.is_not(None),
                or_(commands.c.claimed_until.is_(None), commands.c.claimed_until < now),
            )
            .order_by(commands.c.next_attempt_at)
            .limit(limit)
            .with_for_update(of=commands, skip_locked=True)
        )
        rows = list(await self._conn.execute(query))
        if not rows:
            return []
        await self._conn.execute(
            update(commands)
            .where(commands.c.id.in_([r.id for r in rows]))
            .values(claimed_until=lease_until)
        )
        return [
            Delivery(
                _command(r),
                r.webhook_url,
                r.webhook_secret,
                r.previous_webhook_secret
                if r.previous_secret_until is not None and r.previous_secret_until > now
                else None,
            )
            for r in rows
        ]

    async def mark_delivered(self, command_id: str, *, at: datetime) -> bool:
        """Pending → delivered in one statement; False when it was no longer pending."""
        result = await self._conn.execute(
            _MARK_DELIVERED,
            {"b_id": command_id, "b_pending": CommandStatus.PENDING.value, "at": at},
        )
        return result.rowcount == 1

    async def record_attempt(self, attempt: Attempt) -> None:
        await self._conn.execute(
            insert(delivery_attempts).values(
                command_id=attempt.command_id,
                run_id=attempt.run_id,
                at=attempt.at,
                delivered=attempt.delivered,
                status_code=attempt.status_code,
                error=attempt.error,
            )
        )

    async def attempts_for_run(self, run_id: str) -> list[Attempt]:
        query = (
            select(delivery_attempts)
            .where(delivery_attempts.c.run_id == run_id)
            .order_by(delivery_attempts.c.id)
        )
        return [
            Attempt(
                command_id=row.command_id,
                run_id=row.run_id,
                at=row.at,
                delivered=row.delivered,
                status_code=row.status_code,
                error=row.error,
            )
            for row in await self._conn.execute(query)
        ]

    async def count_by_status(self) -> dict[CommandStatus, int]:
        query = select(commands.c.status, func.count().label("n")).group_by(commands.c.status)
        return {CommandStatus(r.status): int(r.n) for r in await self._conn.execute(query)}

    async def release_claims(self) -> int:
        """Forget every lease (at start-up of the only deliverer: its predecessor died)."""
        result = await self._conn.execute(
            update(commands).where(commands.c.claimed_until.is_not(None)).values(claimed_until=None)
        )
        return int(result.rowcount)

    async def update(self, command: Command) -> None:
        """Write the command's state; this also ends any lease on it."""
        await self._conn.execute(
            update(commands)
            .where(commands.c.id == command.id)
            .values(
                status=command.status.value,
                attempts=command.attempts,
                next_attempt_at=command.next_attempt_at,
                claimed_until=None,
                last_error=command.last_error,
                delivered_at=command.delivered_at,
                acked_at=command.acked_at,
                result_message=command.result_message,
                # A settled command frees its key: the same request later is a new command.
                open_key=command.open_key if command.status in _OPEN else None,
            )
        )
