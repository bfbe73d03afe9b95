"""Every incident action is recorded, or the presser is told it was not: a store that is
locked (PostgreSQL ``LOCK TABLE``, SQLite ``BEGIN EXCLUSIVE``) or read-only makes a press
end with the presser told "Nothing changed", the message as it was, the incident as it
was, and no record half-made. The real Bolt app over signed HTTP, the Slack stand-in, a
real PostgreSQL and real SQLite files; ``perfbot run`` as a process for the start check."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from slack_sdk.signature import SignatureVerifier

from bot.incidents.lifecycle import Incident
from bot.metrics.demo import DemoBackend
from bot.storage import Database
from tests.bot_process import REPO, SECRET, minutely_policy, write_config
from tests.integration.test_slack_actions import unchanged
from tests.postgres_server import PostgresServer
from tests.slack_bot import command_body
from tests.slack_incidents import (
    ADMIN,
    MEMBER,
    STRANGER,
    Served,
    acts_left,
    perfbot_on,
    shows,
    standin,
)
from tests.slack_standin import TOKEN, SlackStandIn

NOTHING_CHANGED = "Nothing changed: I could not record that you asked to resolve INC-1"
UNRECORDED = "Nothing changed, and I could not record this attempt"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as running:
        yield running


def told(slack: SlackStandIn) -> dict[str, str]:
    """What each presser was told privately, by user."""
    return {c.args["user"]: c.args["text"]
            for c in slack.calls("chat.postEphemeral", delivered=True)}


def check_nothing_changed(served: Served, slack: SlackStandIn, opened: Incident) -> None:
    """An admin's Resolve and a stranger's (refused) Resolve on a store that cannot record:
    each presser is told, and nothing changed anywhere."""
    updates = len(slack.calls("chat.update"))
    assert served.press(ADMIN, "resolve", opened).status_code == 200
    assert served.press(STRANGER, "resolve", opened).status_code == 200
    said = told(slack)
    assert said[ADMIN].startswith(NOTHING_CHANGED), said
    assert "may resolve this alert" in said[STRANGER] and UNRECORDED in said[STRANGER], said
    assert len(slack.calls("chat.update")) == updates


def test_a_locked_audit_table_on_postgresql_ends_the_press_and_tells_the_presser(
    postgres_db: str, demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    import psycopg  # installed: the postgres_db fixture checked

    with Served(perfbot_on(postgres_db, demo_backend), slack) as served:
        opened = served.open()
        with psycopg.connect(postgres_db.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=False) as locker:
            # Another session holds the audit table: before, the press's INSERT waited forever.
            locker.execute("LOCK TABLE actions IN ACCESS EXCLUSIVE MODE")
            check_nothing_changed(served, slack, opened)
            locker.rollback()
        unchanged(served, opened)
        assert served.audit.recent() == []
        # Once the lock is gone the same press goes through.
        assert served.press(ADMIN, "resolve", opened).status_code == 200
        assert served.incident(opened.id).resolved_at is not None
        assert [(r.user, r.allowed) for r in served.audit.recent()] == [(ADMIN, True)]


@pytest.mark.parametrize("lock", ["IMMEDIATE", "EXCLUSIVE"])
def test_a_sqlite_file_locked_by_another_connection_ends_the_press_and_tells_the_presser(
    tmp_path: Path, demo_backend: DemoBackend, slack: SlackStandIn, lock: str,
) -> None:
    path = tmp_path / "perfbot.db"
    # A short busy timeout (the URL's own): the default waits 30 s a try.
    with Served(perfbot_on(f"sqlite:///{path}?timeout=1", demo_backend), slack) as served:
        opened = served.open()
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute(f"BEGIN {lock}")
            if lock == "IMMEDIATE":  # another writer: the incident is read, not written
                check_nothing_changed(served, slack, opened)
            else:  # not even read: each presser is told, nothing else happens
                for user in (ADMIN, STRANGER):
                    assert served.press(user, "resolve", opened).status_code == 200
                assert set(told(slack)) == {ADMIN, STRANGER}
                assert all(text.startswith("Nothing changed: I could not read `INC-1`")
                           for text in told(slack).values())
                assert slack.calls("chat.update") == []
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        unchanged(served, opened)
        assert served.audit.recent() == []


def test_a_read_only_sqlite_file_ends_the_press_and_tells_the_presser(
    tmp_path: Path, demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    path = tmp_path / "perfbot.db"
    with Served(perfbot_on(f"sqlite:///{path}", demo_backend), slack) as served:
        opened = served.open()
    # The same file, opened read-only (chmod does not stop root, who runs these tests;
    # SQLite's mode=ro refuses every write as a read-only file or mount does).
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    with Served(perfbot_on(read_only, demo_backend), slack) as served:
        check_nothing_changed(served, slack, opened)
        unchanged(served, opened)
        assert served.audit.recent() == []


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_perfbot_run_refuses_to_start_on_a_store_it_cannot_write(
    tmp_path: Path, slack: SlackStandIn, store: str, request: pytest.FixtureRequest,
) -> None:
    if store == "sqlite":
        path = tmp_path / "perfbot.db"
        Database(f"sqlite:///{path}").engine().dispose()  # migrated: only writing is refused
        url, why = f"sqlite:///file:{path}?mode=ro&uri=true", "readonly database"
    else:
        url = request.getfixturevalue("postgres_db")
        Database(url).engine().dispose()
        import psycopg  # installed: the postgres_db fixture checked

        plain = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as connection:  # a read-only replica's way
            name = plain.rsplit("/", 1)[1]
            connection.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        why = "cannot execute INSERT in a read-only transaction"
    config = write_config(tmp_path / "perfbot.yaml", url, minutely_policy())
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "PYTHONPATH": str(REPO),
           "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "bot", "run", "--config", str(config), "--http", "0",
           "--host", "127.0.0.1", "--slack-api-url", slack.api_url]
    done = subprocess.run(run, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "perfbot: cannot write to the database at" in done.stderr
    assert why in done.stderr
    assert "give perfbot a database it can write (storage.url)" in done.stderr
    assert "Traceback" not in done.stderr
    assert slack.calls("auth.test") == []  # refused before connecting to Slack


def test_an_acknowledge_pressed_on_a_stale_copy_after_a_resolve_changes_nothing(
    tmp_path: Path, demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    """Conflicting presses: the message is drawn from what was recorded, never from the
    copy in the button's payload; a late Acknowledge does not un-resolve."""
    with Served(perfbot_on(f"sqlite:///{tmp_path / 'perfbot.db'}", demo_backend),
                slack) as served:
        opened = served.open()
        stale = served.shown(opened)  # the member's client still shows this one
        assert "acknowledge" in acts_left(stale["blocks"])
        assert served.press(ADMIN, "resolve", opened).status_code == 200
        resolved = served.incident(opened.id)
        after_resolve = served.shown(resolved)
        assert shows(after_resolve, resolved) and "acknowledge" not in acts_left(
            after_resolve["blocks"])
        assert served.press(MEMBER, "acknowledge", opened, seen=stale).status_code == 200
        assert served.incident(opened.id) == resolved
        assert served.shown(resolved) == after_resolve  # no buttons back
        assert len(slack.calls("chat.update")) == 1
        assert told(slack)[MEMBER].startswith("INC-1 is already resolved")
        late, first = served.audit.recent()
        assert (first.user, first.action, first.allowed) == (ADMIN, "resolve", True)
        assert (late.user, late.action, late.allowed) == (MEMBER, "acknowledge", False)
        assert late.detail.startswith("INC-1 is already resolved")


def test_perfbot_run_on_the_demo_records_what_people_did_at_the_real_time(
    tmp_path: Path, slack: SlackStandIn,
) -> None:
    """The demo holds its DATA time still; what people do is recorded at the real time it
    happened (the audit's ``at`` is wall time), each row its own."""
    path = tmp_path / "perfbot.db"
    config = tmp_path / "perfbot.yaml"
    config.write_text(yaml.safe_dump({
        "metrics": {"backend": "demo", "demo_days": 3}, "storage": {"url": f"sqlite:///{path}"},
        "slack": {"admins": [ADMIN]}}), encoding="utf-8")
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "PYTHONPATH": str(REPO),
           "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--http", "0",
         "--host", "127.0.0.1", "--slack-api-url", slack.api_url, "--no-loop"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    spans: list[tuple[datetime, datetime]] = []
    try:
        assert bot.stdout is not None
        port = next(int(line.rsplit(":", 1)[1].split("/")[0]) for line in bot.stdout
                    if "HTTP mode on" in line)
        for service in ("orders", "search"):
            before = datetime.now(UTC)
            body = command_body(f"silence {service} 1h deploy", slack, channel="C1",
                                user=ADMIN)
            stamp = str(int(time.time()))
            signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp,
                                                                     body=body)
            answer = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                                headers={"Content-Type": "application/x-www-form-urlencoded",
                                         "X-Slack-Request-Timestamp": stamp,
                                         "X-Slack-Signature": signature}, timeout=30)
            assert answer.status_code == 200
            slack.wait_for("response_url", count=len(spans) + 1)
            spans.append((before, datetime.now(UTC)))
            time.sleep(1.1)  # a second apart: the rows must say so
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.communicate(timeout=60)
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT at, action, allowed FROM actions ORDER BY id").fetchall()
    assert [(action, bool(allowed)) for _, action, allowed in rows] == [("silence", True)] * 2
    for (at, _, _), (before, after) in zip(rows, spans, strict=True):
        recorded = datetime.fromisoformat(at).replace(tzinfo=UTC)
        assert before <= recorded <= after


def test_a_stopped_postgresql_ends_the_press_and_tells_the_presser(
    demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    with PostgresServer() as server:  # its own cluster: this one is stopped mid-test
        url = server.create_database()
        with Served(perfbot_on(url, demo_backend), slack) as served:
            opened = served.open()
            server.stop()
            for user in (ADMIN, STRANGER):
                assert served.press(user, "resolve", opened).status_code == 200
            said = told(slack)
            assert set(said) == {ADMIN, STRANGER}
            assert all(text.startswith("Nothing changed: I could not read `INC-1`")
                       for text in said.values()), said
            assert slack.calls("chat.update") == []
            server.start()
            unchanged(served, opened)
            assert served.audit.recent() == []
