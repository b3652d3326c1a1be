"""Checkpoints with the side effects committed since the one before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, insert, select

from opslayer.bot.runs.model import Checkpoint, SideEffect
from opslayer.store.db import Db, per_dialect
from opslayer.store.tables import checkpoints


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
