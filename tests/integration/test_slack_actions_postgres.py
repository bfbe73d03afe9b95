"""Alert buttons, end to end, recorded in a real PostgreSQL: the real Bolt app in HTTP mode is
sent signed ``block_actions`` and writes its audit records to the database ``storage.url``
names, where PostgreSQL itself is asked for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.app import Perfbot
from bot.clock import FakeClock
from bot.config import Settings, SlackSettings, StorageSettings
from bot.metrics.demo import DemoBackend
from tests.conftest import DEMO_END
from tests.integration.test_slack_actions import (
    ADMIN,
    FINDING,
    GROUP,
    STRANGER,
    Served,
    acts_left,
    slack,  # noqa: F401  # the stand-in fixture, shared
)
from tests.slack_standin import SlackStandIn


@pytest.fixture
def served(
    slack: SlackStandIn,  # noqa: F811
    demo_backend: DemoBackend, postgres_db: str,
) -> Iterator[Served]:
    settings = Settings(
        timezone="Europe/Berlin",
        storage=StorageSettings(url=postgres_db),
        slack=SlackSettings(admins=[ADMIN], allowed_groups=[GROUP]),
    )
    perfbot = Perfbot(settings=settings, backend=demo_backend, clock=FakeClock(DEMO_END))
    with Served(perfbot, slack) as bot:
        yield bot


def test_an_admin_press_and_a_refused_one_are_recorded_in_postgresql(
    served: Served, slack: SlackStandIn, postgres_db: str  # noqa: F811
) -> None:
    assert served.press(STRANGER, "resolve").status_code == 200
    assert slack.calls("chat.update") == []  # refused: the alert is untouched
    assert served.press(ADMIN, "acknowledge").status_code == 200
    assert acts_left(slack.message("C1", served.ts)["blocks"]) == [
        "snooze", "resolve", "escalate", "show_chart"]
    import psycopg  # installed: the postgres_db fixture checked

    conninfo = postgres_db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as connection:
        rows = connection.execute(
            'SELECT "user", action, target, allowed, detail, at FROM actions ORDER BY id'
        ).fetchall()
    assert rows == [
        (STRANGER, "resolve", FINDING, False, "not allowed", DEMO_END),
        (ADMIN, "acknowledge", FINDING, True, "admin", DEMO_END),
    ]
    # The bot reads back what it wrote, newest first.
    assert [(r.user, r.allowed) for r in served.audit.recent()] == [
        (ADMIN, True), (STRANGER, False)]
