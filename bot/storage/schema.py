"""Every table of the bot's database, in one ``MetaData``; Alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

# Every action taken on an alert, and every refusal.
actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),  # timestamptz on PG
    Column("user", String(64), nullable=False),  # a reserved word in PostgreSQL: quoted
    Column("action", String(32), nullable=False),
    Column("target", String(255), nullable=False, index=True),
    Column("allowed", Boolean, nullable=False),
    Column("detail", Text, nullable=False, default=""),
)
