"""Alembic's entry point: migrate the connection ``bot.storage.database.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from bot.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
