"""Alembic environment: runs on the connection modelyard passes in (see modelyard.store.migrate)."""

from __future__ import annotations

from alembic import context

from modelyard.store.search import include_name
from modelyard.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when run from the alembic CLI
    raise RuntimeError("run migrations through modelyard.store.migrate.upgrade()")

context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, include_name=include_name
)
with context.begin_transaction():
    context.run_migrations()
