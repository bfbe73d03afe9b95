"""Incidents, their timeline, the outbox, silences and on-call overrides."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False, index: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        _when("due_at", nullable=True, index=True),
        _when("opened_at"),
        _when("updated_at"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False, index=True),
        _when("at"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("user", sa.String(64), nullable=True),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("incident_id", sa.Integer, nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        _when("created_at"),
        _when("not_before", index=True),
        _when("sent_at", nullable=True, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("matcher", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.String(64), nullable=False),
        _when("created_at"),
        _when("ends_at", index=True),
    )
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(128), nullable=False, index=True),
        sa.Column("user", sa.String(64), nullable=False),
        _when("starts_at"),
        _when("ends_at", index=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        _when("created_at"),
    )


def downgrade() -> None:
    for table in ("overrides", "silences", "outbox", "timeline", "incidents"):
        op.drop_table(table)
