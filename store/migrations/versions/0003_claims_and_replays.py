"""owner claims kept apart from people, and signed requests remembered against replays

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opslayer.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner_claim", sa.JSON(), nullable=True))
    op.create_table(
        "seen_requests",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_seen_requests")),
    )
    op.create_index(op.f("ix_seen_requests_seen_at"), "seen_requests", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_seen_requests_seen_at"), table_name="seen_requests")
    op.drop_table("seen_requests")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("owner_claim")
