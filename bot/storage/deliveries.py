"""Slack deliveries seen lately, in the bot's database: whether a delivery is new is an
INSERT of its key that only the first one wins, so a retry or a replay is answered once
even after a restart or by another process on the same database.

Time here is wall time, always: the bot's own clock may be held (``--at``) or fast
(``--speed``), and a key must live exactly as long as Slack may send its delivery again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.storage.database import Database, StorageError
from bot.storage.schema import deliveries

_KEY_CHARS = 255  # the column's


def wall_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Ask:
    key: str
    until: datetime
    new: bool | None = None  # None: not written yet
    error: StorageError | None = None


class DeliveryStore:
    """Thread-safe. Deliveries seen at the same moment are written together: a burst of
    commands is a few transactions, not one each (on SQLite each commit is a sync to disk,
    ~10 ms here, and the ack of the 200th command waited behind 199 of them)."""

    def __init__(self, database: Database, now: Callable[[], datetime] = wall_now) -> None:
        self.database = database
        self._now = now
        self._pending: list[_Ask] = []
        self._pending_lock = threading.Lock()
        self._writing = threading.Lock()

    def first_time(self, key: str, until: datetime) -> bool:
        """Whether ``key`` is new (then it is kept until ``until``); the expired keys go."""
        stored = key if len(key) <= _KEY_CHARS else (
            "sha256:" + hashlib.sha256(key.encode()).hexdigest())
        ask = _Ask(stored, until.astimezone(UTC))
        with self._pending_lock:
            self._pending.append(ask)
        # Whoever holds the writing lock writes every ask waiting, this one's too if it is
        # there yet; the others find theirs written when they get the lock.
        with self._writing:
            if ask.new is None and ask.error is None:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._write(batch)
        if ask.error is not None:
            raise ask.error
        return bool(ask.new)

    def _write(self, batch: list[_Ask]) -> None:
        now = self._now().astimezone(UTC)
        try:
            with self.database.writing("record Slack deliveries") as connection:
                connection.execute(delete(deliveries).where(deliveries.c.expires_at < now))
                news = [_inserted(connection, {"key": ask.key, "seen_at": now,
                                               "expires_at": max(ask.until, now)})
                        for ask in batch]
        except Exception as exc:  # every waiting ask must hear of it, not only this one's
            error = exc if isinstance(exc, StorageError) else StorageError(
                f"cannot record Slack deliveries: {exc}")
            for ask in batch:
                ask.error = error
            return
        for ask, new in zip(batch, news, strict=True):
            ask.new = new

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
