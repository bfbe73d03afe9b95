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
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, model_validator

RIGHT_NOW = timedelta(minutes=15)


class TimeRange(BaseModel):
    """A window of time with the words a person would use for it."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    label: str

    @model_validator(mode="after")
    def _check(self) -> TimeRange:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time range bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("time range end must be after its start")
        return self

    @property
    def span(self) -> timedelta:
        """Elapsed time (in UTC: subtracting same-zone datetimes would give wall-clock time)."""
        return _elapsed(self.start, self.end)


class Shift(BaseModel):
    """How far back a comparison window sits: ``days``/``hours`` plus calendar ``months``."""

    model_config = ConfigDict(frozen=True)

    delta: timedelta = timedelta(0)
    months: int = 0
    label: str


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


# --- building blocks -----------------------------------------------------------------------

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fifteen": 15, "twenty": 20, "thirty": 30, "couple of": 2, "couple": 2,
}  # fmt: skip
_NUM = r"(?:\d{1,4}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|(?:a )?couple(?: of)?)"  # noqa: E501
_UNIT = r"(?:minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|mos?)"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_FULL = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_WEEKDAY_ANY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|weds?|thu(?:rs?)?|fri|sat|sun)"  # noqa: E501
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"  # noqa: E501
_MONTH_FULL = r"(?:january|february|march|april|june|july|august|september|october|november|december)"  # noqa: E501
_ISO_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_MONTH_DATE = (
    rf"(?:{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH}(?:,? \d{{4}})?)"
)
_DATE = rf"(?:{_ISO_DATE}|{_MONTH_DATE})"
_AT = r"(?:,? (?:at )?|(?<=\d)t)"  # "2026-11-20 14:00", "nov 20 at 2pm", "2026-11-20T14:00"
_DAY = rf"(?:today|yesterday|(?:(?:last|this|on) )?{_WEEKDAY_ANY}|{_DATE})"
_CLOCK = r"(?:\d{1,2}(?::\d{2})? ?(?:am|pm)|\d{1,2}:\d{2}|noon|midnight)"
_CLOCK_OR_HOUR = rf"(?:{_CLOCK}|\d{{1,2}})"
_DATETIME = rf"(?:{_DAY}(?:{_AT}{_CLOCK})?|{_CLOCK} (?:on )?{_DAY})"
_LEAD = r"(?:(?:in|over|during|for|within|from|of) )?(?:the )?"

_FLAGS = re.IGNORECASE


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w/])(?:{pattern})(?![\w/])", _FLAGS)


@dataclass(frozen=True)
class _Ctx:
    now: datetime  # in tz
    tz: ZoneInfo

    @property
    def today(self) -> date:
        return self.now.date()


def _elapsed(start: datetime, end: datetime) -> timedelta:
    return end.astimezone(UTC) - start.astimezone(UTC)


def _minus(moment: datetime, delta: timedelta) -> datetime:
    """``moment - delta`` in elapsed time, kept in the moment's zone."""
    return (moment.astimezone(UTC) - delta).astimezone(moment.tzinfo)


def _localise(now: datetime, tz: ZoneInfo) -> datetime:
    if now.tzinfo is None:  # a naive clock is taken as UTC
        now = now.replace(tzinfo=UTC)
    return now.astimezone(tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, _days_in_month(year, month + 1))
    return moment.replace(year=year, month=month + 1, day=day)


def _days_in_month(year: int, month: int) -> int:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return (first_next - timedelta(days=1)).day


def _number(text: str) -> int | None:
    text = text.lower().strip()
    if text.isdigit():
        return int(text)
    return _NUMBER_WORDS.get(text.removeprefix("a ").strip())


def _unit(text: str) -> str:
    """The canonical unit letter: m, h, d, w or mo."""
    text = text.lower()
    if text.startswith("mo"):
        return "mo"
    if text.startswith(("mi", "m")):
        return "m"
    return text[0]


_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIT_WORDS = {"m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month"}


def span_text(delta: timedelta) -> str:
    """A compact span for labels: ``24h``, ``7d``, ``15m``, ``1h30m``."""
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds < 3600:
        return f"{seconds // 60}m"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def day_label(day: date, today: date) -> str:
    """``today``, ``yesterday``, ``Mon 23 Nov`` (with the year when it is not this year)."""
    if day == today:
        return "today"
    if day == today - timedelta(days=1):
        return "yesterday"
    text = f"{day:%a} {day.day} {day:%b}"
    return text if day.year == today.year else f"{text} {day.year}"


def moment_label(moment: datetime, today: date, with_time: bool = True) -> str:
    label = day_label(moment.date(), today)
    return f"{label} {moment:%H:%M}" if with_time else label


def _range(start: datetime, end: datetime, label: str, ctx: _Ctx) -> TimeRange | None:
    end = min(end, ctx.now)
    if end <= start:
        return None
    return TimeRange(start=start, end=end, label=label)


def last(span: timedelta, now: datetime, tz: ZoneInfo, label: str | None = None) -> TimeRange:
    """The rolling window of ``span`` ending at ``now`` (absolute time, DST-safe)."""
    end = _localise(now, tz)
    start = _minus(end, span)
    return TimeRange(start=start, end=end, label=label or f"last {span_text(span)}")


def right_now(now: datetime, tz: ZoneInfo) -> TimeRange:
    return last(RIGHT_NOW, now, tz, "right now")


def today(now: datetime, tz: ZoneInfo) -> TimeRange | None:
    """Today since 00:00; None in the first instant of the day."""
    ctx = _Ctx(_localise(now, tz), tz)
    return _range(_midnight(ctx.today, tz), ctx.now, "today", ctx)


def this_month(now: datetime, tz: ZoneInfo) -> TimeRange:
    ctx = _Ctx(_localise(now, tz), tz)
    start = _midnight(ctx.today.replace(day=1), tz)
    if start >= ctx.now:  # the month's first instant: fall back to the previous month
        return _month_range(_add_months(start, -1), ctx, "last month")
    return TimeRange(start=start, end=ctx.now, label="this month")


def shifted(window: TimeRange, shift: Shift) -> TimeRange:
    """``window`` moved back by ``shift``: "last 24h" vs "a week earlier".

    Calendar months differ in length, so a month shift moves the end and keeps the span
    (Mar 31 → Feb 28 would otherwise squash a window that ends on the 31st).
    """
    end = _shift_back(window.end, shift)
    start = _minus(end, window.span) if shift.months else _shift_back(window.start, shift)
    return TimeRange(start=start, end=end, label=f"{window.label}, {shift.label}")


def _shift_back(moment: datetime, shift: Shift) -> datetime:
    moment = _add_months(moment, -shift.months)
    if shift.delta % timedelta(days=1) == timedelta(0):
        return moment - shift.delta  # whole days: wall-clock arithmetic keeps "same time of day"
    return _minus(moment, shift.delta)


def previous(window: TimeRange) -> TimeRange:
    """The equal span just before ``window``."""
    return TimeRange(
        start=_minus(window.start, window.span),
        end=window.start,
        label=f"the {span_text(window.span)} before",
    )


def around(
    moment: datetime, now: datetime, tz: ZoneInfo, cap: timedelta = timedelta(days=1)
) -> tuple[TimeRange, TimeRange] | None:
    """Equal spans (before, after) ``moment``: as long as has passed since it, at most ``cap``."""
    now = _localise(now, tz)
    span = min(_elapsed(moment, now), cap)
    if span < timedelta(minutes=1):
        return None
    today_ = now.date()
    label = moment_label(moment.astimezone(tz), today_)
    text = span_text(span)
    before = TimeRange(start=_minus(moment, span), end=moment, label=f"{text} before {label}")
    after = TimeRange(start=moment, end=_minus(moment, -span), label=f"{text} after {label}")
    return before, after


# --- parsing the pieces ------------------------------------------------------------------------


def _parse_clock(text: str) -> tuple[time, bool] | None:
    """``"2pm"`` → (14:00, True); the flag says whether am/pm was given."""
    text = text.lower().replace(" ", "")
    if text == "noon":
        return time(12), True
    if text == "midnight":
        return time(0), True
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", text)
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2] or 0)
    meridiem = match[3]
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour == 24 and minute == 0:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute), meridiem is not None


class _Bad(ValueError):
    """A recognised time expression that cannot be used; the message is for the person."""


def _weekday_index(word: str) -> int:
    word = word.lower()[:3]
    return [w[:3] for w in _WEEKDAYS].index(word)


def _parse_day(text: str, ctx: _Ctx) -> date:
    """A day expression (see ``_DAY``) → the date; raises _Bad for impossible or future dates."""
    text = text.lower().strip()
    if text == "today":
        return ctx.today
    if text == "yesterday":
        return ctx.today - timedelta(days=1)
    words = text.split()
    if words[-1].rstrip(".")[:3] in [w[:3] for w in _WEEKDAYS] and not any(
        ch.isdigit() for ch in text
    ):
        target = _weekday_index(words[-1])
        back = (ctx.today.weekday() - target) % 7
        if words[0] in ("last", "since") and back == 0:
            back = 7
        return ctx.today - timedelta(days=back)
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if iso:
        return _checked_date(int(iso[1]), int(iso[2]), int(iso[3]), ctx, text)
    return _parse_month_date(text, ctx)


def _parse_month_date(text: str, ctx: _Ctx) -> date:
    month_word = re.search(r"[a-z]{3,}", text.replace(" of ", " "))
    day_number = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", text)
    year = re.search(r"\b(\d{4})\b", text)
    if not month_word or not day_number:
        raise _Bad(f"'{text}' is not a date I can read")
    month = _MONTHS.index(month_word[0][:3]) + 1
    if year:
        return _checked_date(int(year[1]), month, int(day_number[1]), ctx, text)
    try:
        candidate = date(ctx.today.year, month, int(day_number[1]))
    except ValueError:
        raise _Bad(f"'{text}' is not a date") from None
    if candidate > ctx.today:
        try:
            candidate = candidate.replace(year=candidate.year - 1)
        except ValueError:
            raise _Bad(f"'{text}' is not a date last year") from None
    return candidate


def _checked_date(year: int, month: int, day: int, ctx: _Ctx, text: str) -> date:
    try:
        value = date(year, month, day)
    except ValueError:
        raise _Bad(f"'{text}' is not a date") from None
    if value > ctx.today:
        raise _Bad(f"{text} is in the future")
    return value


def _parse_datetime(text: str, ctx: _Ctx) -> tuple[datetime, bool]:
    """A day and/or clock time → (moment, has_time)."""
    text = re.sub(r"(\d{4}-\d{1,2}-\d{1,2})t(?=\d)", r"\1 ", text.lower().strip())
    clock_match = re.search(rf"(?<![\w-]){_CLOCK}(?![\w-])", text)
    day_text = text
    clock: tuple[time, bool] | None = None
    if clock_match and not re.fullmatch(_DATE, text, _FLAGS):
        clock = _parse_clock(clock_match[0])
        if clock is None:
            raise _Bad(f"'{clock_match[0]}' is not a time of day")
        rest = (text[: clock_match.start()] + text[clock_match.end() :]).replace(",", " ")
        day_text = " ".join(w for w in rest.split() if w not in ("at", "on"))
    if not day_text:
        assert clock is not None
        moment = _at(ctx.today, clock[0], ctx.tz)
        if moment > ctx.now:  # a time of day still ahead today: the asker means yesterday's
            moment = _at(ctx.today - timedelta(days=1), clock[0], ctx.tz)
        return moment, True
    day = _parse_day(day_text, ctx)
    if clock is None:
        return _midnight(day, ctx.tz), False
    moment = _at(day, clock[0], ctx.tz)
    if moment > ctx.now:
        raise _Bad(f"{moment_label(moment, ctx.today)} is in the future")
    return moment, True


def _month_range(start: datetime, ctx: _Ctx, label: str) -> TimeRange:
    end = min(_add_months(start, 1), ctx.now)
    return TimeRange(start=start, end=end, label=label)


# --- patterns, tried in order; each consumes its text ----------------------------------------

_Handler = Callable[[re.Match[str], _Ctx], TimeHit]


def _hit(match: re.Match[str], **fields: object) -> TimeHit:
    return TimeHit(start=match.start(), end=match.end(), text=match[0], **fields)  # type: ignore[arg-type]


def _range_hit(match: re.Match[str], rng: TimeRange | None, **fields: object) -> TimeHit:
    if rng is None:
        return _hit(match, problem=f"'{match[0]}' has not started yet", **fields)
    return _hit(match, range=rng, **fields)


def _between(match: re.Match[str], ctx: _Ctx) -> TimeHit:
    left, right = match["a"].lower(), match["b"].lower()
    day_text = match["pre"] or match["post"]
    if right == "now":
        moment, has_time = _parse_datetime(left, ctx)
        label = f"since {moment_label(moment, ctx.today, has_time)}"
        return _range_hit(match, _range(moment, ctx.now, label, ctx))
    left_clock, right_clock = _clock_only(left), _clock_only(right)
    if left_clock and right_clock:
        return _clock_range(match, left_clock, right_clock, day_text, ctx)
    start, start_has_time = _parse_datetime(left, ctx)
    if right_clock and start_has_time:
        end = _at(start.date(), right_clock[0], ctx.tz)
    else:
        end, end_has_time = _parse_datetime(right, ctx)
        if not end_has_time:
            end = _midnight(end.date() + timedelta(days=1), ctx.tz)  # whole days, both included
    if end <= start:
        raise _Bad(f"'{match[0]}' ends before it starts")
    if start_has_time:
        label = f"{moment_label(start, ctx.today)} – {moment_label(end, ctx.today)}"
    else:
        last_day = (end - timedelta(seconds=1)).date()
        label = f"{day_label(start.date(), ctx.today)} – {day_label(last_day, ctx.today)}"
    return _range_hit(match, _range(start, end, label, ctx))


def _clock_only(text: str) -> tuple[time, bool] | None:
    if re.fullmatch(_CLOCK_OR_HOUR, text, _FLAGS):
        return _parse_clock(text)
    return None


def _clock_range(
    match: re.Match[str],
    left: tuple[time, bool],
    right: tuple[time, bool],
    day_text: str | None,
    ctx: _Ctx,
) -> TimeHit:
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
    if not right[1] and not left[1] and end_clock < start_clock and end_clock.hour < 12:
        candidate = end_clock.replace(hour=end_clock.hour + 12)
        if candidate > start_clock:
            end_clock = candidate
    if day_text:
        day = _parse_day(day_text, ctx)
    else:
        day = ctx.today
        if _at(day, start_clock, ctx.tz) >= ctx.now:  # not begun today: yesterday's
            day -= timedelta(days=1)
    start = _at(day, start_clock, ctx.tz)
    end_day = day if end_clock > start_clock else day + timedelta(days=1)
    end = _at(end_day, end_clock, ctx.tz)
    if start >= ctx.now:
        raise _Bad(f"{moment_label(start, ctx.today)} is in the future")
    label = f"{start_clock:%H:%M}–{end_clock:%H:%M} {day_label(day, ctx.today)}"
    return _range_hit(match, _range(start, end, label, ctx))


_RELATIVE_SHIFTS = {
    "yesterday": Shift(delta=timedelta(days=1), label="a day earlier"),
    "week": Shift(delta=timedelta(days=7), label="a week earlier"),
    "month": Shift(months=1, label="a month earlier"),
    "day": Shift(delta=timedelta(days=1), label="a day earlier"),
}


def _since(match: re.Match[str], ctx: _Ctx) -> TimeHit:
    rest = match["rest"].lower()
    relative = re.fullmatch(r"(?:last|the previous|previous|the last) (week|month)", rest)
    if relative:
        named = _named_range(f"last {relative[1]}", ctx)
        label = f"since {named.label}"
        return _range_hit(
            match,
            _range(named.start, ctx.now, label, ctx),
            shift=_RELATIVE_SHIFTS[relative[1]],
            since=True,
        )
    ago = re.fullmatch(rf"({_NUM}) ({_UNIT}) ago", rest, _FLAGS)
    if ago:
        shift = _ago_shift(ago[1], ago[2])
        start = _shift_back(ctx.now, shift)
        return _range_hit(
            match, _range(start, ctx.now, f"since {shift.label.replace('earlier', 'ago')}", ctx),
            shift=shift, since=True,
        )  # fmt: skip
    if re.fullmatch(_MONTH_FULL, rest, _FLAGS):
        start = _month_start(rest, ctx)
        return _range_hit(match, _range(start, ctx.now, f"since {start:%B %Y}", ctx), since=True)
    if re.fullmatch(_WEEKDAY_ANY, rest):
        rest = f"last {rest}"  # "since tuesday" said on a Tuesday means last week's
    moment, has_time = _parse_datetime(rest, ctx)
    label = f"since {moment_label(moment, ctx.today, has_time)}"
    day_shift = _RELATIVE_SHIFTS["yesterday"] if rest == "yesterday" else None
    return _range_hit(
        match,
        _range(moment, ctx.now, label, ctx),
        shift=day_shift,
        since=True,
        moment=moment,
        moment_label=moment_label(moment, ctx.today, has_time),
    )


def _month_start(word: str, ctx: _Ctx) -> datetime:
    month = _MONTHS.index(word.lower()[:3]) + 1
    year = ctx.today.year if month <= ctx.today.month else ctx.today.year - 1
    return _midnight(date(year, month, 1), ctx.tz)


def _in_month(match: re.Match[str], ctx: _Ctx) -> TimeHit:
    start = _month_start(match["month"], ctx)
    return _range_hit(match, _month_range(start, ctx, f"{start:%B %Y}"))


def _ago_shift(number: str, unit_text: str) -> Shift:
    count = _number(number) or 1
    unit = _unit(unit_text)
    word = _UNIT_WORDS[unit]
    amount = f"a {word}" if count == 1 else f"{count} {word}s"
    if word == "hour" and count == 1:
        amount = "an hour"
    label = f"{amount} earlier"
    if unit == "mo":
        return Shift(months=count, label=label)
    return Shift(delta=timedelta(seconds=count * _UNIT_SECONDS[unit]), label=label)


def _ago(match: re.Match[str], ctx: _Ctx) -> TimeHit:
    return _hit(match, shift=_ago_shift(match["n"], match["unit"]))


def _last_n(match: re.Match[str], ctx: _Ctx) -> TimeHit:
    number_text = match["n"]
    unit = _unit(match["unit"])
    count = _number(number_text) if number_text else 1
    if not count:
        raise _Bad(f"'{match[0]}' is an empty window")
    if unit == "mo":
        start = _add_months(ctx.now, -count)
        label = "last month" if count == 1 else f"last {count} months"
        if not number_text:  # "the past month": a rolling 30 days ("last month" is calendar)
            start, label = ctx.now - timedelta(days=30), "last 30d"
        return _range_hit(match, TimeRange(start=start, end=ctx.now, label=label))
    # "vs the previous 3 days" is the span before the window; as the window, the last 3 days
    before = match.groupdict().get("which") in ("previous", "prior")
    span = timedelta(seconds=count * _UNIT_SECONDS[unit])
    if span > timedelta(days=400):
        raise _Bad(f"'{match[0]}' is longer than I can look back")
    if number_text:
        label = f"last {count}{unit}"
    else:
        label = {"m": "last minute", "h": "last hour", "d": "last 24h", "w": "last 7d"}[unit]
        if unit == "m":
            span = RIGHT_NOW  # "the last minute" is noise: use the right-now window
            label = "right now"
    return _range_hit(match, last(span, ctx.now, ctx.tz, label), previous=before)


def _named(match: re.Match[str], ctx: _Ctx) -> TimeHit:
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
        _named_range(name, ctx),
        shift=shift,
        period=_RELATIVE_SHIFTS[period] if period else None,
    )


def _named_range(name: str, ctx: _Ctx) -> TimeRange:
    now, tz, today_ = ctx.now, ctx.tz, ctx.today
    midnight = _midnight(today_, tz)
    monday = _midnight(today_ - timedelta(days=today_.weekday()), tz)
    month_start = _midnight(today_.replace(day=1), tz)
    name = name.replace("previous", "last").replace("prior", "last")
    if name in ("right now", "now", "currently", "at the moment", "atm", "at present"):
        return right_now(now, tz)
    if name in ("today", "so far today", "today so far"):
        rng = _range(midnight, now, "today", ctx)
        if rng is None:
            raise _Bad("today has only just begun")
        return rng
    if name == "yesterday":
        return TimeRange(start=midnight - timedelta(days=1), end=midnight, label="yesterday")
    if name == "this week":
        return _nonempty(monday, now, "this week", ctx)
    if name == "last week":
        return TimeRange(start=monday - timedelta(days=7), end=monday, label="last week")
    if name == "this month":
        return _nonempty(month_start, now, "this month", ctx)
    if name == "last month":
        return _month_range(_add_months(month_start, -1), ctx, "last month")
    if name.endswith("weekend"):
        back = (today_.weekday() - 5) % 7  # days since the most recent Saturday
        saturday = today_ - timedelta(days=back)
        if name.startswith("last") and back < 2:
            saturday -= timedelta(days=7)
        start = _midnight(saturday, tz)
        label = f"weekend of {day_label(saturday, today_)}"
        return _nonempty(start, start + timedelta(days=2), label, ctx)
    parts = {"this morning": (6, 12), "this afternoon": (12, 18), "this evening": (18, 24)}
    if name in parts:
        first, last_hour = parts[name]
        start = midnight + timedelta(hours=first)
        return _nonempty(start, midnight + timedelta(hours=last_hour), name, ctx)
    if name in ("last night", "overnight"):
        start = midnight - timedelta(hours=6)
        return _nonempty(start, midnight + timedelta(hours=6), "last night", ctx)
    raise _Bad(f"'{name}' is not a period I know")


def _nonempty(start: datetime, end: datetime, label: str, ctx: _Ctx) -> TimeRange:
    rng = _range(start, end, label, ctx)
    if rng is None:
        raise _Bad(f"{label} has not started yet")
    return rng


def _future(match: re.Match[str], ctx: _Ctx) -> TimeHit:
    return _hit(match, problem=f"'{match[0]}' is in the future: I can only look back")


def _moment(match: re.Match[str], ctx: _Ctx) -> TimeHit:
    moment, has_time = _parse_datetime(match["when"], ctx)
    label = moment_label(moment, ctx.today, has_time)
    if match.string[max(0, match.start() - 6) : match.start()] == "after ":
        # "after 14:00" alone: since then as a window, the moment for "did it help".
        rng = _range(moment, ctx.now, f"since {label}", ctx)
        return _hit(match, range=rng, moment=moment, moment_label=label, since=True)
    if has_time:
        end = moment + timedelta(hours=1)
        rng = _range(moment, end, f"{moment:%H:%M}–{end:%H:%M} {day_label(moment.date(), ctx.today)}", ctx)  # noqa: E501
    else:
        rng = _range(moment, moment + timedelta(days=1), label, ctx)
    return _hit(match, range=rng, moment=moment, moment_label=label)


def _before_period(match: re.Match[str], ctx: _Ctx) -> TimeHit:
    if match["n"]:  # "the 2 days before": the equal span before the window
        return _hit(match, previous=True)
    word = (match["unit"] or match["unit2"] or "that").lower()
    if word in ("period", "window", "that"):
        return _hit(match, previous=True)
    return _hit(match, shift=_RELATIVE_SHIFTS[word])


_RANGE_SIDE = rf"{_CLOCK_OR_HOUR}|{_DATETIME}"  # a clock first, so "14:00 today" keeps its day
_BETWEEN = (
    rf"(?:(?P<pre>{_DAY}),? )?(?:between|from) (?P<a>{_RANGE_SIDE}) "
    rf"(?:and|to|until|till|through|-) (?P<b>now|{_RANGE_SIDE})(?:,? (?:on )?(?P<post>{_DAY}))?"
)
_DASHED = (
    rf"(?:(?P<pre>{_DAY}),? )?(?P<a>{_CLOCK}) ?(?:-|–|to) ?(?P<b>{_CLOCK})"
    rf"(?:,? (?:on )?(?P<post>{_DAY}))?"
)
_SINCE = (
    rf"(?:ever )?since (?:the )?(?P<rest>(?:last|previous) (?:week|month)|{_NUM} {_UNIT} ago"
    rf"|{_MONTH_FULL}|{_DATETIME}|{_CLOCK})"
)
_FUTURE = (
    rf"(?:tomorrow|next (?:week|month|year|hour|day|{_WEEKDAY_FULL})"
    r"|in the (?:next|coming) \w+(?: \w+)?)"
)
_AGO = rf"(?:from |since )?(?P<n>{_NUM}) ?(?P<unit>{_UNIT}) ago"
_BEFORE = (
    rf"(?:the )?(?P<n>{_NUM}) {_UNIT} before"
    r"|(?:the )?(?:previous|prior|preceding) (?P<unit>period|window)"
    r"|(?:the )?(?P<unit2>week|day|month) before|before that"
)
_WEEKDAY_REF = rf"(?:(?:last |this )?{_WEEKDAY_FULL}|(?:last|this|on) {_WEEKDAY_ANY})"
_MOMENT = (
    rf"(?:(?:on|at|of) )?(?P<when>{_DATE}(?:{_AT}{_CLOCK})?"
    rf"|(?:today|yesterday|{_WEEKDAY_REF}),? at {_CLOCK}"
    rf"|{_CLOCK} (?:on )?(?:today|yesterday|{_WEEKDAY_REF}|{_DATE})"
    rf"|{_WEEKDAY_REF}|at {_CLOCK}|(?<=after ){_CLOCK})"
)
_NAMED = (
    r"(?:(?:in|over|during|for|from) )?(?:the )?(?P<name>right now|at the moment|at present"
    r"|currently|atm|(?:so far )?today(?: so far)?|yesterday"
    r"|(?:this|last|previous|prior) (?:week|month)|(?:this|last|the) weekend"
    r"|this (?:morning|afternoon|evening)|last night|overnight|now)"
)
_LAST_N = (
    rf"{_LEAD}(?P<which>last|past|previous|prior|recent|most recent) "
    rf"(?:(?P<n>{_NUM}) ?)?(?P<unit>{_UNIT})"
)
_IN_MONTH = rf"(?:in|during) (?P<month>{_MONTH_FULL})"
_BARE_SPAN = rf"(?:(?:in|over|for|within|during) )?(?:the )?(?P<n>\d{{1,4}}) ?(?P<unit>{_UNIT})"

# Most specific first: a range or "since ..." swallows the dates inside it before they are
# read on their own, and "last week" is a calendar week before "last N units" is tried.
PATTERNS: list[tuple[re.Pattern[str], _Handler]] = [
    (_rx(_BETWEEN), _between),
    (_rx(_DASHED), _between),
    (_rx(_SINCE), _since),
    (_rx(_FUTURE), _future),
    (_rx(_AGO), _ago),
    (_rx(_BEFORE), _before_period),
    (_rx(_MOMENT), _moment),
    (_rx(_NAMED), _named),
    (_rx(_LAST_N), _last_n),
    (_rx(_IN_MONTH), _in_month),
    (_rx(_BARE_SPAN), _last_n),
]


def find_times(text: str, now: datetime, tz: ZoneInfo) -> list[TimeHit]:
    """Every time expression in ``text``, in order of position; never raises for any text."""
    ctx = _Ctx(_localise(now, tz), tz)
    work = text
    hits: list[TimeHit] = []
    for pattern, handler in PATTERNS:
        for match in pattern.finditer(work):
            if "\0" in match[0]:  # overlaps an expression already read
                continue
            try:
                hit = handler(match, ctx)
            except (_Bad, ValueError, OverflowError) as exc:
                message = str(exc) if isinstance(exc, _Bad) else f"'{match[0]}' is not a time"
                hit = _hit(match, problem=message)
            hits.append(hit)
            blank = "\0" * (match.end() - match.start())
            work = work[: match.start()] + blank + work[match.end() :]
    hits.sort(key=lambda h: h.start)
    return hits
