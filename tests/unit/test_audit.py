"""The audit record in a real SQLite file: created on first use, newest first, times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Perfbot
from bot.clock import FakeClock
from bot.config import Settings, StorageSettings
from bot.metrics.demo import DemoBackend
from bot.storage import Database, StorageError
from bot.storage.audit import AuditStore

AT = datetime(2026, 11, 23, 14, 2, tzinfo=ZoneInfo("Europe/Berlin"))


def store(tmp_path: Path) -> AuditStore:
    return AuditStore(Database(f"sqlite:///{tmp_path / 'audit.db'}"))


def test_the_table_is_created_on_first_use(tmp_path: Path) -> None:
    audit = store(tmp_path)
    assert not (tmp_path / "audit.db").exists()
    assert audit.recent() == []
    assert (tmp_path / "audit.db").exists()
    audit.database.close()


def test_records_come_back_newest_first_in_utc(tmp_path: Path) -> None:
    audit = store(tmp_path)
    first = audit.record(at=AT, user="U1", action="acknowledge", target="f1", allowed=True,
                         detail="admin")
    audit.record(at=AT + timedelta(minutes=5), user="U2", action="resolve", target="f1",
                 allowed=False, detail="not allowed")
    audit.record(at=AT + timedelta(minutes=9), user="U1", action="resolve", target="f2",
                 allowed=True)
    rows = audit.recent()
    assert [(r.user, r.action, r.target, r.allowed) for r in rows] == [
        ("U1", "resolve", "f2", True), ("U2", "resolve", "f1", False),
        ("U1", "acknowledge", "f1", True)]
    assert rows[-1] == first
    assert rows[-1].at == AT and rows[-1].at.tzinfo is UTC
    assert [r.detail for r in audit.recent(target="f1")] == ["not allowed", "admin"]
    assert len(audit.recent(limit=1)) == 1
    audit.database.close()
    # Another store on the same file (a restart) sees the same record.
    reopened = store(tmp_path)
    assert [r.id for r in reopened.recent()] == [r.id for r in rows]
    reopened.database.close()


def test_a_time_without_a_zone_is_refused(tmp_path: Path) -> None:
    audit = store(tmp_path)
    with pytest.raises(ValueError, match="time zone"):
        audit.record(at=AT.replace(tzinfo=None), user="U1", action="resolve", target="f1",
                     allowed=True)
    audit.database.close()


def test_bad_urls_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a usable database URL"):
        AuditStore(Database("perfbot.db"))
    missing = AuditStore(Database(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"))
    with pytest.raises(StorageError, match="cannot open the database"):
        missing.recent()
    missing.database.close()


def test_the_composition_root_builds_it_from_storage_url(
    tmp_path: Path, demo_backend: DemoBackend
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    perfbot = Perfbot(settings=Settings(storage=StorageSettings(url=url)),
                      backend=demo_backend, clock=FakeClock(AT.astimezone(UTC)))
    perfbot.audit.record(at=perfbot.now(), user="U1", action="escalate", target="f3",
                         allowed=True)
    assert (tmp_path / "bot.db").exists()
    assert perfbot.audit is perfbot.audit
    perfbot.audit.database.close()


def test_a_sqlite_busy_timeout_in_the_url_is_kept(tmp_path: Path) -> None:
    """``storage.url``'s own ``?timeout=`` decides how long a writer waits for another's
    lock; the default wait (30 s) applies only when the URL says none."""
    import sqlite3
    import threading

    path = tmp_path / "audit.db"
    audit = AuditStore(Database(f"sqlite:///{path}?timeout=0.2"))
    audit.recent()  # the table
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")  # another process, mid-write
    released = threading.Timer(3, locker.execute, args=("ROLLBACK",))
    released.start()
    try:
        with pytest.raises(StorageError, match="database is locked"):
            audit.record(at=AT, user="U1", action="resolve", target="f1", allowed=True)
    finally:
        released.join()
        locker.close()
    assert audit.recent() == []  # and once the lock is gone, it works
    audit.record(at=AT, user="U1", action="resolve", target="f1", allowed=True)
    assert len(audit.recent()) == 1
    audit.database.close()
