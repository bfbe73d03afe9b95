"""Which ``perfbot run`` process leads: the one that runs detection, escalation sweeps and
digests. Every replica answers Slack; one leads.

On PostgreSQL the leader holds a session advisory lock on a connection of its own. The
server releases the lock when that session ends: at once when the process dies (its socket
closes), and after the server's TCP keepalives give up when the process is cut off (set per
session below, so a partitioned leader's lock is free within ``takeover``). The leader checks
its connection every ``takeover / 6`` and stops leading as soon as a check fails or is
late; a process standing by tries the lock every ``takeover / 3`` and, once it has it, waits
out the old leader's lease before leading (``timings``).

SQLite is for one process: ``perfbot run`` holds an exclusive ``flock`` on a file next to
the database for its whole life, and a second one refuses to start.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.storage.database import Database, StorageError

log = logging.getLogger(__name__)

# Advisory locks are scoped to the current database, so a constant key is enough: two
# perfbot deployments on two databases of one cluster do not contend.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"perfbot leader").digest()[:8], "big",
                          signed=True)
LEADING, STANDING_BY = "perfbot: leading", "perfbot: standing by"
TAKING_OVER = "perfbot: taking over"


def timings(takeover: timedelta) -> dict[str, float]:
    """Seconds, from ``takeover`` (T): a standby tries the lock every ``poll`` (T/3); the
    leader checks its connection every ``check`` (T/6, each check given as long) and
    believes a good check for ``lease`` (T/3); a replica that takes the lock waits
    ``settle`` (T/3, at least the lease) before it leads; the server gives up on a silent
    session after ``server_gone`` (keepalive ``idle`` + ``count`` × ``interval``, whole
    seconds, at most T/3).

    No two leaders: the old leader's last good check came before its session ended, hence
    before anyone could take the lock; it stops leading within ``lease`` of that check, and
    the new one leads ``settle`` after taking the lock. Within T: a killed leader's lock is
    free at once, a cut-off one's after ``server_gone``; then ``poll`` and ``settle``.
    Needs T ≥ 9 s (whole seconds of keepalive)."""
    total = takeover.total_seconds()
    interval, count = max(1, int(total / 12)), 2
    idle = int(total / 3) - interval * count
    return {"poll": total / 3, "check": total / 6, "lease": total / 3, "settle": total / 3,
            "idle": idle, "interval": interval, "count": count,
            "server_gone": idle + interval * count}


def connect_args(takeover: timedelta) -> dict[str, Any]:
    """libpq settings for the leadership connection: client-side keepalives and a TCP user
    timeout (a check that gets no answer fails rather than hangs), and the same keepalives
    for the server's end of the session (``-c tcp_keepalives_*``), which is what frees the
    lock of a leader cut off from the network."""
    t = timings(takeover)
    check_ms = max(1000, int(t["check"] * 1000))
    return {
        "application_name": "perfbot leader lock",  # what pg_stat_activity shows
        "connect_timeout": max(1, int(t["check"])),
        "keepalives": 1, "keepalives_idle": t["idle"],
        "keepalives_interval": t["interval"], "keepalives_count": t["count"],
        "tcp_user_timeout": check_ms,
        "options": (f"-c statement_timeout={check_ms} -c tcp_keepalives_idle={t['idle']} "
                    f"-c tcp_keepalives_interval={t['interval']} "
                    f"-c tcp_keepalives_count={t['count']} -c tcp_user_timeout={check_ms}"),
    }


class Leadership:
    """The advisory lock on PostgreSQL, tried and checked by a thread of its own.

    ``is_leader`` is true while the lock is held, ``settle`` has passed since it was taken,
    and the last check of its connection succeeded within the lease: a check that hangs
    (the network is gone) ends leadership as surely as one that fails. ``start`` tries once
    before returning. ``clock``: monotonic seconds (tests move it by hand)."""

    def __init__(self, database: Database, takeover: timedelta, *, name: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name or f"pid {os.getpid()}"
        self.takeover = takeover
        self._t = timings(takeover)
        self._database = database
        self._engine: Engine = create_engine(database.url, poolclass=NullPool,
                                             connect_args=connect_args(takeover))
        self._connection: Connection | None = None
        self._clock = clock
        self._acquired: float | None = None  # when it took the lock; None: not held
        self._confirmed: float | None = None  # the last good check
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._announced = ""
        self._why = ""  # why it last stopped leading, for the "standing by" line

    @property
    def is_leader(self) -> bool:
        return self.state == LEADING

    @property
    def state(self) -> str:
        """LEADING, TAKING_OVER (the lock held, the old leader's lease not yet over) or
        STANDING_BY."""
        with self._state_lock:
            now = self._clock()
            if self._acquired is None or self._confirmed is None or \
                    now - self._confirmed >= self._t["lease"]:
                return STANDING_BY
            return LEADING if now - self._acquired >= self._t["settle"] else TAKING_OVER

    def start(self) -> None:
        self.step()
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop trying and give the lock up (closing the session frees it at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._t["check"] + 5)
        self._drop()
        self._engine.dispose()

    def step(self) -> None:
        """One round: check the lock held, or try to take it. Never raises."""
        try:
            if self._connection is None:
                self._connection = self._engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT")
            if self._acquired is not None:
                self._connection.execute(text("SELECT 1"))
                with self._state_lock:
                    self._confirmed = self._clock()
            else:
                got = self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                               {"key": LOCK_KEY}).scalar()
                if got:
                    with self._state_lock:
                        self._acquired = self._confirmed = self._clock()
        except SQLAlchemyError as exc:
            self._drop(f"its database connection failed: {self._database.reason(exc)}")
        self._announce()

    def _run(self) -> None:
        while not self._stop.is_set():
            held = self._acquired is not None
            self._stop.wait(self._t["check"] if held else self._t["poll"])
            if not self._stop.is_set():
                self.step()

    def _drop(self, why: str = "") -> None:
        """Stop leading at once, then close the session (which frees the lock)."""
        with self._state_lock:
            self._acquired = self._confirmed = None
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except SQLAlchemyError:
                pass
        if why:
            self._why = why

    def _announce(self) -> None:
        state = self.state
        if state == self._announced:
            return
        self._announced = state
        if state == LEADING:
            log.info("%s (%s holds the leader lock on %s)", LEADING, self.name,
                     self._database.masked_url)
        elif state == TAKING_OVER:
            log.info("%s (%s took the leader lock; leading in %gs, once a leader that lost "
                     "it has surely stopped)", TAKING_OVER, self.name, self._t["settle"])
        else:
            log.info("%s (%s; %s; trying the leader lock every %gs)", STANDING_BY, self.name,
                     self._why or "another replica holds it", self._t["poll"])
            self._why = ""


class SoleProcess:
    """SQLite: this process is the only one, hence the leader, for as long as it holds an
    exclusive ``flock`` on ``<database>.lock``; a second process is refused with a
    StorageError that says so. In-memory databases hold no lock (nothing to share)."""

    def __init__(self, database: str | None) -> None:
        # A URI filename (``file:/path/db?mode=ro``, with ``?uri=true``) names the same file.
        if database and database.startswith("file:"):
            database = unquote(urlsplit(database).path) or None
        self.path = Path(f"{database}.lock") if database and database != ":memory:" \
            else None
        self._file: IO[bytes] | None = None

    @property
    def is_leader(self) -> bool:
        return True

    def start(self) -> None:
        if self.path is None:
            return
        try:
            handle = self.path.open("ab")
        except OSError as exc:
            raise StorageError(f"cannot lock {str(self.path)!r} next to the SQLite "
                               f"database: {exc}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StorageError(
                f"another perfbot run is using the SQLite database {str(self.path)[:-5]!r} "
                f"(it holds {str(self.path)!r}). SQLite is for one process: stop the other "
                "one, or run several replicas on PostgreSQL (storage.url: "
                "postgresql+psycopg://…)") from None
        except OSError as exc:
            handle.close()
            raise StorageError(f"cannot lock {str(self.path)!r} next to the SQLite "
                               f"database: {exc}") from None
        self._file = handle

    def stop(self) -> None:
        if self._file is not None:
            self._file.close()  # frees the flock
            self._file = None


def leadership_for(database: Database, takeover: timedelta) -> Leadership | SoleProcess:
    """The leadership of ``perfbot run`` on ``database``: the advisory lock on PostgreSQL,
    the single-process lock on SQLite. Not started."""
    backend = database.url.get_backend_name()
    if backend == "postgresql":
        return Leadership(database, takeover)
    # Another backend (the outbox refuses it anyway) has no file to lock.
    return SoleProcess(database.url.database if backend == "sqlite" else None)
