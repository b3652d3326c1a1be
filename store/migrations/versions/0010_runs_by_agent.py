"""runs in id order per agent, status, owner and pending owner: keyset pages through an index

The console and `GET /v1/runs` list runs newest first, filtered by agent, status or owner (a
member sees their own runs), and count an agent's runs by status. With single-column indexes
(or none), a filter that matches few runs walked every run (a third of a second and more at a
million); each of these indexes ends in the id, so a page walks only what it shows. The runs
with a health flag get a partial index of their own: a health filter, the console's flag counts
and /metrics read only them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_HANDED_OVER = sa.text("pending_owner_id IS NOT NULL")
_FLAGGED = sa.text("CAST(health AS VARCHAR(500)) != '[]'")


def upgrade() -> None:
    op.create_index("ix_runs_agent_status", "runs", ["agent_id", "status"])
    op.create_index("ix_runs_agent_latest", "runs", ["agent_id", "id"])
    op.create_index("ix_runs_status_latest", "runs", ["status", "id"])
    op.drop_index("ix_runs_status", table_name="runs")
    op.create_index("ix_runs_owner_latest", "runs", ["owner_id", "id"])
    op.drop_index("ix_runs_owner_id", table_name="runs")
    op.create_index(
        "ix_runs_pending_owner",
        "runs",
        ["pending_owner_id", "id"],
        sqlite_where=_HANDED_OVER,
        postgresql_where=_HANDED_OVER,
    )
    op.create_index(
        "ix_runs_flagged", "runs", ["id"], sqlite_where=_FLAGGED, postgresql_where=_FLAGGED
    )


def downgrade() -> None:
    op.drop_index("ix_runs_flagged", table_name="runs")
    op.drop_index("ix_runs_pending_owner", table_name="runs")
    op.create_index("ix_runs_owner_id", "runs", ["owner_id"])
    op.drop_index("ix_runs_owner_latest", table_name="runs")
    op.create_index("ix_runs_status", "runs", ["status"])
    op.drop_index("ix_runs_status_latest", table_name="runs")
    op.drop_index("ix_runs_agent_latest", table_name="runs")
    op.drop_index("ix_runs_agent_status", table_name="runs")
