"""people keep no time zone: chat platforms show every moment in the reader's own zone, and
the command line says UTC

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("timezone")


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC")
        )
