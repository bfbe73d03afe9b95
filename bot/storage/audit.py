"""The audit record: every action taken on an alert, and every refusal, in the ``actions``
table of the bot's database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from bot.storage.database import Database, StorageError, utc
from bot.storage.schema import actions

# PostgreSQL enforces these lengths and refuses NUL characters; SQLite does neither, so
# the store checks them itself and both databases keep (or refuse) the same records.
_LIMITS = {"user": 64, "action": 32, "target": 255, "detail": None}


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
    threads). Error messages name the database with its password masked."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def record(
        self, *, at: datetime, user: str, action: str, target: str, allowed: bool,
        detail: str = "",
    ) -> AuditRecord:
        row = audit_row(at=at, user=user, action=action, target=target, allowed=allowed,
                        detail=detail)
        engine = self.database.engine()
        try:
            with engine.begin() as connection:
                key = connection.execute(insert(actions).values(**row)).inserted_primary_key
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to the audit table at {self.database.masked_url!r}: "
                               f"{self.database.reason(exc)}") from None
        assert key is not None
        return AuditRecord(id=int(key[0]), **row)

    def recent(self, limit: int = 50, *, target: str | None = None) -> list[AuditRecord]:
        """The latest ``limit`` records, newest first; of one ``target`` when given."""
        query = select(actions).order_by(actions.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(actions.c.target == target)
        engine = self.database.engine()
        try:
            with engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the audit table at {self.database.masked_url!r}: "
                               f"{self.database.reason(exc)}") from None
        return [AuditRecord(**{**row, "at": utc(row["at"])}) for row in rows]


def audit_row(
    *, at: datetime, user: str, action: str, target: str, allowed: bool, detail: str = "",
) -> dict[str, Any]:
    """A record as the ``actions`` table keeps it, checked to fit: what ``record`` writes,
    and what a change written with its record in one transaction (``IncidentStore.change``'s
    ``record``) passes. StorageError when a field does not fit."""
    if at.tzinfo is None:
        raise ValueError("audit times must carry a time zone")
    row = {"at": at.astimezone(UTC), "user": user, "action": action, "target": target,
           "allowed": allowed, "detail": detail}
    _check_fits(row)
    return row


def _check_fits(row: dict[str, Any]) -> None:
    for name, limit in _LIMITS.items():
        value: str = row[name]
        if limit is not None and len(value) > limit:
            raise StorageError(f"the audit record's {name} is {len(value)} characters long; "
                               f"the table keeps at most {limit}")
        if "\x00" in value:
            raise StorageError(f"the audit record's {name} holds a NUL character, which "
                               "the database cannot store")
