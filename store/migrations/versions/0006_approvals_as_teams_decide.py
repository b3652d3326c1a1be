"""approvals as teams decide: action, arguments (and their schema), the decisions offered,
votes toward a quorum, a deadline with a default, risk; and approval rules

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opslayer.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("action", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("arguments", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("arguments_schema", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column(
                "decisions", sa.JSON(), nullable=False, server_default='["approve", "reject"]'
            )
        )
        batch.add_column(
            sa.Column("required_approvals", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(
            sa.Column("on_timeout", sa.String(length=16), nullable=False, server_default="expire")
        )
        batch.add_column(sa.Column("risk", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("votes", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("decision", sa.JSON(), nullable=True))
        batch.create_index("ix_approvals_pending_deadline", ["status", "expires_at"])
    # The defaults only filled the rows that existed; the code writes every column itself.
    with op.batch_alter_table("approvals") as batch:
        batch.alter_column("decisions", server_default=None)
        batch.alter_column("required_approvals", server_default=None)
        batch.alter_column("on_timeout", server_default=None)
        batch.alter_column("votes", server_default=None)
    op.create_table(
        "approval_rules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("decide", sa.String(length=16), nullable=False),
        sa.Column("approvers", sa.JSON(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=240), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_rules")),
    )


def downgrade() -> None:
    op.drop_table("approval_rules")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_index("ix_approvals_pending_deadline")
        for column in (
            "decision",
            "votes",
            "risk",
            "on_timeout",
            "required_approvals",
            "decisions",
            "arguments_schema",
            "arguments",
            "action",
        ):
            batch.drop_column(column)
