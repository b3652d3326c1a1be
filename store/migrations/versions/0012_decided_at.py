"""runs.decided_at: when a decision went to the agent of a run that has not moved since

An agent that received its approve (2xx) and never resumed left the run waiting_approval with
no open approval and nothing pending: nobody was told. The scan now raises an alert when a run
stays where it was decision_ack_s (5 minutes by default) after its decision.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opslayer.store.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("decided_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "decided_at")
