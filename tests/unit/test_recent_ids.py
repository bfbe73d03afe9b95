"""Repeated Slack deliveries are recognised for ten minutes, then forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.slack.app import RecentIds


def test_a_delivery_is_a_repeat_within_the_ttl_and_new_after_it() -> None:
    now = [datetime(2026, 11, 24, 12, 0, tzinfo=UTC)]
    recent = RecentIds(lambda: now[0], ttl=timedelta(minutes=10))
    assert recent.first_time("event:Ev1")
    assert not recent.first_time("event:Ev1")
    now[0] += timedelta(minutes=6)
    assert recent.first_time("event:Ev2")
    now[0] += timedelta(minutes=5)  # Ev1 is 11 minutes old, Ev2 5
    assert recent.first_time("event:Ev1")
    assert not recent.first_time("event:Ev2")
    now[0] += timedelta(minutes=10)
    assert recent.first_time("event:Ev2") and recent.first_time("event:Ev3")
