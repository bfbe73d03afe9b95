"""Which waiting posts make an alert storm, or join one: decided without I/O."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.incidents.lifecycle import Incident
from bot.notify.storms import Storm, place
from tests.incident_factory import AT, incident


def waiting(*seconds: int) -> list[tuple[datetime, Incident]]:
    return [(AT + timedelta(seconds=s), incident(n)) for n, s in enumerate(seconds, start=1)]


def names(incidents: list[Incident]) -> list[str]:
    return [i.name for i in incidents]


def test_more_than_the_threshold_within_a_minute_is_a_storm() -> None:
    placed = place(waiting(0, 1, 2, 3, 4, 59), None, 5)
    assert names(placed.new) == ["INC-1", "INC-2", "INC-3", "INC-4", "INC-5", "INC-6"]
    assert placed.started == AT and placed.join == []
    assert place(waiting(0, 1, 2, 3, 4), None, 5).new == []


def test_posts_spread_over_more_than_a_minute_are_no_storm() -> None:
    assert place(waiting(0, 20, 40, 61, 80, 100), None, 5).new == []


def test_posts_of_a_storms_minute_join_it_and_later_ones_do_not() -> None:
    storm = Storm(channel="C1", ts="1.2", started=AT)
    placed = place(waiting(30, 60, 61), storm, 5)
    assert names(placed.join) == ["INC-1", "INC-2"] and placed.new == []
    assert not storm.over(AT + timedelta(minutes=2))
    assert storm.over(AT + timedelta(minutes=2, seconds=1))
