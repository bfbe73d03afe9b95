"""How much of a question's window the data covers, and whether the data has stopped.

A figure over 30 days of an 8-day history is a figure over 8 days; a window entirely before
the first sample or after the last has nothing at all; data that stopped 20 minutes ago looks
like a quiet hour. Each is said in words, from ``MetricsBackend.data_steps`` (one cheap query:
how many series have samples per step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from bot.ask.timerange import TimeRange, moment_label, span_text
from bot.metrics.base import Endpoint, MetricsBackend, MetricsError, Window

COVERAGE_POINTS = 120  # steps per window: enough to say "2 of 7 days", one small query
FULL = 0.95  # covered at least this much: nothing to say
STALE_AFTER = timedelta(minutes=5)  # no sample for longer than this before now: stopped
SEARCH_BACK = timedelta(days=90)  # how far back to look for the data's start


@dataclass(frozen=True)
class Coverage:
    """Which steps of ``window`` have data: ``first``/``last`` are their step ends."""

    window: TimeRange
    step: timedelta
    steps: int
    covered: int
    first: datetime | None
    last: datetime | None

    @property
    def fraction(self) -> float:
        return self.covered / self.steps if self.steps else 0.0

    @property
    def span(self) -> timedelta:
        """About how long of the window has data."""
        return min(self.covered * self.step, self.window.span)


def _steps(backend: MetricsBackend, start: datetime, end: datetime, points: int,
           endpoints: Sequence[Endpoint] | None = None
           ) -> tuple[timedelta, list[tuple[datetime, float]]]:
    step = max(timedelta(minutes=1), timedelta(seconds=round((end - start).total_seconds()
                                                             / points)))
    if step == timedelta(minutes=1):  # whole minutes, as scrapes usually are
        start = start.replace(second=0, microsecond=0)
    # The first step ends one step after the start, so each step covers (t - step, t].
    counts = backend.data_steps(Window(start=start + step, end=end, step=step), endpoints)
    times = pd.DatetimeIndex(counts.index).to_pydatetime()
    return step, list(zip(times, counts.to_numpy(dtype=float).tolist(), strict=True))


def coverage(backend: MetricsBackend, window: TimeRange) -> Coverage | None:
    """The window's coverage; None when the backend cannot tell (it is then not mentioned)."""
    return coverages(backend, [window])[0]


def coverages(backend: MetricsBackend, windows: Sequence[TimeRange],
              endpoints: Sequence[Endpoint] | None = None) -> list[Coverage | None]:
    """Each window's coverage by the series of ``endpoints`` (None: all series); windows
    that touch (a window and the span before it) are read in one query."""
    start, end = min(w.start for w in windows), max(w.end for w in windows)
    if (end - start) > 1.01 * sum((w.span for w in windows), timedelta(0)):
        return [coverage_of(backend, w, endpoints) for w in windows]
    try:
        step, counts = _steps(backend, start, end, COVERAGE_POINTS * len(windows), endpoints)
    except MetricsError:
        return [None for _ in windows]
    return [_slice(w, step, counts) for w in windows]


def coverage_of(backend: MetricsBackend, window: TimeRange,
                endpoints: Sequence[Endpoint] | None = None) -> Coverage | None:
    try:
        step, counts = _steps(backend, window.start, window.end, COVERAGE_POINTS, endpoints)
    except MetricsError:
        return None
    return _slice(window, step, counts)


def _slice(window: TimeRange, step: timedelta, counts: list[tuple[datetime, float]]
           ) -> Coverage:
    """The steps that end inside ``(window.start, window.end]`` (to within a second)."""
    earliest = window.start + step - timedelta(seconds=1)  # once, not per step
    mine = [(t, v) for t, v in counts if earliest <= t <= window.end]
    present = [t for t, v in mine if v > 0]
    return Coverage(window, step, len(mine), len(present),
                    present[0] - step if present else None, present[-1] if present else None)


def trimmed(window: TimeRange, found: Coverage | None) -> TimeRange:
    """``window`` cut to the part with data (same label); as it is when (nearly) full,
    empty, or unknown."""
    if found is None or not found.covered or found.fraction >= FULL:
        return window
    assert found.first is not None and found.last is not None
    start, end = max(window.start, found.first), min(window.end, found.last)
    if end - start < timedelta(minutes=1):
        return window
    return window.model_copy(update={"start": start, "end": end})


def data_range(backend: MetricsBackend, around: TimeRange, now: datetime
               ) -> tuple[datetime, datetime] | None:
    """About when the data starts and ends, searched from ``SEARCH_BACK`` before ``around``
    to now; None when there is none there (or the backend cannot tell)."""
    start = around.start - SEARCH_BACK
    end = max(now, around.end)
    try:
        step, counts = _steps(backend, start, end, 1000)
        present = [t for t, v in counts if v > 0]
        if not present:
            return None
        first, last = present[0] - step, present[-1]
        # Refine both ends to about a minute: "no data since 15:01", not "since 14:00".
        minutes = int(2 * step / timedelta(minutes=1)) + 1
        _, fine = _steps(backend, first - step, first + step, minutes)
        first = min((t for t, v in fine if v > 0), default=first)
        _, fine = _steps(backend, last - step, min(last + step, end), minutes)
        last = max((t for t, v in fine if v > 0), default=last)
    except MetricsError:
        return None
    return first, last


def last_sample(backend: MetricsBackend, now: datetime, span: timedelta = timedelta(hours=1)
                ) -> datetime | None:
    """The last minute with data in the ``span`` before now; None when there is none
    (or the backend cannot tell)."""
    try:
        _, counts = _steps(backend, now - span, now, int(span / timedelta(minutes=1)))
    except MetricsError:
        return None
    return max((t for t, v in counts if v > 0), default=None)


def when(moment: datetime, tz: ZoneInfo, now: datetime) -> str:
    """``Sat 21 Nov 12:00`` / ``today 11:40`` in the asker's zone."""
    local = moment.astimezone(tz)
    return moment_label(local, now.astimezone(tz).date())


def coverage_words(found: Coverage) -> str | None:
    """``only 2d of the 7d asked have data (from about Sat 21 Nov 12:00)``; None when
    (nearly) full or empty."""
    if found.fraction >= FULL or found.covered == 0:
        return None
    window = found.window
    tz = window.start.tzinfo
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo("UTC")
    parts = []
    if found.first is not None and found.first > window.start + found.step:
        parts.append(f"from about {when(found.first + found.step, zone, window.end)}")
    if found.last is not None and found.last < window.end - found.step:
        parts.append(f"until about {when(found.last, zone, window.end)}")
    where = f" ({', '.join(parts)})" if parts else ""
    return f"only {_span(found.span)} of the {span_text(window.span)} asked have data{where}"


def nothing_before_words(found: Coverage, tz: ZoneInfo, now: datetime) -> str | None:
    """``no data before today 09:00 to compare with`` when the span before a figure has no
    data, or only in its last step (the first samples, where the figure's window starts: a
    rate needs two); None otherwise."""
    if found.first is not None and found.first < found.window.end - found.step - timedelta(
            seconds=1):
        return None
    return f"no data before {when(found.window.end, tz, now)} to compare with"


def outside_words(window: TimeRange, found: tuple[datetime, datetime] | None, tz: ZoneInfo,
                  now: datetime) -> str:
    """Why a window has nothing: before the first sample, after the last, or none at all."""
    if found is None:
        return "the metrics server has no HTTP histogram samples in the 90 days before it"
    first, last = found
    runs = f"the data runs from {when(first, tz, now)} to {when(last, tz, now)}"
    if window.end <= first:
        return f"it is entirely before the first sample: {runs}"
    if window.start >= last:
        return f"it is entirely after the last sample: {runs}"
    return f"no requests were recorded in it; {runs}"


def stale_words(last: datetime | None, tz: ZoneInfo, now: datetime) -> str | None:
    """``no data since today 11:40 (20m ago)`` when every series has stopped."""
    if last is None:
        return f"no data at all in the hour before {when(now, tz, now)}: the metrics have stopped"
    if now - last <= STALE_AFTER:
        return None
    ago = span_text(now - last)
    return f"no data since {when(last, tz, now)} ({ago} ago): every series stopped"


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=2):
        return f"{round(delta / timedelta(days=1))}d"
    if delta >= timedelta(hours=2):
        return f"{round(delta / timedelta(hours=1))}h"
    return f"{max(1, round(delta / timedelta(minutes=1)))}m"
