"""Time, injected: wall time (deadlines, audit times, caches) and, separately, the moment the
metrics are read as of ("data as of"), which the demo and ``--at`` hold still.

Everything that depends on "now" takes a ``Clock``; tests use ``FakeClock`` and advance it.
For tests and demos of the running bot, ``accelerated`` wall time runs N times faster than
real time, so an escalation's waits pass in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def accelerated(start: datetime, speed: float, real: Now = utc_now) -> Now:
    """Wall time that runs ``speed`` times faster than ``real`` from the real moment
    ``start``: ``start + (real() - start) × speed``. It depends on ``start`` and the real
    time only, so processes given the same ``start`` agree on it: a bot restarted on the
    same database goes on from where the last one's time had reached, never back."""
    if start.tzinfo is None:
        raise ValueError("an accelerated clock's start must carry a time zone")
    if not speed > 0:
        raise ValueError(f"a clock's speed must be more than 0, got {speed!r}")

    def now() -> datetime:
        return start + (real() - start) * speed
    return now


class Clock:
    """``now()`` is wall time and always moves, so an escalation wait or a digest time
    passes even in the demo; ``data_now()`` is what "the last hour" of the metrics ends at:
    wall time, or the moment ``as_of`` when the data is held still (the demo, ``--at``).

    ``rate`` is how many seconds of ``now()`` pass in a real second (``accelerated`` wall
    time: its speed), so what triggers in real time (the loop's scheduler) can keep to
    intervals of this clock's time."""

    def __init__(self, wall: Now = utc_now, *, as_of: datetime | None = None,
                 rate: float = 1.0) -> None:
        if as_of is not None and as_of.tzinfo is None:
            raise ValueError("a clock's data time must carry a time zone")
        if not rate > 0:
            raise ValueError(f"a clock's rate must be more than 0, got {rate!r}")
        self._wall = wall
        self.as_of = as_of
        self.rate = rate

    def now(self) -> datetime:
        return self._wall()

    def data_now(self) -> datetime:
        return self.as_of if self.as_of is not None else self._wall()

    def holding_data_at(self, as_of: datetime) -> Clock:
        """The same wall time, with the data read as of ``as_of``."""
        # self.now: a fake clock stays live
        return Clock(self.now, as_of=as_of, rate=self.rate)


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


def clock_at(text: str | None, zone: tzinfo, *, speed: float = 1.0,
             since: datetime | None = None) -> Clock:
    """The clock for ``--at TEXT``: the data held at that moment, or the real clock. With
    ``speed`` (``perfbot run --speed``), wall time runs that many times faster from the real
    moment ``since`` (default: now)."""
    moment = moment_at(text, zone)
    if speed == 1.0:
        return Clock(as_of=moment)
    start = since if since is not None else utc_now()
    return Clock(accelerated(start, speed), as_of=moment, rate=speed)
