"""The audit record: every action taken on an alert, and every refusal, in the ``actions``
table of the storage database (SQLite by default; created on first use)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
)
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

metadata = MetaData()
actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("user", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(255), nullable=False, index=True),
    Column("allowed", Boolean, nullable=False),
    Column("detail", Text, nullable=False, default=""),
)


class AuditError(RuntimeError):
    """The audit database cannot be opened or written; the message says which and why."""


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    user: str
    action: str
    target: str
    allowed: bool
    detail: str


class AuditStore:
    """``record`` an attempt, read the ``recent`` ones. Thread-safe (Bolt runs listeners in
    threads); the engine connects, and the table is created, on first use."""

    def __init__(self, url: str) -> None:
        try:
            self._engine: Engine = create_engine(url)
        except (ArgumentError, ImportError) as exc:
            raise AuditError(f"storage.url {url!r} is not a usable database URL: {exc}") from None
        self._url = url
        self._ready = False
        self._lock = threading.Lock()

    def _prepare(self) -> Engine:
        with self._lock:
            if not self._ready:
                try:
                    metadata.create_all(self._engine)
                except SQLAlchemyError as exc:
                    raise AuditError(f"cannot open the audit table at {self._url!r}: "
                                     f"{exc.__class__.__name__}: {exc}") from None
                self._ready = True
        return self._engine

    def record(
        self, *, at: datetime, user: str, action: str, target: str, allowed: bool,
        detail: str = "",
    ) -> AuditRecord:
        if at.tzinfo is None:
            raise ValueError("audit times must carry a time zone")
        row = {"at": at.astimezone(UTC), "user": user, "action": action, "target": target,
               "allowed": allowed, "detail": detail}
        try:
            with self._prepare().begin() as connection:
                key = connection.execute(insert(actions).values(**row)).inserted_primary_key
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot write to the audit table at {self._url!r}: "
                             f"{exc.__class__.__name__}: {exc}") from None
        assert key is not None
        return AuditRecord(id=int(key[0]), **row)

    def recent(self, limit: int = 50, *, target: str | None = None) -> list[AuditRecord]:
        """The latest ``limit`` records, newest first; of one ``target`` when given."""
        query = select(actions).order_by(actions.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(actions.c.target == target)
        with self._prepare().connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [AuditRecord(**{**row, "at": _utc(row["at"])}) for row in rows]

    def close(self) -> None:
        self._engine.dispose()


def _utc(at: datetime) -> datetime:
    # SQLite keeps no zone: the times were written in UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
