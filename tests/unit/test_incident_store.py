"""The incident store on a SQLite file: every case of ``tests/incident_store_contract.py``
(PostgreSQL runs the same ones in tests/integration/test_incident_store_postgres.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.storage import Database
from bot.storage.incidents import IncidentStore
from tests.incident_store_contract import StoreContract, opened


class TestOnSQLite(StoreContract):
    OLD_ACTIONS = (
        "CREATE TABLE actions (id INTEGER NOT NULL, at DATETIME NOT NULL, "
        "user VARCHAR(64) NOT NULL, action VARCHAR(32) NOT NULL, "
        "target VARCHAR(255) NOT NULL, allowed BOOLEAN NOT NULL, detail TEXT NOT NULL, "
        "PRIMARY KEY (id))",
        "CREATE INDEX ix_actions_at ON actions (at)",
        "CREATE INDEX ix_actions_target ON actions (target)",
    )
    # SQLAlchemy wrote SQLite times as text, in UTC, without a zone.
    OLD_ROWS = (
        "INSERT INTO actions (at, user, action, target, allowed, detail) VALUES "
        "('2026-11-20 09:15:00.000000', 'UANNA', 'acknowledge', 'f1', 1, ''), "
        "('2026-11-20 09:16:00.000000', 'UBEN', 'resolve', 'f1', 0, 'not allowed')"
    )

    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'perfbot.db'}"


def test_reopening_at_the_latest_revision_changes_no_schema(tmp_path: Path) -> None:
    """SQLite counts every schema change in ``PRAGMA schema_version``."""
    url = f"sqlite:///{tmp_path / 'perfbot.db'}"
    store = IncidentStore(Database(url))
    opened(store)
    store.database.close()
    before = _schema_version(url)
    again = IncidentStore(Database(url))
    assert len(again.listed()) == 1
    again.database.close()
    assert _schema_version(url) == before > 0


def _schema_version(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        version = connection.execute(text("PRAGMA schema_version")).scalar_one()
    engine.dispose()
    return int(version)
