"""``Leadership`` against a real PostgreSQL: one of several holds the advisory lock, the
others stand by; a leader whose session is killed stops leading at its next check and
another takes the lock. ``SoleProcess``: one holder of a SQLite file's lock at a time.

Each round is stepped by hand (``step``), so the order of events is the test's, not the
threads'."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from bot.storage import Database, StorageError
from bot.storage.leader import (
    LEADING,
    STANDING_BY,
    TAKING_OVER,
    Leadership,
    SoleProcess,
    timings,
)
from tests.bot_process import wait_until

TAKEOVER = timedelta(seconds=30)


@pytest.fixture
def database(postgres_db: str) -> Iterator[Database]:
    database = Database(postgres_db)
    yield database
    database.close()


def holder(url: str) -> list[int]:
    """The backends holding an advisory lock in ``url``'s database."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database "
            "= (SELECT oid FROM pg_database WHERE datname = current_database())").fetchall()
    return [row[0] for row in rows]


def terminate(url: str, pid: int) -> None:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        # With a timeout it waits until the backend is gone (its locks freed): without one
        # it only signals, and a busy machine let the next step find the lock still held.
        assert connection.execute("SELECT pg_terminate_backend(%s, 10000)",
                                  (pid,)).fetchone() == (True,)


class Moments:
    """A monotonic clock moved by hand: the lease and the settling time pass when the test
    says so, not while the machine is slow."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


SETTLE = timings(TAKEOVER)["settle"]


def test_one_leads_the_other_stands_by_until_it_lets_go(database: Database,
                                                        postgres_db: str) -> None:
    clock = Moments()
    first, second = (Leadership(database, TAKEOVER, name=n, clock=clock)
                     for n in ("first", "second"))
    try:
        first.step()
        second.step()
        assert (first.state, second.state) == (TAKING_OVER, STANDING_BY)
        assert len(holder(postgres_db)) == 1
        clock.advance(SETTLE)  # a leader before it has surely stopped
        first.step()  # the leader's check
        second.step()  # trying again changes nothing while the first holds it
        assert (first.is_leader, second.is_leader) == (True, False)
        first.stop()  # a clean stop closes the session: the lock is free at once
        assert not first.is_leader
        assert holder(postgres_db) == []
        second.step()
        clock.advance(SETTLE)
        second.step()
        assert second.is_leader
    finally:
        first.stop()
        second.stop()


def test_a_leader_whose_session_is_killed_stops_leading_and_another_takes_over(
    database: Database, postgres_db: str, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Moments()
    first, second = (Leadership(database, TAKEOVER, name=n, clock=clock)
                     for n in ("first", "second"))
    caplog.set_level(logging.INFO, logger="bot.storage.leader")
    try:
        first.step()
        second.step()
        clock.advance(SETTLE)
        first.step()
        assert first.is_leader
        (pid,) = holder(postgres_db)
        terminate(postgres_db, pid)  # as a failover or a network cut would
        second.step()  # the lock is free: the second takes it…
        assert second.state == TAKING_OVER  # …but does not lead while the first may
        first.step()  # its check fails: it stops leading, whatever happens next
        assert not first.is_leader
        clock.advance(SETTLE)  # the first's lease is surely over
        second.step()
        assert second.is_leader
        first.step()  # reconnected, it finds the lock taken
        assert (first.is_leader, second.is_leader) == (False, True)
        assert holder(postgres_db) not in ([], [pid])
    finally:
        first.stop()
        second.stop()
    said = [r.getMessage() for r in caplog.records]

    def of(name: str) -> list[str]:
        return [line.split(" (")[0] for line in said if f"({name}" in line]

    assert of("first") == [TAKING_OVER, LEADING, STANDING_BY]
    assert of("second") == [STANDING_BY, TAKING_OVER, LEADING]
    lost = next(line for line in said if "(first;" in line)
    assert "its database connection failed" in lost
    assert "terminat" in lost  # PostgreSQL's own words: the session was terminated


def test_a_leader_whose_check_hangs_stops_leading_when_its_lease_runs_out(
    database: Database, postgres_db: str,
) -> None:
    """The leader's backend is frozen (SIGSTOP): the session is alive, so the server keeps
    the lock, and the check never answers. The leader stops leading anyway (a check that
    hangs is as bad as one that fails: it cannot know whether it still holds the lock),
    and leads again once its session answers, since nobody else could take the lock."""
    leader = Leadership(database, timedelta(seconds=12), name="frozen")  # lease 4 s
    leader.start()
    try:
        wait_until("it leads", lambda: leader.is_leader, timeout=60)
        (pid,) = holder(postgres_db)
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_until("the leader stops leading", lambda: not leader.is_leader, timeout=60)
            assert holder(postgres_db) == [pid]  # the server still has it held
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until("the leader leads again", lambda: leader.is_leader, timeout=60)
    finally:
        leader.stop()


def test_the_leader_session_has_keepalives_on_both_ends(database: Database) -> None:
    """A leader cut off by the network: the server's end of its session gives up after
    its keepalives (set per session), which frees the lock within the takeover."""
    leader = Leadership(database, TAKEOVER, name="kept alive")
    try:
        leader.step()
        connection = leader._connection
        assert connection is not None
        shown = {name: connection.execute(text(f"SHOW {name}")).scalar() for name in (
            "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
            "application_name")}
    finally:
        leader.stop()
    t = timings(TAKEOVER)
    assert shown == {"tcp_keepalives_idle": str(t["idle"]),
                     "tcp_keepalives_interval": str(t["interval"]),
                     "tcp_keepalives_count": str(t["count"]),
                     "application_name": "perfbot leader lock"}
    # The server frees a cut-off leader's lock soon enough for another to lead in time.
    assert t["server_gone"] + t["poll"] + t["settle"] <= TAKEOVER.total_seconds()


def test_a_leader_without_its_database_stops_leading() -> None:
    from tests.postgres_server import PostgresServer

    with PostgresServer() as server:
        url = server.create_database()
        database = Database(url)
        clock = Moments()
        leader = Leadership(database, TAKEOVER, name="alone", clock=clock)
        try:
            leader.step()
            clock.advance(SETTLE)
            leader.step()
            assert leader.is_leader
            server.stop()
            leader.step()
            assert not leader.is_leader
            leader.step()  # the database still gone: it keeps standing by, no exception
            assert not leader.is_leader
        finally:
            leader.stop()
            database.close()


def test_a_second_holder_of_a_sqlite_file_is_refused_until_the_first_lets_go(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "perfbot.db")
    first, second = SoleProcess(path), SoleProcess(path)
    first.start()
    try:
        with pytest.raises(StorageError, match=r"another perfbot run is using the SQLite "
                           r"database .*SQLite is for one process"):
            second.start()
    finally:
        first.stop()
    second.start()  # free once the first is gone
    second.stop()
