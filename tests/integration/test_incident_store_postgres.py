"""The incident store on a real PostgreSQL (Debian's, started by the test session, a fresh
database per test): every case of ``tests/incident_store_contract.py``, plus what only
PostgreSQL shows. The cluster's sessions answer in Pacific/Chatham (UTC+13:45 in November),
so every time read back must be turned into UTC by the store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.storage import Database
from bot.storage.incidents import IncidentStore
from tests.incident_parts import T0
from tests.incident_store_contract import StoreContract, opened

pytestmark = pytest.mark.integration


class TestOnPostgreSQL(StoreContract):
    OLD_ACTIONS = (
        'CREATE TABLE actions (id SERIAL NOT NULL, at TIMESTAMP WITH TIME ZONE NOT NULL, '
        '"user" VARCHAR(64) NOT NULL, action VARCHAR(32) NOT NULL, '
        "target VARCHAR(255) NOT NULL, allowed BOOLEAN NOT NULL, detail TEXT NOT NULL, "
        "PRIMARY KEY (id))",
        "CREATE INDEX ix_actions_at ON actions (at)",
        "CREATE INDEX ix_actions_target ON actions (target)",
    )
    OLD_ROWS = (
        'INSERT INTO actions (at, "user", action, target, allowed, detail) VALUES '
        "('2026-11-20 09:15:00+00', 'UANNA', 'acknowledge', 'f1', true, ''), "
        "('2026-11-20 09:16:00+00', 'UBEN', 'resolve', 'f1', false, 'not allowed')"
    )

    @pytest.fixture
    def url(self, postgres_db: str) -> str:
        return postgres_db


def test_the_columns_hold_instants_that_sessions_show_in_their_own_zone(
    postgres_db: str,
) -> None:
    """What makes the round trips above mean something: the server answers in Chatham."""
    store = IncidentStore(Database(postgres_db))
    incident = opened(store)
    with store.database.engine().connect() as connection:
        assert connection.execute(text("SHOW TimeZone")).scalar_one() == "Pacific/Chatham"
        due, opened_at = connection.execute(text(
            "SELECT due_at, opened_at FROM incidents WHERE id = :id"), {"id": incident.id}).one()
        kinds: dict[str, str] = dict(connection.execute(text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'incidents'")).all())
    assert opened_at == due == T0 and opened_at.utcoffset().total_seconds() == 13.75 * 3600
    assert kinds["due_at"] == kinds["opened_at"] == "timestamp with time zone"
    assert store.get(incident.id).opened_at.utcoffset() == timedelta(0)  # type: ignore[union-attr]
    store.database.close()
