"""People's answers on detection alerts (useful or noise), with the detector's evidence."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False, index=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("signal", sa.String(32), nullable=False),
        sa.Column("service", sa.String(255), nullable=False, index=True),
        sa.Column("endpoint", sa.String(255), nullable=True),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.UniqueConstraint("incident_id", "user", name="feedback_one_per_person"),
    )


def downgrade() -> None:
    op.drop_table("feedback")
