"""Alembic environment: runs against the engine handed in by crossdock.storage.sql.migrate."""

from __future__ import annotations

from alembic import context

from crossdock.storage.sql.tables import metadata

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
