"""The audit store on both databases it supports: a real SQLite file and a real PostgreSQL
(Debian's ``postgresql``, started by the test session). The same records go in, the same
come out; outages and bad URLs give an ``StorageError`` that names no password."""

from __future__ import annotations

import importlib.util
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.storage import Database, StorageError
from bot.storage.audit import AuditStore
from tests.postgres_server import PostgresServer
from tests.prometheus_server import free_port

PASSWORD = "s3cret-Pa55"  # must never show in a message
# Times in several zones, with microseconds: each must come back equal, in UTC.
TIMES = [
    datetime(2026, 11, 23, 14, 2, 3, 123456, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("America/New_York")),
    datetime(2026, 6, 1, 23, 59, 59, 999999, tzinfo=ZoneInfo("Asia/Kolkata")),
    datetime(2026, 1, 1, tzinfo=UTC),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    database: str = request.getfixturevalue("postgres_db")
    return database


def test_records_round_trip_with_their_times(url: str) -> None:
    audit = AuditStore(Database(url))
    written = [
        audit.record(at=at, user=f"U{n}", action="acknowledge", target=f"f{n % 2}",
                     allowed=n % 2 == 0, detail=f"détail ✓ {n}")
        for n, at in enumerate(TIMES)
    ]
    rows = audit.recent()
    assert rows == written[::-1]  # every field, ``at`` included
    for row, at in zip(rows, TIMES[::-1], strict=True):
        assert row.at == at and row.at.tzinfo is UTC
        assert row.at.astimezone(at.tzinfo) == at and row.at.microsecond == at.microsecond
    assert [r.user for r in audit.recent(target="f1")] == ["U3", "U1"]
    assert [r.id for r in audit.recent(limit=2)] == [written[3].id, written[2].id]
    audit.database.close()
    # A restart of the bot (another store on the same database) reads the same records.
    reopened = AuditStore(Database(url))
    assert reopened.recent() == rows
    reopened.database.close()


def test_records_from_many_threads_are_all_kept(url: str) -> None:
    audit = AuditStore(Database(url))
    threads, each = 8, 25
    start = threading.Barrier(threads)
    failures: list[BaseException] = []
    at = TIMES[0]

    def press(n: int) -> None:
        start.wait()
        try:
            for i in range(each):
                audit.record(at=at + timedelta(seconds=i), user=f"U{n}", action="resolve",
                             target=f"f-{n}-{i}", allowed=True)
        except BaseException as exc:  # seen by the assertion below, not lost in the thread
            failures.append(exc)

    workers = [threading.Thread(target=press, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    rows = audit.recent(limit=threads * each + 10)
    assert sorted(r.target for r in rows) == sorted(
        f"f-{n}-{i}" for n in range(threads) for i in range(each))
    assert len({r.id for r in rows}) == threads * each
    audit.database.close()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [("user", "U" * 65, "user is 65 characters long; the table keeps at most 64"),
     ("target", "f" * 256, "target is 256 characters long; the table keeps at most 255"),
     ("detail", "a\x00b", "detail holds a NUL character")],
)
def test_what_one_database_would_refuse_both_refuse(
    url: str, field: str, value: str, says: str
) -> None:
    audit = AuditStore(Database(url))
    fields = {"user": "U1", "action": "resolve", "target": "f1", "detail": ""} | {field: value}
    with pytest.raises(StorageError, match=says):
        audit.record(at=TIMES[0], allowed=True, **fields)
    # The longest values that fit are kept whole, on both.
    fits = {"user": "U" * 64, "action": "a" * 32, "target": "f" * 255, "detail": "d" * 5000}
    kept = audit.record(at=TIMES[0], allowed=True, **fits)
    assert audit.recent() == [kept]
    assert (kept.user, kept.target, kept.detail) == (fits["user"], fits["target"], fits["detail"])
    audit.database.close()


# --- PostgreSQL's own failures -------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "says"),
    [(f"postgresql+psycopg://perfbot:{PASSWORD}@127.0.0.1:notaport/perfbot",
      "is not a usable database URL: invalid literal for int"),
     (f"postgresql+nosuchdriver://perfbot:{PASSWORD}@127.0.0.1/perfbot",
      "is not a usable database URL: Can't load plugin"),
     (f"postgresql+psycopg2://perfbot:{PASSWORD}@127.0.0.1/perfbot",
      "needs a database driver that is not installed .*pip install 'perfbot\\[postgres\\]'")],
)
def test_a_bad_postgresql_url_says_what_is_wrong_and_hides_the_password(
    bad: str, says: str
) -> None:
    if "psycopg2" in bad and importlib.util.find_spec("psycopg2") is not None:
        pytest.skip("psycopg2 is installed here: its URL is usable")
    with pytest.raises(StorageError, match=says) as refused:
        AuditStore(Database(bad))
    assert PASSWORD not in str(refused.value)
    assert "perfbot:***@127.0.0.1" in str(refused.value)


def test_an_unreachable_postgresql_gives_a_clear_error_without_the_password() -> None:
    port = free_port()  # nobody listens there
    audit = AuditStore(Database(f"postgresql+psycopg://perfbot:{PASSWORD}@127.0.0.1:{port}/perfbot"))
    for attempt in (audit.recent, lambda: audit.record(
            at=TIMES[0], user="U1", action="resolve", target="f1", allowed=True)):
        with pytest.raises(StorageError) as refused:
            attempt()
        message = str(refused.value)
        assert message.startswith(
            f"cannot open the database at 'postgresql+psycopg://perfbot:***@127.0.0.1:{port}"
            "/perfbot': OperationalError: ")
        assert f'"127.0.0.1", port {port} failed' in message
        assert PASSWORD not in message and "\n" not in message
    audit.database.close()


def test_a_postgresql_outage_is_an_error_and_recording_resumes_after_it() -> None:
    # A cluster of its own, so stopping it disturbs no other test.
    with PostgresServer() as server:
        url = server.create_database(password=PASSWORD)
        audit = AuditStore(Database(url))
        first = audit.record(at=TIMES[0], user="U1", action="acknowledge", target="f1",
                             allowed=True)
        server.stop()
        with pytest.raises(StorageError, match="cannot write to the audit table") as refused:
            audit.record(at=TIMES[1], user="U1", action="resolve", target="f1", allowed=True)
        assert PASSWORD not in str(refused.value)
        with pytest.raises(StorageError, match="cannot read the audit table"):
            audit.recent()
        server.start()
        # The same store, its pooled connections dead: it reconnects by itself.
        third = audit.record(at=TIMES[2], user="U2", action="resolve", target="f1",
                             allowed=False, detail="not allowed")
        assert audit.recent() == [third, first]
        # A restart between two presses, unseen by the store: the next press is kept.
        server.stop()
        server.start()
        fourth = audit.record(at=TIMES[3], user="U1", action="resolve", target="f1",
                              allowed=True)
        assert audit.recent(limit=1) == [fourth]
        audit.database.close()


def test_the_table_is_made_for_postgresql(postgres_db: str) -> None:
    """``user`` (a reserved word) is a real column; ``at`` keeps its zone (timestamptz)."""
    audit = AuditStore(Database(postgres_db))
    audit.record(at=TIMES[0], user="U1", action="escalate", target="f1", allowed=True)
    audit.database.close()
    import psycopg  # installed: the fixture checked

    conninfo = postgres_db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as connection:
        types = dict(connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'actions'").fetchall())
        (user, at) = connection.execute('SELECT "user", at FROM actions').fetchone() or ()
    assert types["user"] == "character varying"
    assert types["at"] == "timestamp with time zone"
    assert types["allowed"] == "boolean"
    assert user == "U1" and at == TIMES[0]
