"""one name for alerts (the ledger table `notifications` becomes `alerts`), and commands keep
their idempotency key while open, unique

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opslayer.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = (
    "id, key, run_id, kind, status, target, payload, message_refs, reminders, next_action_at, "
    "acked_by, acked_until, escalated_at, needs_sync, created_at, updated_at, resolved_at"
)


def _ledger(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("message_refs", sa.JSON(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("next_action_at", UTCDateTime(), nullable=True),
        sa.Column("acked_by", sa.String(length=40), nullable=True),
        sa.Column("acked_until", UTCDateTime(), nullable=True),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.Column("needs_sync", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("key", name=op.f(f"uq_{name}_key")),
    )
    op.create_index(f"ix_{name}_needs_sync", name, ["needs_sync"])
    op.create_index(f"ix_{name}_next_action_at", name, ["next_action_at"])
    op.create_index(op.f(f"ix_{name}_run_id"), name, ["run_id"])


def upgrade() -> None:
    # A copy, not a rename: the constraints and indexes get the new name on both databases.
    _ledger("alerts")
    op.execute(f"INSERT INTO alerts ({_COLUMNS}) SELECT {_COLUMNS} FROM notifications")
    op.drop_table("notifications")
    with op.batch_alter_table("commands") as batch:
        batch.add_column(sa.Column("open_key", sa.String(length=400), nullable=True))
        batch.create_unique_constraint(batch.f("uq_commands_open_key"), ["open_key"])


def downgrade() -> None:
    with op.batch_alter_table("commands") as batch:
        batch.drop_constraint(batch.f("uq_commands_open_key"), type_="unique")
        batch.drop_column("open_key")
    _ledger("notifications")
    op.execute(f"INSERT INTO notifications ({_COLUMNS}) SELECT {_COLUMNS} FROM alerts")
    op.drop_table("alerts")
