"""JSON an agent sent is at most 32 levels deep; values stored before the limit are clipped

Agents' `state`, `arguments` and `arguments_schema` had no depth limit: 260 levels were
stored, then every read of the run (and the polling agent's read of its commands) failed in
the serialiser. New values deeper than the limit are refused with a 422; this clips what is
already stored, so nothing stored can make a read fail. A clipped part reads
"(removed: nested deeper than 32 levels)".

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opslayer_client.contract import MAX_JSON_DEPTH, clip_depth

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Where an agent's JSON lands (and is copied to: votes and decisions carry edited arguments,
# a command carries the approval's state, an alert the arguments it shows).
_COLUMNS = {
    "approvals": ("state", "arguments", "arguments_schema", "votes", "decision"),
    "commands": ("payload",),
    "alerts": ("payload",),
}
# A value nested deeper than the limit is at least this long as JSON text.
_SHORTEST_TOO_DEEP = 2 * (MAX_JSON_DEPTH + 1)


def upgrade() -> None:
    bind = op.get_bind()
    for name, columns in _COLUMNS.items():
        table = sa.table(
            name, sa.column("id", sa.String), *(sa.column(c, sa.JSON) for c in columns)
        )
        long_enough = sa.or_(
            *(sa.func.length(sa.cast(table.c[c], sa.Text)) >= _SHORTEST_TOO_DEEP for c in columns)
        )
        rows = bind.execute(sa.select(table).where(long_enough)).mappings().all()
        for row in rows:
            clipped = {c: clip_depth(row[c]) for c in columns}
            changed = {c: v for c, v in clipped.items() if v != row[c]}
            if changed:
                bind.execute(sa.update(table).where(table.c.id == row["id"]).values(**changed))


def downgrade() -> None:
    """Nothing to undo: what was clipped could not be read anyway."""
