"""Alembic environment: runs on the connection ``relayflow.store.sql.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from relayflow.store.sql.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through relayflow.store.sql.migrate.upgrade(url)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
