"""runs by agent: an agent's runs counted by status, and its latest runs, through an index

The console's agent pages count an agent's runs by status and read its latest runs; without
these, both read every run (seconds at a million).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_agent_status", "runs", ["agent_id", "status"])
    op.create_index("ix_runs_agent_latest", "runs", ["agent_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_runs_agent_latest", table_name="runs")
    op.drop_index("ix_runs_agent_status", table_name="runs")
