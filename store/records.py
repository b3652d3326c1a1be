"""Repositories for what happens to runs: checkpoints, approvals, commands, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, or_, select, update

from opslayer.bot.domain.models import (
    Actor,
    Approval,
    AuditEvent,
    Checkpoint,
    Command,
    Delivery,
    SideEffect,
)
from opslayer.bot.domain.status import ApprovalStatus, CommandKind, CommandStatus, Via
from opslayer.store.db import Db, per_dialect
from opslayer.store.tables import (
    agents,
    approvals,
    audit_events,
    checkpoints,
    commands,
    runs,
)


def _checkpoint(row: Row[Any]) -> Checkpoint:
    return Checkpoint(
        id=row.id,
        run_id=row.run_id,
        checkpoint_id=row.checkpoint_id,
        step=row.step,
        created_at=row.created_at,
        seq=row.seq,
        summary=row.summary,
        resumable=row.resumable,
        side_effects=tuple(
            SideEffect(key=e["key"], idempotent=e["idempotent"], description=e.get("description"))
            for e in row.side_effects
        ),
    )


_CHECKPOINT_COLUMNS = (
    "id",
    "run_id",
    "checkpoint_id",
    "seq",
    "step",
    "summary",
    "resumable",
    "side_effects",
    "created_at",
)
# A checkpoint_id the run already has inserts nothing.
_CHECKPOINT_INSERT = per_dialect(
    lambda insert: (
        insert(checkpoints)
        .values({c: bindparam(c) for c in _CHECKPOINT_COLUMNS})
        .on_conflict_do_nothing(index_elements=["run_id", "checkpoint_id"])
    )
)


class SqlCheckpointRepository:
    """Inside a group-commit batch (`pending` given) new checkpoints are collected and inserted
    in one statement when the batch ends; a checkpoint_id the database already has then fails
    the batch, which is replayed job by job, where each insert runs at once and reports the
    duplicate. Agents rarely resend a checkpoint; every checkpoint saves a statement."""

    def __init__(self, conn: Db, pending: list[dict[str, Any]] | None = None) -> None:
        self._conn = conn
        self._pending = pending

    async def flush(self) -> None:
        if self._pending:
            rows = list(self._pending)
            self._pending.clear()
            await self._conn.execute(insert(checkpoints), rows)

    async def get(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        await self.flush()
        query = select(checkpoints).where(
            checkpoints.c.run_id == run_id, checkpoints.c.checkpoint_id == checkpoint_id
        )
        row = (await self._conn.execute(query)).first()
        return _checkpoint(row) if row else None

    async def add(self, checkpoint: Checkpoint) -> bool:
        """Insert unless the run already has this checkpoint_id; True when inserted."""
        values = {
            "id": checkpoint.id,
            "run_id": checkpoint.run_id,
            "checkpoint_id": checkpoint.checkpoint_id,
            "seq": checkpoint.seq,
            "step": checkpoint.step,
            "summary": checkpoint.summary,
            "resumable": checkpoint.resumable,
            "side_effects": [
                {"key": e.key, "description": e.description, "idempotent": e.idempotent}
                for e in checkpoint.side_effects
            ],
            "created_at": checkpoint.created_at,
        }
        if self._pending is None:
            result = await self._conn.execute(_CHECKPOINT_INSERT[self._conn.dialect], values)
            return bool(result.rowcount)
        key = (checkpoint.run_id, checkpoint.checkpoint_id)
        if any((row["run_id"], row["checkpoint_id"]) == key for row in self._pending):
            return False  # another job of this batch recorded it first
        self._pending.append(values)
        self._conn.dirty = True
        return True

    async def for_run(self, run_id: str) -> list[Checkpoint]:
        await self.flush()
        query = (
            select(checkpoints).where(checkpoints.c.run_id == run_id).order_by(checkpoints.c.seq)
        )
        return [_checkpoint(r) for r in await self._conn.execute(query)]


def _approval(row: Row[Any]) -> Approval:
    return Approval(
        id=row.id,
        run_id=row.run_id,
        request_id=row.request_id,
        title=row.title,
        status=ApprovalStatus(row.status),
        created_at=row.created_at,
        details=row.details,
        expires_at=row.expires_at,
        approvers=tuple(row.approvers),
        state=row.state,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        comment=row.comment,
    )


class SqlApprovalRepository:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def get(self, approval_id: str) -> Approval | None:
        row = (
            await self._conn.execute(select(approvals).where(approvals.c.id == approval_id))
        ).first()
        return _approval(row) if row else None

    async def by_request_id(self, run_id: str, request_id: str) -> Approval | None:
        query = select(approvals).where(
            approvals.c.run_id == run_id, approvals.c.request_id == request_id
        )
        row = (await self._conn.execute(query)).first()
        return _approval(row) if row else None

    async def add(self, approval: Approval) -> None:
        await self._conn.execute(
            insert(approvals).values(
                id=approval.id,
                run_id=approval.run_id,
                request_id=approval.request_id,
                title=approval.title,
                details=approval.details,
                status=approval.status.value,
                expires_at=approval.expires_at,
                approvers=list(approval.approvers),
                state=approval.state,
                created_at=approval.created_at,
            )
        )

    async def for_run(self, run_id: str, *, status: ApprovalStatus | None = None) -> list[Approval]:
        query = select(approvals).where(approvals.c.run_id == run_id)
        if status is not None:
            query = query.where(approvals.c.status == status.value)
        return [_approval(r) for r in await self._conn.execute(query.order_by(approvals.c.id))]

    async def decide(self, approval: Approval) -> bool:
        """Record a decision if the approval is still pending; False when someone was first."""
        result = await self._conn.execute(
            update(approvals)
            .where(
                approvals.c.id == approval.id, approvals.c.status == ApprovalStatus.PENDING.value
            )
            .values(
                status=approval.status.value,
                decided_by=approval.decided_by,
                decided_at=approval.decided_at,
                comment=approval.comment,
            )
        )
        return result.rowcount == 1

    async def expire_due(self, now: datetime) -> list[Approval]:
        """Mark pending approvals past `expires_at` expired; return them."""
        query = select(approvals).where(
            approvals.c.status == ApprovalStatus.PENDING.value, approvals.c.expires_at <= now
        )
        due = [_approval(r) for r in await self._conn.execute(query)]
        if due:
            await self._conn.execute(
                update(approvals)
                .where(approvals.c.id.in_([a.id for a in due]))
                .values(status=ApprovalStatus.EXPIRED.value, decided_at=now)
            )
        return due

    async def close_pending(self, run_id: str, *, status: ApprovalStatus, at: datetime) -> int:
        result = await self._conn.execute(
            update(approvals)
            .where(approvals.c.run_id == run_id, approvals.c.status == ApprovalStatus.PENDING.value)
            .values(status=status.value, decided_at=at)
        )
        return int(result.rowcount)


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
    )


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

    async def open_of_kind(self, run_id: str, kind: CommandKind) -> Command | None:
        query = select(commands).where(
            commands.c.run_id == run_id,
            commands.c.kind == kind.value,
            commands.c.status.in_([CommandStatus.PENDING.value, CommandStatus.DELIVERED.value]),
        )
        row = (await self._conn.execute(query.order_by(commands.c.id.desc()).limit(1))).first()
        return _command(row) if row else None

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Delivery]:
        """Lease up to `limit` due commands that have a webhook; other replicas skip them."""
        query = (
            select(commands, runs.c.webhook_url, agents.c.webhook_secret)
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
        return [Delivery(_command(r), r.webhook_url, r.webhook_secret) for r in rows]

    async def mark_delivered(self, command_id: str, *, at: datetime) -> bool:
        """Pending → delivered in one statement; False when it was no longer pending."""
        result = await self._conn.execute(
            _MARK_DELIVERED,
            {"b_id": command_id, "b_pending": CommandStatus.PENDING.value, "at": at},
        )
        return result.rowcount == 1

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
            )
        )


class SqlAuditRepository:
    """Audit rows are collected and written in one statement when the transaction ends
    (`flush`), still inside it; a read of the trail flushes first."""

    def __init__(self, conn: Db, pending: list[dict[str, Any]]) -> None:
        self._conn = conn
        self._pending = pending

    async def add(self, event: AuditEvent) -> None:
        self._pending.append(
            {
                "run_id": event.run_id,
                "at": event.at,
                "action": event.action,
                "actor_id": event.actor.id,
                "actor_name": event.actor.name,
                "via": event.actor.via.value,
                "reason": event.reason,
                "detail": event.detail,
            }
        )
        self._conn.dirty = True

    async def flush(self) -> None:
        if self._pending:
            rows = list(self._pending)
            self._pending.clear()
            await self._conn.execute(insert(audit_events), rows)

    async def for_run(self, run_id: str) -> list[AuditEvent]:
        await self.flush()
        rows = await self._conn.execute(
            select(audit_events).where(audit_events.c.run_id == run_id).order_by(audit_events.c.id)
        )
        return [
            AuditEvent(
                id=r.id,
                run_id=r.run_id,
                at=r.at,
                action=r.action,
                actor=Actor(id=r.actor_id, name=r.actor_name, via=Via(r.via)),
                reason=r.reason,
                detail=r.detail,
            )
            for r in rows
        ]
