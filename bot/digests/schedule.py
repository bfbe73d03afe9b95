"""When digests are due: the ``when`` text of a subscription and its occurrences. Pure.

``when`` reads ``daily HH:MM [Zone]`` or ``weekly <day> HH:MM [Zone]`` (day: mon..sun);
without a zone the caller's default (the settings' ``timezone``) applies. Wall times are
turned into instants by ``bot.incidents.schedules.wall_to_utc``: a time skipped by the
spring change means the first instant after the gap, a repeated one its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.digests.model import DigestKind
from bot.incidents.fields import DAYS, Weekday
from bot.incidents.schedules import wall_to_utc

USAGE = "expected 'daily HH:MM [Zone]' or 'weekly mon HH:MM [Zone]'"
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class When:
    """A parsed ``when``: daily, or weekly on ``day``, at ``at`` local time in ``zone``."""

    kind: DigestKind
    at: time
    zone: str
    day: Weekday | None = None  # weekly only

    @property
    def text(self) -> str:
        day = f" {self.day}" if self.day else ""
        return f"{self.kind}{day} {self.at:%H:%M} {self.zone}"


def parse_when(text: str, default_zone: str = "UTC") -> When:
    """Parse ``daily 09:00 Europe/Berlin`` / ``weekly mon 09:00``; ValueError saying why."""
    words = text.split()
    if not words or words[0].lower() not in ("daily", "weekly"):
        raise ValueError(f"{USAGE}, got {text!r}")
    kind: DigestKind = "daily" if words[0].lower() == "daily" else "weekly"
    rest = words[1:]
    day: Weekday | None = None
    if kind == "weekly":
        if not rest or rest[0].lower()[:3] not in DAYS:
            raise ValueError(f"{USAGE}: a weekly digest needs a day (mon..sun), got {text!r}")
        day = DAYS[DAYS.index(rest[0].lower()[:3])]
        rest = rest[1:]
    if not rest or not (match := _CLOCK.match(rest[0])):
        raise ValueError(f"{USAGE}: expected a time like 09:00, got {text!r}")
    at = time(int(match[1]), int(match[2]))
    if len(rest) > 2:
        raise ValueError(f"{USAGE}, got {text!r}")
    zone = rest[1] if len(rest) == 2 else default_zone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone like 'Europe/Berlin', got {zone!r}") from None
    return When(kind=kind, at=at, zone=zone, day=day)


def _instant(when: When, day: datetime) -> datetime:
    wall = datetime.combine(day.date(), when.at)
    return wall_to_utc(wall, ZoneInfo(when.zone))


def _candidates(when: When, now: datetime) -> list[datetime]:
    """Occurrences on the local days around ``now`` (enough to bracket it), in UTC."""
    local = now.astimezone(ZoneInfo(when.zone)).replace(tzinfo=None)
    days = [local + timedelta(days=offset) for offset in range(-8, 9)]
    if when.day is not None:
        days = [d for d in days if DAYS[d.weekday()] == when.day]
    return sorted(_instant(when, d) for d in days)


def last_occurrence(when: When, now: datetime) -> datetime:
    """The latest occurrence at or before ``now`` (UTC)."""
    now = _aware(now)
    return max(at for at in _candidates(when, now) if at <= now)


def next_occurrence(when: When, now: datetime) -> datetime:
    """The first occurrence strictly after ``now`` (UTC)."""
    now = _aware(now)
    return min(at for at in _candidates(when, now) if at > now)


def period_length(kind: DigestKind) -> timedelta:
    return timedelta(days=1) if kind == "daily" else timedelta(days=7)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)
