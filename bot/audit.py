"""The audit record: every action taken on an alert, and every refusal, in the ``actions``
table of the storage database (SQLite by default, or PostgreSQL; created on first use)."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any

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
    make_url,
    select,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

metadata = MetaData()
actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),  # timestamptz on PG
    Column("user", String(64), nullable=False),  # a reserved word in PostgreSQL: quoted
    Column("action", String(32), nullable=False),
    Column("target", String(255), nullable=False, index=True),
    Column("allowed", Boolean, nullable=False),
    Column("detail", Text, nullable=False, default=""),
)
# PostgreSQL enforces these lengths and refuses NUL characters; SQLite does neither, so
# the store checks them itself and both databases keep (or refuse) the same records.
_LIMITS = {"user": 64, "action": 32, "target": 255, "detail": None}
# Give up on a PostgreSQL host that does not answer rather than hold a Slack press.
_CONNECT_TIMEOUT_S = 5
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")


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
    threads); the engine connects, and the table is created, on first use. Error messages
    name the database with its password masked."""

    def __init__(self, url: str) -> None:
        self._url = _masked(url)
        try:
            self._engine: Engine = create_engine(url, pool_pre_ping=True,
                                                 connect_args=_connect_args(url))
        except ImportError as exc:
            raise AuditError(
                f"storage.url {self._url!r} needs a database driver that is not installed "
                f"({exc}); for PostgreSQL use postgresql+psycopg://USER@HOST/DB and "
                "pip install 'perfbot[postgres]'") from None
        except (ArgumentError, ValueError) as exc:
            raise AuditError(f"storage.url {self._url!r} is not a usable database URL: "
                             f"{_hidden(str(exc), _raw_password(url))}") from None
        self._password = self._engine.url.password
        self._ready = False
        self._lock = threading.Lock()

    def _prepare(self) -> Engine:
        with self._lock:
            if not self._ready:
                try:
                    metadata.create_all(self._engine)
                except SQLAlchemyError as exc:
                    raise AuditError(f"cannot open the audit table at {self._url!r}: "
                                     f"{self._reason(exc)}") from None
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
        _check_fits(row)
        engine = self._prepare()
        try:
            with engine.begin() as connection:
                key = connection.execute(insert(actions).values(**row)).inserted_primary_key
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot write to the audit table at {self._url!r}: "
                             f"{self._reason(exc)}") from None
        assert key is not None
        return AuditRecord(id=int(key[0]), **row)

    def recent(self, limit: int = 50, *, target: str | None = None) -> list[AuditRecord]:
        """The latest ``limit`` records, newest first; of one ``target`` when given."""
        query = select(actions).order_by(actions.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(actions.c.target == target)
        engine = self._prepare()
        try:
            with engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot read the audit table at {self._url!r}: "
                             f"{self._reason(exc)}") from None
        return [AuditRecord(**{**row, "at": _utc(row["at"])}) for row in rows]

    def close(self) -> None:
        self._engine.dispose()

    def _reason(self, exc: SQLAlchemyError) -> str:
        # The driver's own words, on one line, without SQLAlchemy's SQL and help link.
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text = _hidden(" ".join(str(cause).split()), self._password)
        return f"{cause.__class__.__name__}: {text}"


def _utc(at: datetime) -> datetime:
    # SQLite keeps no zone: the times were written in UTC. PostgreSQL answers in its
    # session's zone.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _check_fits(row: dict[str, Any]) -> None:
    for name, limit in _LIMITS.items():
        value: str = row[name]
        if limit is not None and len(value) > limit:
            raise AuditError(f"the audit record's {name} is {len(value)} characters long; "
                             f"the table keeps at most {limit}")
        if "\x00" in value:
            raise AuditError(f"the audit record's {name} holds a NUL character, which "
                             "the database cannot store")


def _connect_args(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    if (parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in _LIBPQ_DRIVERS
            and "connect_timeout" not in parsed.query):
        return {"connect_timeout": _CONNECT_TIMEOUT_S}
    return {}


_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def _masked(url: str) -> str:
    """``url`` fit to show: its password, if any, as ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # unparseable: mask what looks like one
        return _PASSWORD.sub(r"\1***@", url)



def _raw_password(url: str) -> str | None:
    found = _PASSWORD.search(url)
    return found.group(0)[len(found.group(1)):-1] if found else None


def _hidden(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text
