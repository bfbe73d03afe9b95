"""Digest subscriptions and the posts made for them (one per subscription and period)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "digest_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("channel", sa.String(255), nullable=False, index=True),
        sa.Column("when", sa.String(128), nullable=False),
        sa.Column("team", sa.String(255), nullable=True),
        sa.Column("service", sa.String(255), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "digest_posts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(512), nullable=False, unique=True),
        sa.Column("subscription_key", sa.String(255), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        _when("first_claimed_at"),
        _when("claimed_at"),
        sa.Column("ts", sa.String(64), nullable=True),
        _when("posted_at", nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("digest_posts")
    op.drop_table("digest_subscriptions")
