"""On-call schedules: rotation layers, hour restrictions and overrides, as pure functions.

A ``Schedule`` is an ordered list of layers (``Rotation``). Each layer hands its turn from
one member to the next every ``length``, at the local wall-clock ``handoff`` time in its own
``time_zone``; it may cover only some hours of some days (``hours``, e.g. 09:00–17:00 on
weekdays for follow-the-sun). Where several layers cover a moment the LAST one listed wins,
as PagerDuty's layers do. An ``Override`` (stored, in UTC) beats every layer; where several
overrides cover a moment the last one given wins (the store passes them oldest first).

Wall-clock times and daylight saving (``wall_to_utc``):

* A wall time that does not exist (the clocks jump forward over it, e.g. 02:30 on 2026-03-29
  in Europe/Berlin) means the first instant after the gap: 03:00 CEST (01:00 UTC). A 02:30
  hand-off that day happens at 03:00 CEST; the turn before is an hour shorter.
* A wall time that happens twice (the clocks go back, e.g. 02:30 on 2026-10-25 in
  Europe/Berlin) means its first occurrence (``fold=0``): 02:30 CEST (00:30 UTC).
* Turns are counted in wall-clock time, so a daily 09:00 hand-off stays at 09:00 local all
  year; a turn spanning a change lasts an hour more or less in real time.

Every instant going in and out is a timezone-aware datetime; what comes out is in UTC.
Nothing here reads a clock, a file or a database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    Field,
    field_validator,
    model_validator,
)

from bot.durations import Duration, format_duration
from bot.incidents.fields import (
    DAYS,
    ClockTime,
    Day,
    Frozen,
    LocalDateTime,
    TimeZoneName,
    UserId,
    Weekday,
    field_errors,
    not_empty,
    problem,
)

MIN_TURN = timedelta(hours=1)


# --- models ------------------------------------------------------------------------------

class Hours(Frozen):
    """A daily window of local time: ``start``–``end`` on ``days``.

    An ``end`` at or before ``start`` ends on the next day (``22:00``–``06:00``, or
    ``09:00``–``00:00`` for "until midnight"); ``days`` are the days the window starts on.
    """

    days: tuple[Day, ...] = DAYS
    """The days the window starts on (mon … sun)."""
    start: ClockTime
    """Local start time, HH:MM."""
    end: ClockTime
    """Local end time, HH:MM; at or before start: on the next day."""

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        return not_empty(value, "day")

    @model_validator(mode="after")
    def _a_window(self) -> Hours:
        if self.start == self.end:
            raise field_errors(type(self), [problem(
                ("end",), self.end.isoformat("minutes"),
                f"expected an end other than the start, got {self.end:%H:%M} for both "
                "(leave the hours out to cover the whole day)")])
        return self


class Rotation(Frozen):
    """One layer: ``members`` take turns of ``length``, handing off at ``handoff`` local time.

    The layer begins at its first hand-off at or after ``start`` (a local date or date and
    time in ``time_zone``), with ``members[0]``; hand-offs then fall every ``length`` of wall
    time counted from that one (``1w`` at 09:00 on a Monday: every Monday at 09:00).
    ``handoff`` defaults to the time of ``start``. With ``hours`` the layer covers only that
    window of each day; turns go on turning outside it.
    """

    name: str = ""
    """The layer's name, for messages."""
    members: tuple[UserId, ...]
    """Slack user ids (U…) taking turns, in order."""
    start: LocalDateTime
    """Local date, or date and time, of the first hand-off at or after it."""
    end: LocalDateTime | None = None
    """Local date and time the layer ends; unset: never."""
    length: Duration
    """Each turn's length, like 1d or 1w (whole minutes, at least 1h)."""
    handoff: ClockTime | None = None
    """Local time of the hand-offs, HH:MM; unset: the time of start."""
    time_zone: TimeZoneName
    """IANA time zone of start, end, handoff and hours."""
    hours: Hours | None = None
    """Only this window of each day is covered; unset: all day."""

    @field_validator("members")
    @classmethod
    def _some_members(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return not_empty(value, "member")

    @field_validator("length")
    @classmethod
    def _turn_length(cls, value: timedelta) -> timedelta:
        if value < MIN_TURN or value % timedelta(minutes=1):
            raise ValueError(f"expected a turn length of whole minutes, at least 1h, like "
                             f"'1d' or '1w', got '{format_duration(value)}'")
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> Rotation:
        if self.end is not None and self.end <= self.start:
            raise field_errors(type(self), [problem(
                ("end",), self.end.isoformat(" ", "minutes"),
                f"expected an end after the start ({self.start:%Y-%m-%d %H:%M}), got "
                f"{self.end:%Y-%m-%d %H:%M}")])
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def anchor(self) -> datetime:
        """The local wall time of the first hand-off (``members[0]`` takes over)."""
        base = datetime.combine(self.start.date(), self.handoff or self.start.time())
        steps = -((base - self.start) // self.length)  # ceil((start - base) / length)
        return base + steps * self.length


class Schedule(Frozen):
    """Named, ordered layers; a later layer overrides earlier ones where it covers."""

    name: str = Field(min_length=1)
    """The schedule's name, named by policies' notify_schedule."""
    layers: tuple[Rotation, ...]
    """Rotation layers; a later layer wins where it covers the moment."""

    @field_validator("layers")
    @classmethod
    def _some_layers(cls, value: tuple[Rotation, ...]) -> tuple[Rotation, ...]:
        return not_empty(value, "layer")


class Override(Frozen):
    """``user`` is on call for ``schedule`` from ``start`` to ``end`` (UTC), whatever the
    layers say."""

    schedule: str
    user: UserId
    start: AwareDatetime
    end: AwareDatetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ends_after_start(self) -> Override:
        if self.end <= self.start:
            raise field_errors(type(self), [problem(
                ("end",), self.end.isoformat(),
                f"expected an end after the start ({self.start.isoformat()}), got "
                f"{self.end.isoformat()}")])
        return self


@dataclass(frozen=True, slots=True)
class Shift:
    """``users`` are on call from ``start`` to ``end`` (UTC)."""

    users: tuple[str, ...]
    start: datetime
    end: datetime


class Upcoming(NamedTuple):
    """Who takes over next, and when (UTC)."""

    users: tuple[str, ...]
    starts_at: datetime


# --- wall clock --------------------------------------------------------------------------

def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time ``wall`` in ``zone``.

    A repeated wall time (clocks going back) gives its first occurrence; a skipped one
    (clocks jumping forward) gives the first instant after the gap.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _local(first, zone) == wall:
        return first
    # In a gap fold=0 reads the wall time with the offset from before the change (too late)
    # and fold=1 with the one from after (too early): the change lies between the two.
    low = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _local(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _aware(instant: datetime, what: str = "at") -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


# --- hours -------------------------------------------------------------------------------

def hour_windows(
    hours: Hours, zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The windows of ``hours`` (UTC, in order) that overlap ``[start, end)``."""
    day = _local(start, zone).date() - timedelta(days=1)
    last = _local(end, zone).date()
    windows = []
    while day <= last:
        if DAYS[day.weekday()] in hours.days:
            opens = wall_to_utc(datetime.combine(day, hours.start), zone)
            end_day = day if hours.end > hours.start else day + timedelta(days=1)
            closes = wall_to_utc(datetime.combine(end_day, hours.end), zone)
            if opens < closes and closes > start and opens < end:
                windows.append((opens, closes))
        day += timedelta(days=1)
    return windows


def within_hours(hours: Hours, zone: ZoneInfo, at: datetime) -> bool:
    """Is ``at`` inside one of the windows of ``hours``?"""
    at = _aware(at)
    return any(o <= at < c for o, c in hour_windows(hours, zone, at, at + timedelta(seconds=1)))


def next_opening(hours: Hours, zone: ZoneInfo, at: datetime) -> datetime:
    """``at`` when it is within ``hours``, else the start of the next window."""
    at = _aware(at)
    for opens, closes in hour_windows(hours, zone, at, at + timedelta(days=8)):
        if opens <= at < closes:
            return at
        if opens > at:
            return opens
    raise AssertionError("a week always has a window: days is never empty")  # pragma: no cover


# --- one layer ---------------------------------------------------------------------------

def _handoff(layer: Rotation, turn: int) -> datetime:
    return wall_to_utc(layer.anchor + turn * layer.length, layer.zone)


def _turn(layer: Rotation, at: datetime) -> int:
    """The turn (0 = the first, members[0]'s) whose span holds ``at``; negative before it."""
    turn = (_local(at, layer.zone) - layer.anchor) // layer.length
    while _handoff(layer, turn + 1) <= at:
        turn += 1
    while _handoff(layer, turn) > at:
        turn -= 1
    return turn


def _covers(layer: Rotation, at: datetime) -> bool:
    if at < _handoff(layer, 0):
        return False
    if layer.end is not None and at >= wall_to_utc(layer.end, layer.zone):
        return False
    return layer.hours is None or within_hours(layer.hours, layer.zone, at)


def layer_on_call(layer: Rotation, at: datetime) -> str | None:
    """The member of ``layer`` on call at ``at``, or None where the layer does not cover it."""
    at = _aware(at)
    if not _covers(layer, at):
        return None
    return layer.members[_turn(layer, at) % len(layer.members)]


def _layer_changes(layer: Rotation, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every instant in ``(start, end)`` where the layer may change hands or coverage."""
    yield _handoff(layer, 0)
    if layer.end is not None:
        yield wall_to_utc(layer.end, layer.zone)
    turn = max(_turn(layer, start), 0) + 1
    while (moment := _handoff(layer, turn)) < end:
        yield moment
        turn += 1
    if layer.hours is not None:
        for opens, closes in hour_windows(layer.hours, layer.zone, start, end):
            yield opens
            yield closes


# --- a schedule --------------------------------------------------------------------------

def on_call(schedule: Schedule, overrides: Sequence[Override], at: datetime) -> list[str]:
    """Who is on call for ``schedule`` at the instant ``at``: the override, else the top layer."""
    at = _aware(at)
    for override in reversed(overrides):
        if override.schedule == schedule.name and override.start <= at < override.end:
            return [override.user]
    for layer in reversed(schedule.layers):
        user = layer_on_call(layer, at)
        if user is not None:
            return [user]
    return []


def shifts(
    schedule: Schedule, overrides: Sequence[Override], start: datetime, end: datetime
) -> list[Shift]:
    """The shifts in ``[start, end)``, in order, cut to the window.

    A shift is a stretch with the same people on call; consecutive turns of the same person
    make one shift. Stretches with nobody on call are left out (a gap between two shifts).
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return []
    moments = {start}
    for layer in schedule.layers:
        moments.update(m for m in _layer_changes(layer, start, end) if start < m < end)
    for override in overrides:
        if override.schedule == schedule.name:
            moments.update(m for m in (override.start, override.end) if start < m < end)
    ordered = sorted(moments)
    found: list[Shift] = []
    current: tuple[str, ...] = ()
    since = start
    for moment, until in zip(ordered, [*ordered[1:], end], strict=True):
        users = tuple(on_call(schedule, overrides, moment))
        if users != current:
            if current:
                found.append(Shift(current, since, moment))
            current, since = users, moment
        if until == end and current:
            found.append(Shift(current, since, end))
    return found


def next_shift(
    schedule: Schedule,
    overrides: Sequence[Override],
    at: datetime,
    within: timedelta = timedelta(days=366),
) -> Upcoming | None:
    """Who takes over next after ``at``, and when: the first shift starting later whose people
    differ from those on call at ``at`` (gaps with nobody are skipped). None when nobody
    different comes within ``within``."""
    at = _aware(at)
    now_on = tuple(on_call(schedule, overrides, at))
    chunk = timedelta(days=14)
    start = at
    while start < at + within:
        end = min(start + chunk, at + within)
        for shift in shifts(schedule, overrides, start, end):
            if shift.start > at and shift.users != now_on:
                return Upcoming(shift.users, shift.start)
        start = end
    return None
