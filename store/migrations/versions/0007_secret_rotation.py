"""secret rotation: the previous webhook secret still signs until its grace period ends

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 08:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opslayer.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("previous_webhook_secret", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("previous_secret_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_webhook_secret")
