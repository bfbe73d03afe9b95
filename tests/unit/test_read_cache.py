"""The detection's read cache: a tick reads only its newest steps and splices them onto the
frames it held, giving what a whole read gives; anything that does not line up reads whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.detection import ReadCache, splice
from bot.metrics.base import MetricsError, NoDataError, Signal, Window

T0 = datetime(2026, 11, 1, tzinfo=UTC)
STEP = timedelta(minutes=2)
HISTORY = STEP * 40


class Source:
    """A metrics source over a fixed table of points (rows: steps from ``T0``), read as a
    Prometheus range query reads: every grid row of the window, only the series with a
    value in it, sorted; none at all is ``NoDataError``. Records the windows it was asked."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.asked: list[Window] = []
        self.broken = False

    def read(self, window: Window) -> pd.DataFrame:
        self.asked.append(window)
        if self.broken:
            raise MetricsError("the metrics server is down")
        index = pd.date_range(window.start, window.end, freq=window.step)
        rows = self.table.reindex(index)
        found = rows.loc[:, rows.notna().any()]
        if found.columns.empty:
            raise NoDataError(f"no data between {window.start} and {window.end}")
        return found[sorted(found.columns)]


def table(values: np.ndarray, names: list[str], every: timedelta = STEP) -> pd.DataFrame:
    index = pd.date_range(T0, periods=values.shape[0], freq=every)
    return pd.DataFrame(values, index=index, columns=names, dtype=float)


def window(end_step: int, history: timedelta = HISTORY, step: timedelta = STEP) -> Window:
    end = T0 + STEP * end_step
    return Window(start=end - history, end=end, step=step, rate_window=step)


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal as the batch sees them: the same series, the same values at the same times."""
    pd.testing.assert_frame_equal(got, want, check_like=True, check_freq=False,
                                  check_index_type=False, check_names=False)


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=3, max_size=3),
                  min_size=130, max_size=130),
    late=st.lists(st.floats(0, 100), min_size=3, max_size=3),
    first_end=st.integers(50, 90),
    advance=st.integers(0, 35),
)
def test_a_splice_equals_a_whole_read(
    data: list[list[float | None]], late: list[float], first_end: int, advance: int,
) -> None:
    values = np.array([[np.nan if v is None else v for v in row] for row in data])
    source = Source(table(values, ["a", "b", "c"]))
    reads = ReadCache()
    try:
        reads.read(Signal.CPU, source.read, window(first_end), ())
    except NoDataError:
        return
    # A late sample moves the held window's newest point: the re-read value must win.
    source.table.iloc[first_end] = late
    now = window(first_end + advance)
    try:
        whole = source.read(now)
    except NoDataError:
        return
    source.asked.clear()
    got = reads.read(Signal.CPU, source.read, now, ())
    same(got, whole)
    assert source.asked[0].start > now.start  # only the newest steps (then whole if none)


def test_splice_keeps_the_held_columns_then_the_new_ones_and_drops_the_emptied() -> None:
    held = table(np.array([[1.0, np.nan, 5.0], [2.0, np.nan, 6.0], [3.0, 4.0, np.nan],
                           [4.0, np.nan, np.nan]]), ["x", "gone", "y"])
    fresh = table(np.array([[30.0, 7.0], [31.0, 8.0]]), ["x", "new"]).shift(3, freq=STEP)
    # From the second row on, "gone" has a point left (row 2), "y" has one (row 1).
    got = splice(held, fresh, T0 + STEP)
    assert list(got.columns) == ["x", "gone", "y", "new"]
    assert got["x"].tolist() == [2.0, 3.0, 30.0, 31.0]  # the re-read row 3 wins
    # From the fourth row on, neither has a point, and the new read lacks them.
    got = splice(held, fresh, T0 + 3 * STEP)
    assert list(got.columns) == ["x", "new"]
    assert got.index[0] == pd.Timestamp(T0 + 3 * STEP)


def test_a_later_read_asks_only_for_the_newest_steps() -> None:
    source = Source(table(np.arange(200.0).reshape(100, 2), ["a", "b"]))
    reads = ReadCache()
    reads.read(Signal.LATENCY, source.read, window(60), ("e",))
    reads.read(Signal.LATENCY, source.read, window(63), ("e",))
    first, second = source.asked
    assert (first.start, first.end) == (window(60).start, window(60).end)
    # Three steps and the rate's window (one step) before the held end.
    assert (second.start, second.end) == (T0 + 56 * STEP, T0 + 63 * STEP)


@pytest.mark.parametrize(("change", "why"), [
    (lambda: (window(63), ("other endpoints",)), "the endpoint set changed"),
    (lambda: (window(63, step=STEP * 2, history=STEP * 40), ("e",)), "the step changed"),
    (lambda: (window(61, history=STEP * 50), ("e",)), "the history grew"),
    (lambda: (window(99), ("e",)), "a gap longer than the history"),
    (lambda: (window(55), ("e",)), "the end went back"),
    (lambda: (Window(start=T0 + STEP * 21 + timedelta(minutes=1), end=T0 + STEP * 61,
                     step=STEP, rate_window=STEP), ("e",)), "the grid moved"),
])
def test_what_does_not_line_up_is_read_whole(change, why: str) -> None:  # type: ignore[no-untyped-def]
    # Every minute: a grid moved by a minute reads too.
    source = Source(table(np.arange(500.0).reshape(250, 2), ["a", "b"], timedelta(minutes=1)))
    reads = ReadCache()
    reads.read(Signal.LATENCY, source.read, window(60), ("e",))
    now, asked = change()
    got = reads.read(Signal.LATENCY, source.read, now, asked)
    assert (source.asked[-1].start, source.asked[-1].end) == (now.start, now.end), why
    same(got, source.read(now))


def test_a_failed_read_is_raised_and_the_next_one_is_whole() -> None:
    source = Source(table(np.arange(200.0).reshape(100, 2), ["a", "b"]))
    reads = ReadCache()
    reads.read(Signal.CPU, source.read, window(60), ())
    source.broken = True
    with pytest.raises(MetricsError):
        reads.read(Signal.CPU, source.read, window(61), ())
    source.broken = False
    reads.read(Signal.CPU, source.read, window(62), ())
    assert source.asked[-1].start == window(62).start


def test_nothing_new_reads_whole_to_see_what_is_left() -> None:
    values = np.arange(200.0).reshape(100, 2)
    values[50:] = np.nan  # the series stopped at step 50
    source = Source(table(values, ["a", "b"]))
    reads = ReadCache()
    reads.read(Signal.CPU, source.read, window(60), ())
    got = reads.read(Signal.CPU, source.read, window(70), ())
    assert [(w.start, w.end) for w in source.asked[1:]] == [
        (T0 + 56 * STEP, T0 + 70 * STEP), (window(70).start, window(70).end)]
    same(got, source.read(window(70)))
