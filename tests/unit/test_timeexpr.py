"""Time expressions: windows, moments, shifts and problems, at a fixed Tuesday 10:00 in Berlin."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.ask.parsing.timeexpr import TimeHit, find_times
from bot.ask.timerange import (
    Shift,
    TimeRange,
    around,
    day_label,
    last,
    previous,
    shifted,
    span_text,
    this_month,
)

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)  # a Tuesday


def at(day: int, hour: int = 0, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def only(text: str, now: datetime = NOW) -> TimeHit:
    hits = find_times(text, now, TZ)
    assert len(hits) == 1, hits
    return hits[0]


@pytest.mark.parametrize(
    ("text", "label", "start", "end"),
    [
        ("last 24h", "last 24h", at(23, 10), NOW),
        ("over the last 24 hours", "last 24h", at(23, 10), NOW),
        ("past 3 days", "last 3d", at(21, 10), NOW),
        ("in the last hour", "last hour", at(24, 9), NOW),
        ("the past 90 minutes", "last 90m", at(24, 8, 30), NOW),
        ("last 2 weeks", "last 2w", at(10, 10), NOW),
        ("past week", "last 7d", at(17, 10), NOW),
        ("past month", "last 30d", at(25, 10, month=10), NOW),
        ("last 3 months", "last 3 months", at(24, 10, month=8), NOW),
        ("24h", "last 24h", at(23, 10), NOW),
        ("for 45 minutes", "last 45m", at(24, 9, 15), NOW),
        ("right now", "right now", at(24, 9, 45), NOW),
        ("currently", "right now", at(24, 9, 45), NOW),
        ("today", "today", at(24), NOW),
        ("so far today", "today", at(24), NOW),
        ("yesterday", "yesterday", at(23), at(24)),
        ("this week", "this week", at(23), NOW),
        ("last week", "last week", at(16), at(23)),
        ("this month", "this month", at(1), NOW),
        ("last month", "last month", at(1, month=10), at(1)),
        ("over the weekend", "weekend of Sat 21 Nov", at(21), at(23)),
        ("this morning", "this morning", at(24, 6), NOW),
        ("last night", "last night", at(23, 18), at(24, 6)),
        ("on monday", "yesterday", at(23), at(24)),
        ("on tuesday", "today", at(24), NOW),
        ("last tuesday", "Tue 17 Nov", at(17), at(18)),
        ("friday", "Fri 20 Nov", at(20), at(21)),
        ("since tuesday", "since Tue 17 Nov", at(17), NOW),
        ("since yesterday", "since yesterday", at(23), NOW),
        ("since 9am", "since today 09:00", at(24, 9), NOW),
        ("since 2026-11-20 14:00", "since Fri 20 Nov 14:00", at(20, 14), NOW),
        ("since last week", "since last week", at(16), NOW),
        ("since october", "since October 2026", at(1, month=10), NOW),
        ("in october", "October 2026", at(1, month=10), at(1)),
        ("between 08:00 and 09:30 today", "08:00–09:30 today", at(24, 8), at(24, 9, 30)),
        ("between 12:00 and 14:00", "12:00–14:00 yesterday", at(23, 12), at(23, 14)),
        ("from 9am to 5pm yesterday", "09:00–17:00 yesterday", at(23, 9), at(23, 17)),
        ("from 9 to 5pm yesterday", "09:00–17:00 yesterday", at(23, 9), at(23, 17)),
        ("yesterday from 22:00 to 02:00", "22:00–02:00 yesterday", at(23, 22), at(24, 2)),
        ("from 9 to 5 yesterday", "09:00–17:00 yesterday", at(23, 9), at(23, 17)),
        ("from 22 to 2 yesterday", "22:00–02:00 yesterday", at(23, 22), at(24, 2)),
        ("2026-11-20T14:00", "14:00–15:00 Fri 20 Nov", at(20, 14), at(20, 15)),
        ("12:00-14:00 on friday", "12:00–14:00 Fri 20 Nov", at(20, 12), at(20, 14)),
        ("between 9am and noon today", "09:00–12:00 today", at(24, 9), NOW),
        ("from nov 1 to nov 15", "Sun 1 Nov – Sun 15 Nov", at(1), at(16)),
        ("from monday until now", "since yesterday", at(23), NOW),
        ("2026-11-20", "Fri 20 Nov", at(20), at(21)),
        ("on Nov 20", "Fri 20 Nov", at(20), at(21)),
        ("20th of november", "Fri 20 Nov", at(20), at(21)),
        ("dec 25", "Thu 25 Dec 2025", at(25, month=12, year=2025), at(26, month=12, year=2025)),
        ("2026-11-20 14:00", "14:00–15:00 Fri 20 Nov", at(20, 14), at(20, 15)),
        ("yesterday at 3pm", "15:00–16:00 yesterday", at(23, 15), at(23, 16)),
        ("at 14:00", "14:00–15:00 yesterday", at(23, 14), at(23, 15)),
    ],
)
def test_windows(text: str, label: str, start: datetime, end: datetime) -> None:
    hit = only(text)
    assert hit.problem is None
    assert hit.range is not None
    assert (hit.range.label, hit.range.start, hit.range.end) == (label, start, end)
    assert text[hit.start : hit.end] == hit.text  # the parser removes exactly this span


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tomorrow", "future"),
        ("next week", "future"),
        ("in the next 2 hours", "future"),
        ("2027-01-01", "future"),
        ("between 12:00 and 14:00 today", "future"),
        ("feb 30", "not a date"),
        ("2026-13-01", "not a date"),
        ("this afternoon", "not started"),
        ("between 25:00 and 26:00", "not a time"),
        ("last 9999 days", "longer than"),
        ("last 0 hours", "empty"),
    ],
)
def test_problems_are_reported_not_guessed(text: str, problem: str) -> None:
    hit = only(text)
    assert hit.range is None
    assert hit.problem is not None and problem in hit.problem


@pytest.mark.parametrize(
    ("text", "delta", "months", "label"),
    [
        ("yesterday", timedelta(days=1), 0, "a day earlier"),
        ("last week", timedelta(days=7), 0, "a week earlier"),
        ("last month", timedelta(0), 1, "a month earlier"),
        ("a week ago", timedelta(days=7), 0, "a week earlier"),
        ("3 days ago", timedelta(days=3), 0, "3 days earlier"),
        ("an hour ago", timedelta(hours=1), 0, "an hour earlier"),
        ("2 months ago", timedelta(0), 2, "2 months earlier"),
        ("the week before", timedelta(days=7), 0, "a week earlier"),
        ("the day before", timedelta(days=1), 0, "a day earlier"),
    ],
)
def test_comparison_references_carry_a_shift(
    text: str, delta: timedelta, months: int, label: str
) -> None:
    hit = only(text)
    assert hit.shift == Shift(delta=delta, months=months, label=label)


def test_previous_period_is_flagged() -> None:
    assert only("the previous period").previous
    assert only("before that").previous


def test_several_expressions_come_back_in_order_without_overlap() -> None:
    text = "p95 today compared to yesterday and since 2026-11-20 14:00"
    hits = find_times(text, NOW, TZ)
    assert [h.text for h in hits] == ["today", "yesterday", "since 2026-11-20 14:00"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(hits))


def test_words_that_are_not_times_are_left_alone() -> None:
    for text in ["top 5 slowest", "cost per 1k requests", "p99 over 500ms", "5xx errors",
                 "the market", "sunshine", "the may release", "checkout"]:  # fmt: skip
        assert find_times(text, NOW, TZ) == [], text


def test_rolling_windows_are_absolute_across_dst() -> None:
    # 25 Oct 2026: Berlin falls back an hour at 03:00, so that day has 25 hours.
    now = datetime(2026, 10, 25, 12, 0, tzinfo=TZ)
    window = last(timedelta(hours=24), now, TZ)
    assert window.span == timedelta(hours=24)
    assert window.start.hour == 13  # 13:00 the day before, local time


def test_day_shifts_keep_the_time_of_day_across_dst() -> None:
    now = datetime(2026, 10, 26, 12, 0, tzinfo=TZ)
    today = only("today", now).range
    assert today is not None
    moved = shifted(today, Shift(delta=timedelta(days=1), label="a day earlier"))
    assert (moved.start.hour, moved.end.hour) == (0, 12)
    assert moved.label == "today, a day earlier"


def test_month_shift_keeps_the_span_at_a_month_end() -> None:
    window = TimeRange(start=at(30, 12, month=3), end=at(31, 12, month=3), label="x")
    moved = shifted(window, Shift(months=1, label="a month earlier"))
    assert moved.end == at(28, 12, month=2)
    assert moved.span == window.span


def test_previous_is_the_equal_span_just_before() -> None:
    window = last(timedelta(hours=6), NOW, TZ)
    before = previous(window)
    assert (before.start, before.end) == (NOW - timedelta(hours=12), NOW - timedelta(hours=6))
    assert before.label == "the 6h before"


def test_around_caps_at_a_day_and_at_now() -> None:
    spans = around(at(20, 14), NOW, TZ)
    assert spans is not None
    before, after = spans
    assert (before.start, before.end, after.end) == (at(19, 14), at(20, 14), at(21, 14))
    recent = around(NOW - timedelta(hours=2), NOW, TZ)
    assert recent is not None and recent[1].end == NOW and recent[0].span == timedelta(hours=2)
    assert around(NOW, NOW, TZ) is None


def test_this_month_on_its_first_instant_falls_back_to_last_month() -> None:
    window = this_month(at(1, month=12), TZ)
    assert (window.start, window.end, window.label) == (at(1), at(1, month=12), "last month")


def test_labels() -> None:
    today = NOW.date()
    assert day_label(today, today) == "today"
    assert day_label(at(23).date(), today) == "yesterday"
    assert day_label(at(20).date(), today) == "Fri 20 Nov"
    assert day_label(at(3, month=1).date(), today) == "Sat 3 Jan"
    assert day_label(at(25, month=12, year=2025).date(), today) == "Thu 25 Dec 2025"
    assert [span_text(timedelta(hours=h)) for h in (24, 48, 6)] == ["24h", "2d", "6h"]
    assert span_text(timedelta(minutes=90)) == "1h30m"


def test_naive_now_is_read_as_utc() -> None:
    hit = only("today", datetime(2026, 11, 24, 9, 0))  # 09:00 UTC = 10:00 in Berlin
    assert hit.range is not None and hit.range.end == NOW


def test_random_text_never_raises() -> None:
    rng = random.Random(11)
    pieces = ["last", "since", "between", "and", "from", "to", "12:00", "9am", "monday",
              "2026-02-30", "nov", "31st", "ago", "week", "month", "before", "now", "-", "99",
              "0", "pm", "yesterday", "at", "on", "the", "weekend", "next", "in"]  # fmt: skip
    for _ in range(500):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
        for hit in find_times(text, NOW, TZ):
            assert hit.range is None or hit.range.end <= NOW, text
