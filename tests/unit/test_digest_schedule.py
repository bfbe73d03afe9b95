"""Digest ``when`` parsing and occurrences, across Europe/Berlin's 2026 clock changes
(29 March: 02:00 CET jumps to 03:00 CEST; 25 October: 03:00 CEST falls back to 02:00 CET)."""

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.digests.schedule import USAGE, last_occurrence, next_occurrence, parse_when

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_parse_daily_and_weekly_with_and_without_zone() -> None:
    daily = parse_when("daily 09:00 Europe/Berlin")
    assert (daily.kind, daily.at, daily.zone, daily.day) == ("daily", time(9), BERLIN, None)
    weekly = parse_when("weekly Mon 9:30", default_zone="America/New_York")
    assert (weekly.kind, weekly.at, weekly.zone, weekly.day) == (
        "weekly", time(9, 30), "America/New_York", "mon")
    assert parse_when(weekly.text) == weekly


@pytest.mark.parametrize("text", [
    "", "hourly 09:00", "daily", "daily 25:00", "daily 9am", "weekly 09:00",
    "weekly funday 09:00", "daily 09:00 Mars/Olympus", "daily 09:00 Europe/Berlin extra",
])
def test_bad_when_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_when(text)
    message = str(error.value)
    assert USAGE in message or "IANA time zone" in message


def test_weekly_without_day_names_the_day() -> None:
    with pytest.raises(ValueError, match="needs a day"):
        parse_when("weekly 09:00")


@pytest.mark.parametrize(("text", "now", "last", "following"), [
    # 09:00 daily: CET (UTC+1) before the spring change, CEST (UTC+2) after.
    ("daily 09:00", utc(2026, 3, 29, 12), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)),
    ("daily 09:00", utc(2026, 3, 29, 6, 59), utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),
    # 02:30 does not exist on 29 March: the first instant after the gap, 03:00 CEST.
    ("daily 02:30", utc(2026, 3, 29, 0, 59), utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1)),
    ("daily 02:30", utc(2026, 3, 29, 1), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)),
    # 02:30 happens twice on 25 October: its first occurrence, 02:30 CEST (00:30 UTC).
    ("daily 02:30", utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 0, 30),
     utc(2026, 10, 26, 1, 30)),
    ("daily 09:00", utc(2026, 10, 25, 7, 30), utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
    # Both changes fall on Sundays.
    ("weekly sun 02:30", utc(2026, 3, 29, 6), utc(2026, 3, 29, 1), utc(2026, 4, 5, 0, 30)),
    ("weekly sun 02:30", utc(2026, 10, 25, 6), utc(2026, 10, 25, 0, 30),
     utc(2026, 11, 1, 1, 30)),
    ("weekly sun 09:00", utc(2026, 3, 29, 6), utc(2026, 3, 22, 8), utc(2026, 3, 29, 7)),
    ("weekly sun 09:00", utc(2026, 10, 25, 9), utc(2026, 10, 25, 8), utc(2026, 11, 1, 8)),
])
def test_occurrences_across_berlin_changes(
    text: str, now: datetime, last: datetime, following: datetime
) -> None:
    when = parse_when(text, default_zone=BERLIN)
    assert last_occurrence(when, now) == last
    assert next_occurrence(when, now) == following


def test_an_occurrence_is_its_own_last_and_not_its_next() -> None:
    when = parse_when("weekly mon 09:00 UTC")
    at = utc(2026, 12, 7, 9)
    assert last_occurrence(when, at) == at
    assert next_occurrence(when, at) == at + timedelta(days=7)
    assert last_occurrence(when, at - timedelta(seconds=1)) == at - timedelta(days=7)
