"""Windows of time as questions name them: ``TimeRange``, ``Shift``, and the calendar arithmetic.

Pure and tz-aware: the caller passes ``now`` and the asker's zone. The parser (reading time
expressions) and the answers (the span before a window, labels) both use these; nothing here
reads text.
"""

from __future__ import annotations

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


class BadTime(ValueError):
    """A recognised time expression that cannot be used; the message is for the person."""


@dataclass(frozen=True)
class Clock:
    """When and where the question is asked: ``now`` in the asker's zone ``tz``."""

    now: datetime  # in tz
    tz: ZoneInfo

    @property
    def today(self) -> date:
        return self.now.date()


def _elapsed(start: datetime, end: datetime) -> timedelta:
    return end.astimezone(UTC) - start.astimezone(UTC)


def minus(moment: datetime, delta: timedelta) -> datetime:
    """``moment - delta`` in elapsed time, kept in the moment's zone."""
    return (moment.astimezone(UTC) - delta).astimezone(moment.tzinfo)


def localise(now: datetime, tz: ZoneInfo) -> datetime:
    """``now`` in ``tz``."""
    if now.tzinfo is None:  # a naive clock is taken as UTC
        now = now.replace(tzinfo=UTC)
    return now.astimezone(tz)


def midnight_of(day: date, tz: ZoneInfo) -> datetime:
    """00:00 of ``day`` in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz)


def at_time(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """``clock`` on ``day`` in ``tz``."""
    return datetime.combine(day, clock, tzinfo=tz)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by calendar months (the day kept, or the month's last)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, _days_in_month(year, month + 1))
    return moment.replace(year=year, month=month + 1, day=day)


def _days_in_month(year: int, month: int) -> int:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return (first_next - timedelta(days=1)).day


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


def capped(start: datetime, end: datetime, label: str, ctx: Clock) -> TimeRange | None:
    """``[start, end]`` cut off at now; None when nothing of it has passed yet."""
    end = min(end, ctx.now)
    if end <= start:
        return None
    return TimeRange(start=start, end=end, label=label)


def last(span: timedelta, now: datetime, tz: ZoneInfo, label: str | None = None) -> TimeRange:
    """The rolling window of ``span`` ending at ``now`` (absolute time, DST-safe)."""
    end = localise(now, tz)
    start = minus(end, span)
    return TimeRange(start=start, end=end, label=label or f"last {span_text(span)}")


def right_now(now: datetime, tz: ZoneInfo) -> TimeRange:
    return last(RIGHT_NOW, now, tz, "right now")


def today(now: datetime, tz: ZoneInfo) -> TimeRange | None:
    """Today since 00:00; None in the first instant of the day."""
    ctx = Clock(localise(now, tz), tz)
    return capped(midnight_of(ctx.today, tz), ctx.now, "today", ctx)


def this_month(now: datetime, tz: ZoneInfo) -> TimeRange:
    ctx = Clock(localise(now, tz), tz)
    start = midnight_of(ctx.today.replace(day=1), tz)
    if start >= ctx.now:  # the month's first instant: fall back to the previous month
        return month_range(add_months(start, -1), ctx, "last month")
    return TimeRange(start=start, end=ctx.now, label="this month")


def shifted(window: TimeRange, shift: Shift) -> TimeRange:
    """``window`` moved back by ``shift``: "last 24h" vs "a week earlier".

    Calendar months differ in length, so a month shift moves the end and keeps the span
    (Mar 31 → Feb 28 would otherwise squash a window that ends on the 31st).
    """
    end = shift_back(window.end, shift)
    start = minus(end, window.span) if shift.months else shift_back(window.start, shift)
    return TimeRange(start=start, end=end, label=f"{window.label}, {shift.label}")


def shift_back(moment: datetime, shift: Shift) -> datetime:
    """``moment`` moved back by ``shift``: calendar months, then the delta."""
    moment = add_months(moment, -shift.months)
    if shift.delta % timedelta(days=1) == timedelta(0):
        return moment - shift.delta  # whole days: wall-clock arithmetic keeps "same time of day"
    return minus(moment, shift.delta)


def previous(window: TimeRange) -> TimeRange:
    """The equal span just before ``window``."""
    return TimeRange(
        start=minus(window.start, window.span),
        end=window.start,
        label=f"the {span_text(window.span)} before",
    )


def around(
    moment: datetime, now: datetime, tz: ZoneInfo, cap: timedelta = timedelta(days=1)
) -> tuple[TimeRange, TimeRange] | None:
    """Equal spans (before, after) ``moment``: as long as has passed since it, at most ``cap``."""
    now = localise(now, tz)
    span = min(_elapsed(moment, now), cap)
    if span < timedelta(minutes=1):
        return None
    today_ = now.date()
    label = moment_label(moment.astimezone(tz), today_)
    text = span_text(span)
    before = TimeRange(start=minus(moment, span), end=moment, label=f"{text} before {label}")
    after = TimeRange(start=moment, end=minus(moment, -span), label=f"{text} after {label}")
    return before, after


def month_range(start: datetime, ctx: Clock, label: str) -> TimeRange:
    """The calendar month from ``start``, cut off at now."""
    end = min(add_months(start, 1), ctx.now)
    return TimeRange(start=start, end=end, label=label)


def named_period(name: str, ctx: Clock) -> TimeRange:
    """The window a period's name means ("today", "last week", "this morning"); raises BadTime."""
    now, tz, today_ = ctx.now, ctx.tz, ctx.today
    midnight = midnight_of(today_, tz)
    monday = midnight_of(today_ - timedelta(days=today_.weekday()), tz)
    month_start = midnight_of(today_.replace(day=1), tz)
    name = name.replace("previous", "last").replace("prior", "last")
    if name in ("right now", "now", "currently", "at the moment", "atm", "at present"):
        return right_now(now, tz)
    if name in ("today", "so far today", "today so far"):
        rng = capped(midnight, now, "today", ctx)
        if rng is None:
            raise BadTime("today has only just begun")
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
        return month_range(add_months(month_start, -1), ctx, "last month")
    if name.endswith("weekend"):
        back = (today_.weekday() - 5) % 7  # days since the most recent Saturday
        saturday = today_ - timedelta(days=back)
        if name.startswith("last") and back < 2:
            saturday -= timedelta(days=7)
        start = midnight_of(saturday, tz)
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
    raise BadTime(f"'{name}' is not a period I know")


def _nonempty(start: datetime, end: datetime, label: str, ctx: Clock) -> TimeRange:
    rng = capped(start, end, label, ctx)
    if rng is None:
        raise BadTime(f"{label} has not started yet")
    return rng
