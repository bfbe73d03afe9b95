"""Time expressions in questions → tz-aware windows. Pure: the caller passes ``now`` and ``tz``.

``find_times(text, now, tz)`` scans normalised question text and returns every time expression
it recognises, with its character span, so the parser can remove them before it looks for
endpoint names, and decide which one is the main window and which one a comparison.

Forms understood (all in the asker's time zone, all results tz-aware):

* rolling spans: "last 24h", "past 3 days", "in the last hour", "over the past 90 minutes",
  "24h", "last 2 weeks", "past week" (7 days), "past month" (30 days), "last 3 months";
* "right now", "now", "currently", "at the moment" → the last 15 minutes;
* calendar periods: "today", "yesterday", "this week" (since Monday 00:00), "last week" (the
  previous Monday–Sunday), "this month", "last month", "this/last weekend", "this morning",
  "this afternoon", "this evening", "last night";
* days: "on monday"/"monday"/"this monday" (the most recent Monday, today included),
  "last monday" (the most recent one before today), "2026-11-20", "Nov 20", "20th of November";
* "since tuesday", "since yesterday", "since 9am", "since 2026-11-20 14:00", "since last week";
* clock and date ranges: "between 12:00 and 14:00 today", "from 9am to 5pm yesterday",
  "12:00-14:00", "from nov 1 to nov 15" (whole days, both included), "from monday until now";
* moments: "2026-11-20 14:00", "yesterday at 3pm", "at 14:00" (the hour from that time when
  used as a window; the instant for "before and after ...");
* comparison references: "a week ago", "3 days ago" (a shift back), and, read as shifts when
  the parser finds them after "vs"/"compared to"/"since": "yesterday" (1 day), "last week"
  (7 days), "last month" (1 calendar month), "the week before"; "the previous period" and
  "before that" mean the equal span just before.

Rules: a time of day without a day means today, or yesterday when today's would still be in the
future; a date without a year is the most recent one not in the future; a window that runs past
``now`` ends at ``now``. Future times ("tomorrow", "next week", "2027-01-01") are reported as a
``problem`` rather than guessed into the past.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.ask.parsing.timegrammar import (
    AGO,
    BARE_SPAN,
    BEFORE,
    BETWEEN,
    CLOCK_OR_HOUR,
    DASHED,
    FLAGS,
    FUTURE,
    IN_MONTH,
    LAST_N,
    MOMENT,
    MONTH_FULL,
    MONTHS,
    NAMED,
    NUM,
    SAME_TIME,
    SINCE,
    UNIT,
    UNIT_SECONDS,
    UNIT_WORDS,
    WEEKDAY_ANY,
    parse_clock,
    parse_datetime,
    parse_day,
    read_number,
    rx,
    unit_letter,
)
from bot.ask.timerange import (
    RIGHT_NOW,
    BadTime,
    Clock,
    Shift,
    TimeRange,
    add_months,
    at_time,
    capped,
    day_label,
    last,
    localise,
    midnight_of,
    moment_label,
    month_range,
    named_period,
    shift_back,
)


@dataclass(frozen=True)
class TimeHit:
    """One time expression found in the text, at ``text[start:end]``.

    ``range`` is the window it names, ``moment`` the instant (dates, clock times), ``shift``
    how it reads after "vs"/"compared to"; ``period`` how far back the same part of the
    previous period is (today → a day); ``previous`` is "the period before"; ``problem``
    says why a recognised expression cannot be used (in the future, no such date).
    """

    start: int
    end: int
    text: str
    range: TimeRange | None = None
    moment: datetime | None = None
    moment_label: str = ""
    shift: Shift | None = None
    period: Shift | None = None  # for today/this week/this month: back to the last one
    previous: bool = False
    since: bool = False
    problem: str | None = None
    note: str | None = None  # how an odd expression was read ("overnight"), for the asker


# --- patterns, tried in order; each consumes its text ----------------------------------------

_Handler = Callable[[re.Match[str], Clock], TimeHit]


def _hit(match: re.Match[str], **fields: object) -> TimeHit:
    return TimeHit(start=match.start(), end=match.end(), text=match[0], **fields)  # type: ignore[arg-type]


def _range_hit(match: re.Match[str], rng: TimeRange | None, **fields: object) -> TimeHit:
    if rng is None:
        return _hit(match, problem=f"'{match[0]}' has not started yet", **fields)
    return _hit(match, range=rng, **fields)


def _between(match: re.Match[str], ctx: Clock) -> TimeHit:
    left, right = match["a"].lower(), match["b"].lower()
    day_text = match["pre"] or match["post"]
    if right == "now":
        moment, has_time = parse_datetime(left, ctx)
        label = f"since {moment_label(moment, ctx.today, has_time)}"
        return _range_hit(match, capped(moment, ctx.now, label, ctx))
    left_clock, right_clock = _clock_only(left), _clock_only(right)
    if left_clock and right_clock:
        return _clock_range(match, left_clock, right_clock, day_text, ctx,
                            typed_24h=":" in left and ":" in right)
    start, start_has_time = parse_datetime(left, ctx)
    if right_clock and start_has_time:
        end = at_time(start.date(), right_clock[0], ctx.tz)
    else:
        end, end_has_time = parse_datetime(right, ctx)
        if not end_has_time:
            end = midnight_of(end.date() + timedelta(days=1), ctx.tz)  # whole days, both included
    if end <= start:
        raise BadTime(f"'{match[0]}' ends before it starts")
    if start_has_time:
        label = f"{moment_label(start, ctx.today)} – {moment_label(end, ctx.today)}"
    else:
        last_day = (end - timedelta(seconds=1)).date()
        label = f"{day_label(start.date(), ctx.today)} – {day_label(last_day, ctx.today)}"
    return _range_hit(match, capped(start, end, label, ctx))


def _clock_only(text: str) -> tuple[time, bool] | None:
    if re.fullmatch(CLOCK_OR_HOUR, text, FLAGS):
        return parse_clock(text)
    return None


def _clock_range(
    match: re.Match[str],
    left: tuple[time, bool],
    right: tuple[time, bool],
    day_text: str | None,
    ctx: Clock,
    typed_24h: bool = False,
) -> TimeHit:
    """A range of two clock times. An end before the start is read as overnight (and said
    so), except for bare hours without am/pm ("from 9 to 5": office hours); two times typed
    as 24-hour clocks ("between 11:00 and 05:00") are taken as written."""
    start_clock, end_clock = left[0], right[0]
    # "from 9 to 5pm": a bare hour takes the other side's am/pm unless that puts it after the end
    if right[1] and not left[1] and right[0].hour >= 12 and start_clock.hour < 12:
        candidate = start_clock.replace(hour=start_clock.hour + 12)
        if candidate < end_clock:
            start_clock = candidate
    if not right[1] and left[1] and start_clock.hour >= 12 and end_clock.hour < 12:
        candidate = end_clock.replace(hour=end_clock.hour + 12)
        if candidate > start_clock:
            end_clock = candidate
    # "from 9 to 5": office hours, not an overnight span ("from 22 to 2" stays overnight)
    if (not typed_24h and not right[1] and not left[1] and end_clock < start_clock
            and end_clock.hour < 12):
        candidate = end_clock.replace(hour=end_clock.hour + 12)
        if candidate > start_clock:
            end_clock = candidate
    if day_text:
        day = parse_day(day_text, ctx)
    else:
        day = ctx.today
        if at_time(day, start_clock, ctx.tz) >= ctx.now:  # not begun today: yesterday's
            day -= timedelta(days=1)
    start = at_time(day, start_clock, ctx.tz)
    end_day = day if end_clock > start_clock else day + timedelta(days=1)
    end = at_time(end_day, end_clock, ctx.tz)
    if start >= ctx.now:
        raise BadTime(f"{moment_label(start, ctx.today)} is in the future")
    label = f"{start_clock:%H:%M}–{end_clock:%H:%M} {day_label(day, ctx.today)}"
    note = None
    if end_day != day:  # said, so that a reversed range is never silently read otherwise
        note = (f"'{match[0]}' ends before it starts: read as overnight, "
                f"{moment_label(start, ctx.today)} to {moment_label(end, ctx.today)}")
    return _range_hit(match, capped(start, end, label, ctx), note=note)


_RELATIVE_SHIFTS = {
    "yesterday": Shift(delta=timedelta(days=1), label="a day earlier"),
    "week": Shift(delta=timedelta(days=7), label="a week earlier"),
    "month": Shift(months=1, label="a month earlier"),
    "day": Shift(delta=timedelta(days=1), label="a day earlier"),
}


def _since(match: re.Match[str], ctx: Clock) -> TimeHit:
    rest = match["rest"].lower()
    relative = re.fullmatch(r"(?:last|the previous|previous|the last) (week|month)", rest)
    if relative:
        named = named_period(f"last {relative[1]}", ctx)
        label = f"since {named.label}"
        return _range_hit(
            match,
            capped(named.start, ctx.now, label, ctx),
            shift=_RELATIVE_SHIFTS[relative[1]],
            since=True,
        )
    ago = re.fullmatch(rf"({NUM}) ({UNIT}) ago", rest, FLAGS)
    if ago:
        shift = _ago_shift(ago[1], ago[2])
        start = shift_back(ctx.now, shift)
        return _range_hit(
            match, capped(start, ctx.now, f"since {shift.label.replace('earlier', 'ago')}", ctx),
            shift=shift, since=True,
        )  # fmt: skip
    if re.fullmatch(MONTH_FULL, rest, FLAGS):
        start = _month_start(rest, ctx)
        return _range_hit(match, capped(start, ctx.now, f"since {start:%B %Y}", ctx), since=True)
    if re.fullmatch(WEEKDAY_ANY, rest):
        rest = f"last {rest}"  # "since tuesday" said on a Tuesday means last week's
    moment, has_time = parse_datetime(rest, ctx)
    label = f"since {moment_label(moment, ctx.today, has_time)}"
    day_shift = _RELATIVE_SHIFTS["yesterday"] if rest == "yesterday" else None
    return _range_hit(
        match,
        capped(moment, ctx.now, label, ctx),
        shift=day_shift,
        since=True,
        moment=moment,
        moment_label=moment_label(moment, ctx.today, has_time),
    )


def _month_start(word: str, ctx: Clock) -> datetime:
    month = MONTHS.index(word.lower()[:3]) + 1
    year = ctx.today.year if month <= ctx.today.month else ctx.today.year - 1
    return midnight_of(date(year, month, 1), ctx.tz)


def _in_month(match: re.Match[str], ctx: Clock) -> TimeHit:
    start = _month_start(match["month"], ctx)
    return _range_hit(match, month_range(start, ctx, f"{start:%B %Y}"))


def _ago_shift(number: str, unit_text: str) -> Shift:
    count = read_number(number) or 1
    unit = unit_letter(unit_text)
    word = UNIT_WORDS[unit]
    amount = f"a {word}" if count == 1 else f"{count} {word}s"
    if word == "hour" and count == 1:
        amount = "an hour"
    label = f"{amount} earlier"
    if unit == "mo":
        return Shift(months=count, label=label)
    return Shift(delta=timedelta(seconds=count * UNIT_SECONDS[unit]), label=label)


def _same_time(match: re.Match[str], ctx: Clock) -> TimeHit:
    """"the same time yesterday": the window shifted back a day (or a week)."""
    which = (match["a"] or match["b"] or match["c"]).lower()
    week = "week" in which
    return _hit(match, shift=_RELATIVE_SHIFTS["week" if week else "yesterday"])


def _ago(match: re.Match[str], ctx: Clock) -> TimeHit:
    return _hit(match, shift=_ago_shift(match["n"], match["unit"]))


def _last_n(match: re.Match[str], ctx: Clock) -> TimeHit:
    number_text = match["n"]
    unit = unit_letter(match["unit"])
    count = read_number(number_text) if number_text else 1
    if not count:
        raise BadTime(f"'{match[0]}' is an empty window")
    if unit == "mo":
        start = add_months(ctx.now, -count)
        label = "last month" if count == 1 else f"last {count} months"
        if not number_text:  # "the past month": a rolling 30 days ("last month" is calendar)
            start, label = ctx.now - timedelta(days=30), "last 30d"
        return _range_hit(match, TimeRange(start=start, end=ctx.now, label=label))
    # "vs the previous 3 days" is the span before the window; as the window, the last 3 days
    before = match.groupdict().get("which") in ("previous", "prior")
    span = timedelta(seconds=count * UNIT_SECONDS[unit])
    if span > timedelta(days=400):
        raise BadTime(f"'{match[0]}' is longer than I can look back")
    if number_text:
        label = f"last {count}{unit}"
    else:
        label = {"m": "last minute", "h": "last hour", "d": "last 24h", "w": "last 7d"}[unit]
        if unit == "m":
            span = RIGHT_NOW  # "the last minute" is noise: use the right-now window
            label = "right now"
    return _range_hit(match, last(span, ctx.now, ctx.tz, label), previous=before)


def _named(match: re.Match[str], ctx: Clock) -> TimeHit:
    name = re.sub(r"\s+", " ", match["name"].lower())
    shift = None
    if name in ("yesterday", "last week", "previous week", "prior week"):
        shift = _RELATIVE_SHIFTS["yesterday" if name == "yesterday" else "week"]
    elif name in ("last month", "previous month", "prior month"):
        shift = _RELATIVE_SHIFTS["month"]
    period = {
        "today": "day", "so far today": "day", "today so far": "day", "this week": "week",
        "this month": "month",
    }.get(name)  # fmt: skip
    return _range_hit(
        match,
        named_period(name, ctx),
        shift=shift,
        period=_RELATIVE_SHIFTS[period] if period else None,
    )


def _future(match: re.Match[str], ctx: Clock) -> TimeHit:
    return _hit(match, problem=f"'{match[0]}' is in the future: I can only look back")


def _moment(match: re.Match[str], ctx: Clock) -> TimeHit:
    moment, has_time = parse_datetime(match["when"], ctx)
    label = moment_label(moment, ctx.today, has_time)
    if match.string[max(0, match.start() - 6) : match.start()] == "after ":
        # "after 14:00" alone: since then as a window, the moment for "did it help".
        rng = capped(moment, ctx.now, f"since {label}", ctx)
        return _hit(match, range=rng, moment=moment, moment_label=label, since=True)
    if has_time:
        end = moment + timedelta(hours=1)
        rng = capped(moment, end, f"{moment:%H:%M}–{end:%H:%M} {day_label(moment.date(), ctx.today)}", ctx)  # noqa: E501
    else:
        rng = capped(moment, moment + timedelta(days=1), label, ctx)
    return _hit(match, range=rng, moment=moment, moment_label=label)


def _before_period(match: re.Match[str], ctx: Clock) -> TimeHit:
    if match["n"]:  # "the 2 days before": the equal span before the window
        return _hit(match, previous=True)
    word = (match["unit"] or match["unit2"] or "that").lower()
    if word in ("period", "window", "that"):
        return _hit(match, previous=True)
    return _hit(match, shift=_RELATIVE_SHIFTS[word])


# Most specific first: a range or "since ..." swallows the dates inside it before they are
# read on their own, and "last week" is a calendar week before "last N units" is tried.
PATTERNS: list[tuple[re.Pattern[str], _Handler]] = [
    (rx(BETWEEN), _between),
    (rx(DASHED), _between),
    (rx(SAME_TIME), _same_time),
    (rx(SINCE), _since),
    (rx(FUTURE), _future),
    (rx(AGO), _ago),
    (rx(BEFORE), _before_period),
    (rx(MOMENT), _moment),
    (rx(NAMED), _named),
    (rx(LAST_N), _last_n),
    (rx(IN_MONTH), _in_month),
    (rx(BARE_SPAN), _last_n),
]


def find_times(text: str, now: datetime, tz: ZoneInfo) -> list[TimeHit]:
    """Every time expression in ``text``, in order of position; never raises for any text."""
    ctx = Clock(localise(now, tz), tz)
    work = text
    hits: list[TimeHit] = []
    for pattern, handler in PATTERNS:
        for match in pattern.finditer(work):
            if "\0" in match[0]:  # overlaps an expression already read
                continue
            try:
                hit = handler(match, ctx)
            except (BadTime, ValueError, OverflowError) as exc:
                message = str(exc) if isinstance(exc, BadTime) else f"'{match[0]}' is not a time"
                hit = _hit(match, problem=message)
            hits.append(hit)
            blank = "\0" * (match.end() - match.start())
            work = work[: match.start()] + blank + work[match.end() :]
    hits.sort(key=lambda h: h.start)
    return hits
