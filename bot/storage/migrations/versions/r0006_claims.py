"""The outbox's claim (``claimed_until``): one process carries out each effect, and a
crashed claimer's effect is taken again once its claim has run out. Incidents get their
auto-resolve deadline (``expires_at``, indexed), so the sweep reads only the due ones."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("claimed_by", sa.String(32), nullable=True))
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        table.create_index("ix_incidents_expires_at", ["expires_at"])
    # The open incidents stored before: their deadline from their alert, kept in ``data``.
    connection = op.get_bind()
    incidents = sa.table("incidents", sa.column("id", sa.Integer),
                         sa.column("state", sa.String), sa.column("data", sa.Text),
                         sa.column("expires_at", sa.DateTime(timezone=True)))
    for key, data in connection.execute(sa.select(incidents.c.id, incidents.c.data)
                                        .where(incidents.c.state != "resolved")).all():
        ends = (json.loads(data).get("alert") or {}).get("ends_at")
        if ends:
            connection.execute(sa.update(incidents).where(incidents.c.id == key)
                               .values(expires_at=datetime.fromisoformat(ends)))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.drop_index("ix_incidents_expires_at")
        table.drop_column("expires_at")
    with op.batch_alter_table("outbox") as table:
        table.drop_column("claimed_by")
        table.drop_column("claimed_until")
