"""One engine per process for ``storage.url``, its schema migrated on first use, and error
texts that name the database with its password masked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, insert, inspect, make_url
from sqlalchemy import text as sql
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from bot.db_url import hide as _hidden
from bot.db_url import masked
from bot.db_url import raw_password as _raw_password
from bot.storage.schema import actions

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions (a test checks it is Alembic's head): a database
# already there is opened without loading Alembic, ~10 MB the running bot would keep for nothing.
HEAD_REVISION = "0007"
# Give up on a PostgreSQL host that does not answer rather than hold a Slack press.
_CONNECT_TIMEOUT_S = 5
_SQLITE_BUSY_S = 30
# PostgreSQL waits for a lock (another session's LOCK TABLE, a stuck transaction) and for a
# statement forever by default: a press would never be answered. Give up, so the presser
# hears that nothing was recorded. A URL's own ``?options=`` wins.
LOCK_TIMEOUT_MS = 3_000
STATEMENT_TIMEOUT_MS = 30_000
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")


class StorageError(RuntimeError):
    """The database cannot be opened, migrated, read or written; the message says which
    and why."""


class Database:
    """The engine for ``url``. Thread-safe; it connects, and migrates the schema to the
    latest revision, on first use (``engine()``), so a command that never touches the
    database never needs it."""

    def __init__(self, url: str) -> None:
        self.masked_url = masked(url)
        try:
            self._engine: Engine = create_engine(url, pool_pre_ping=True,
                                                 connect_args=_connect_args(url))
        except ImportError as exc:
            raise StorageError(
                f"storage.url {self.masked_url!r} needs a database driver that is not "
                f"installed ({exc}); for PostgreSQL use postgresql+psycopg://USER@HOST/DB "
                "and pip install 'perfbot[postgres]'") from None
        except (ArgumentError, ValueError) as exc:
            raise StorageError(f"storage.url {self.masked_url!r} is not a usable database "
                               f"URL: {_hidden(str(exc), _raw_password(url))}") from None
        self._password = self._engine.url.password
        self._ready = False
        self._lock = threading.Lock()

    @property
    def url(self) -> URL:
        """The URL as given, password included: for a connection of its own (the leader
        lock's), never to show (``masked_url``)."""
        return self._engine.url

    def engine(self) -> Engine:
        """The engine, after the schema is at the latest revision."""
        with self._lock:
            if not self._ready:
                try:
                    migrate(self._engine)
                except SQLAlchemyError as exc:
                    raise StorageError(f"cannot open the database at {self.masked_url!r}: "
                                       f"{self.reason(exc)}") from None
                self._ready = True
        return self._engine

    def reason(self, exc: SQLAlchemyError) -> str:
        """The driver's own words, on one line, without SQLAlchemy's SQL and help link."""
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text = _hidden(" ".join(str(cause).split()), self._password)
        return f"{cause.__class__.__name__}: {text}"

    @contextmanager
    def reading(self, what: str) -> Iterator[Connection]:
        """A connection for reads; a database error becomes a StorageError saying ``what``."""
        try:
            with self.engine().connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot {what} at {self.masked_url!r}: "
                               f"{self.reason(exc)}") from None

    @contextmanager
    def writing(self, what: str) -> Iterator[Connection]:
        """One transaction, committed at the end; errors as in ``reading``."""
        try:
            with self.engine().begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot {what} at {self.masked_url!r}: "
                               f"{self.reason(exc)}") from None

    def check_writable(self) -> None:
        """StorageError unless a row can be written (then rolled back): a read-only SQLite
        file, a read-only replica or a user without INSERT are found at start, not at the
        first button press."""
        try:
            with self.engine().connect() as connection, connection.begin() as transaction:
                connection.execute(insert(actions).values(
                    at=datetime.now(UTC), user="perfbot", action="start", target="",
                    allowed=True, detail="write check, rolled back"))
                transaction.rollback()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot write to the database at {self.masked_url!r}: "
                               f"{self.reason(exc)}") from None

    def close(self) -> None:
        self._engine.dispose()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the latest revision (Alembic, in ``migrations/``)."""
    if _at_head(engine):
        return
    # Imported here: the settings import this module, and only a migration needs Alembic.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _at_head(engine: Engine) -> bool:
    """Whether the schema is at ``HEAD_REVISION`` (Alembic's own version table says)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        versions = connection.execute(sql("SELECT version_num FROM alembic_version")).all()
    return [tuple(row) for row in versions] == [(HEAD_REVISION,)]


def utc(at: datetime) -> datetime:
    """A time read back from the database, in UTC. SQLite keeps no zone (the times were
    written in UTC); PostgreSQL answers in its session's zone."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _connect_args(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # SQLite has one writer at a time: the others wait for the lock this long (the
        # driver's default, 5 s, was exceeded by 8 busy threads on a loaded machine), unless
        # the URL says how long (``?timeout=``; connect_args would override it).
        return {} if "timeout" in parsed.query else {"timeout": _SQLITE_BUSY_S}
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in _LIBPQ_DRIVERS:
        found: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            found["connect_timeout"] = _CONNECT_TIMEOUT_S
        if "options" not in parsed.query:
            found["options"] = (f"-c lock_timeout={LOCK_TIMEOUT_MS} "
                                f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
        return found
    return {}
