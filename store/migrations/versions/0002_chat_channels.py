"""people's own alert channels, and the conversations a chat surface can reach

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opslayer.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("slack_channel", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("teams_channel", sa.String(length=400), nullable=True))
    op.create_table(
        "conversations",
        sa.Column("surface", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("surface", "conversation_id", name=op.f("pk_conversations")),
    )
    op.create_index("ix_conversations_user", "conversations", ["surface", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_conversations_user", table_name="conversations")
    op.drop_table("conversations")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("teams_channel")
        batch.drop_column("slack_channel")
