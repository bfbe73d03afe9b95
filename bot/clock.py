"""Time, injected: wall time (deadlines, audit times, caches) and, separately, the moment the
metrics are read as of ("data as of"), which the demo and ``--at`` hold still.

Everything that depends on "now" takes a ``Clock``; tests use ``FakeClock`` and advance it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Clock:
    """``now()`` is wall time and always moves, so an escalation wait or a digest time
    passes even in the demo; ``data_now()`` is what "the last hour" of the metrics ends at:
    wall time, or the moment ``as_of`` when the data is held still (the demo, ``--at``)."""

    def __init__(self, wall: Now = utc_now, *, as_of: datetime | None = None) -> None:
        if as_of is not None and as_of.tzinfo is None:
            raise ValueError("a clock's data time must carry a time zone")
        self._wall = wall
        self.as_of = as_of

    def now(self) -> datetime:
        return self._wall()

    def data_now(self) -> datetime:
        return self.as_of if self.as_of is not None else self._wall()

    def holding_data_at(self, as_of: datetime) -> Clock:
        """The same wall time, with the data read as of ``as_of``."""
        return Clock(self.now, as_of=as_of)  # self.now: a fake clock stays live


class FakeClock(Clock):
    """A clock that moves only when a test says so."""

    def __init__(self, start: datetime, *, as_of: datetime | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("a fake clock's start must carry a time zone")
        self._at = start
        super().__init__(lambda: self._at, as_of=as_of)

    def advance(self, delta: timedelta) -> datetime:
        self._at += delta
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at


def moment_at(text: str | None, zone: tzinfo) -> datetime | None:
    """The moment of ``--at TEXT`` (in ``zone`` unless the text gives its own offset), None
    when ``text`` is empty. ValueError says what was wrong."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at: expected a time like 2026-11-20T14:00, got {text!r}") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def clock_at(text: str | None, zone: tzinfo) -> Clock:
    """The clock for ``--at TEXT``: the data held at that moment, or the real clock."""
    moment = moment_at(text, zone)
    return Clock() if moment is None else Clock(as_of=moment)
