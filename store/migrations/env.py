"""Alembic environment: runs on the connection store.migrate hands over (sync, inside run_sync)."""

from __future__ import annotations

from alembic import context

from opslayer.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
