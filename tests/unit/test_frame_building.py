"""The Prometheus backend's frames, built on numpy (issue 13, "Fast commands"), are the
frames pandas' alignment built before: the same instants, columns, values and gaps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.metrics.base import NoDataError, Window
from bot.metrics.prometheus.backend import _grid
from bot.metrics.prometheus.frames import _frame

END = datetime(2026, 11, 23, 12, 0, 0, 400_000, tzinfo=UTC)  # not on a whole second


def _old_grid(window: Window) -> pd.DatetimeIndex:
    """``_grid`` as it was: a Timestamp plus timedeltas."""
    start = datetime.fromtimestamp(round(window.start.timestamp()), UTC)
    end = datetime.fromtimestamp(round(window.end.timestamp()), UTC)
    step = window.step.total_seconds()
    count = int((end - start).total_seconds() // step) + 1
    first = pd.Timestamp(start)
    offsets = pd.to_timedelta(np.arange(count) * step, unit="s")
    return pd.DatetimeIndex(first + offsets, name="time").as_unit(first.unit)


def _old_frame(window: Window, columns: dict[str, list[tuple[float, float]]],
               wanted: list[str] | None) -> pd.DataFrame | None:
    """``_frame`` as it was: a pandas Series per column, aligned on the grid (None: no data)."""
    frame = pd.DataFrame(
        {name: pd.Series([v if math.isfinite(v) else math.nan for _, v in values],
                         index=pd.to_datetime([t for t, _ in values], unit="s", utc=True),
                         dtype=float)
         for name, values in columns.items()},
        index=_old_grid(window), dtype=float)
    if wanted is not None:
        frame = frame.reindex(columns=wanted)
    if frame.empty or frame.isna().all().all():
        return None
    frame.index.name = "time"
    return frame


def _window(points: int, step_minutes: int) -> Window:
    step = timedelta(minutes=step_minutes)
    return Window(start=END - (points - 1) * step, end=END, step=step, rate_window=step)


@st.composite
def _series(draw: st.DrawFn) -> tuple[Window, dict[str, list[tuple[float, float]]],
                                      list[str] | None]:
    # Spans that are not a whole number of steps too: the grid stops before the end.
    step = timedelta(minutes=draw(st.sampled_from([1, 5, 6, 12, 60])))
    span = timedelta(minutes=draw(st.integers(1, 40 * int(step.total_seconds() // 60))))
    window = Window(start=END - span, end=END, step=step, rate_window=step)
    instants = [t.timestamp() for t in _old_grid(window)]
    seconds = step.total_seconds()
    value = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                      st.floats(0, 10, allow_nan=False))
    # On the grid, a step before or after it, or between two instants (ms precision).
    moment = st.one_of(st.sampled_from(instants),
                       st.sampled_from([instants[0] - seconds, instants[-1] + seconds]),
                       st.sampled_from(instants).map(lambda t: t + 0.25))
    names = draw(st.lists(st.sampled_from("abcdef"), unique=True, max_size=4))
    columns = {}
    for name in names:
        times = sorted(draw(st.sets(moment, max_size=len(instants) + 2)))
        columns[name] = [(t, draw(value)) for t in times]
    wanted = draw(st.one_of(st.none(), st.lists(st.sampled_from("abcdefg"), max_size=4)))
    return window, columns, wanted


@settings(max_examples=300, deadline=None)
@given(_series())
def test_a_frame_is_what_pandas_alignment_made(
    case: tuple[Window, dict[str, list[tuple[float, float]]], list[str] | None],
) -> None:
    window, columns, wanted = case
    expected = _old_frame(window, columns, wanted)
    if expected is None:
        with pytest.raises(NoDataError, match="no latency data for"):
            _frame("latency", window, columns, wanted, "endpoint")
        return
    frame = _frame("latency", window, columns, wanted, "endpoint")
    pd.testing.assert_frame_equal(frame, expected, check_column_type=True, check_freq=False)


@pytest.mark.parametrize("points,step_minutes", [(2, 1), (241, 6), (481, 6), (1441, 1)])
def test_the_grid_is_the_same_instants_as_before(points: int, step_minutes: int) -> None:
    window = _window(points, step_minutes)
    pd.testing.assert_index_equal(_grid(window), _old_grid(window), exact=True)
    assert len(_grid(window)) == points
