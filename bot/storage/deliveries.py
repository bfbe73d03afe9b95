"""Slack deliveries seen lately, in the bot's database: whether a delivery is new is an
INSERT of its key that only the first one wins, so a retry or a replay is answered once
even after a restart or by another process on the same database.

Time here is wall time, always: the bot's own clock may be held (``--at``) or fast
(``--speed``), and a key must live exactly as long as Slack may send its delivery again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.storage.database import Database, StorageError
from bot.storage.schema import deliveries

_KEY_CHARS = 255  # the column's


def wall_now() -> datetime:
    return datetime.now(UTC)


class DeliveryStore:
    """Thread-safe; ``first_time`` is one transaction."""

    def __init__(self, database: Database, now: Callable[[], datetime] = wall_now) -> None:
        self.database = database
        self._now = now

    def first_time(self, key: str, until: datetime) -> bool:
        """Whether ``key`` is new (then it is kept until ``until``); the expired keys go."""
        now = self._now().astimezone(UTC)
        stored = key if len(key) <= _KEY_CHARS else (
            "sha256:" + hashlib.sha256(key.encode()).hexdigest())
        with self.database.writing("record a Slack delivery") as connection:
            connection.execute(delete(deliveries).where(deliveries.c.expires_at < now))
            return _inserted(connection, {"key": stored, "seen_at": now,
                                          "expires_at": max(until.astimezone(UTC), now)})

    def count(self) -> int:
        """The keys kept (for tests and the curious)."""
        with self.database.reading("count Slack deliveries") as connection:
            query = select(func.count()).select_from(deliveries)
            return int(connection.execute(query).scalar_one())


def _inserted(connection: Connection, row: dict[str, object]) -> bool:
    """Insert ``row`` unless its key is there; whether it was (RETURNING: PostgreSQL's
    driver gives no usable rowcount for ON CONFLICT DO NOTHING)."""
    dialect = connection.dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(deliveries).values(**row).on_conflict_do_nothing(
            index_elements=["key"])
    elif dialect == "sqlite":
        statement = sqlite.insert(deliveries).values(**row).on_conflict_do_nothing(
            index_elements=["key"])
    else:
        raise StorageError(f"Slack deliveries need SQLite or PostgreSQL, not {dialect}")
    return connection.execute(statement.returning(deliveries.c.id)).first() is not None
