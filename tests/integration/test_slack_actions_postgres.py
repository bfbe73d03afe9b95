"""Incident buttons, end to end, on a real PostgreSQL: incidents stored in the database
``storage.url`` names, the real Bolt app in HTTP mode sent signed ``block_actions``, and
PostgreSQL itself asked, in plain SQL, what was stored and recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.app import Perfbot
from bot.metrics.demo import DemoBackend
from tests.conftest import DEMO_END
from tests.integration.test_slack_actions import check_acknowledge_and_resolve_at_once
from tests.slack_incidents import ADMIN, STRANGER, Served, acts_left, perfbot_on, standin
from tests.slack_standin import SlackStandIn


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as running:
        yield running


@pytest.fixture
def perfbot(postgres_db: str, demo_backend: DemoBackend) -> Perfbot:
    return perfbot_on(postgres_db, demo_backend)


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg  # installed: the postgres_db fixture checked

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return connection.execute(sql).fetchall()


def test_an_admin_press_and_a_refused_one_are_stored_in_postgresql(
    perfbot: Perfbot, slack: SlackStandIn, postgres_db: str,
) -> None:
    with Served(perfbot, slack) as served:
        opened = served.open()
        assert served.press(STRANGER, "resolve", opened).status_code == 200
        assert slack.calls("chat.update") == []  # refused: the message is untouched
        assert served.press(ADMIN, "acknowledge", opened).status_code == 200
        assert acts_left(served.shown(opened)["blocks"]) == [
            "snooze", "resolve", "escalate", "silence", "show_chart"]
        now = served.perfbot.now()
        # The bot reads back what it wrote, newest first.
        assert [(r.user, r.allowed) for r in served.audit.recent()] == [
            (ADMIN, True), (STRANGER, False)]
    assert now > DEMO_END  # the post and its chart took a second each on the fake clock
    assert query(postgres_db, 'SELECT "user", action, target, allowed, detail, at '
                              "FROM actions ORDER BY id") == [
        (STRANGER, "resolve", "INC-1", False, "not allowed", now),
        (ADMIN, "acknowledge", "INC-1", True, "admin", now),
    ]
    assert query(postgres_db, "SELECT id, state, version > 0 FROM incidents") == [
        (1, "acknowledged", True)]
    assert query(postgres_db, 'SELECT kind, "user" FROM timeline WHERE incident_id = 1 '
                              "ORDER BY id") == [("opened", None), ("acknowledge", ADMIN)]
    # What was decided for Slack was all carried out: the post, the chart, one edit.
    assert query(postgres_db, "SELECT key, sent_at IS NOT NULL FROM outbox ORDER BY id") == [
        ("INC-1:post", True), ("INC-1:chart", True), (f"INC-1:update:{opened.version + 1}",
                                                      True)]


def test_acknowledge_and_resolve_pressed_at_the_same_moment_on_postgresql(
    perfbot: Perfbot, slack: SlackStandIn, postgres_db: str,
) -> None:
    with Served(perfbot, slack, inline=False) as served:
        check_acknowledge_and_resolve_at_once(served, slack)
    (state, resolved_by), = query(postgres_db, "SELECT state, data::json->>'resolved_by' "
                                               "FROM incidents")
    assert (state, resolved_by) == ("resolved", "U3")
    assert sorted(query(postgres_db, "SELECT action FROM actions")) == [
        ("acknowledge",), ("resolve",)]
