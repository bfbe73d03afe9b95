"""Frames from the server's answers: the grid of a range query, each series' points put on
it, the frame of a signal, and the summary's rows. Pure: ``PrometheusBackend`` reads, these
build (pandas is imported where a frame is made, as in ``backend``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.durations import format_duration
from bot.metrics import promql
from bot.metrics.base import (
    SUMMARY_COLUMNS,
    Endpoint,
    NoDataError,
    Signal,
    Window,
    format_utc,
)
from bot.metrics.conventions import HttpMetrics
from bot.metrics.prometheus.discovery import endpoint_of
from bot.metrics.prometheus.shapes import Point, Sample, Series

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

BUCKETS = "buckets"  # the summary's part that reads the bucket rates
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}  # the summary's quantiles


def _frame(
    signal: Signal | str,
    window: Window,
    columns: dict[str, list[Point]],
    wanted: list[str] | None,
    noun: str,
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if not any(columns.values()):
        # Nothing in the window (a detection read's parts before the data begins): no
        # grid of NaNs to lay out first (10,000 steps × 1,000 endpoints: 80 MB).
        raise _no_data(signal, window, wanted, noun)
    index = _grid(window)
    names = list(columns) if wanted is None else wanted
    # One array, each series' points put at their instants of the grid (as pandas'
    # alignment would; a frame of a Series per column cost more than the query, issue 13).
    table = np.full((len(index), len(names)), np.nan)
    for at, name in enumerate(names):
        values = columns.get(name)
        if values:
            table[:, at] = _on_grid(index, values)
    if table.size == 0 or np.isnan(table).all():
        raise _no_data(signal, window, wanted, noun)
    frame = pd.DataFrame(table, index=index, columns=names)
    frame.index.name = "time"
    return frame


def _no_data(signal: Signal | str, window: Window, wanted: list[str] | None,
             noun: str) -> NoDataError:
    subject = f"the requested {noun}s" if wanted else f"any {noun}"
    what = signal.value.replace("_", " ") if isinstance(signal, Signal) else signal
    return NoDataError(f"no {what} data for {subject} between "
                       f"{format_utc(window.start)} and {format_utc(window.end)}")


def _summary_frame(
    samples: Sequence[Sample], http: HttpMetrics, wanted: Sequence[Endpoint], at: datetime,
    lookback: timedelta,
) -> pd.DataFrame:
    """The summary's rows (one per ``wanted`` endpoint) from the samples of its tagged
    union: p50, p95 and p99 from the bucket rates, throughput and error ratio as read."""
    import numpy as np
    import pandas as pd

    read: dict[str, dict[str, float]] = {column: {} for column in SUMMARY_COLUMNS[1:]}
    buckets: dict[str, list[tuple[str, float]]] = {}
    for sample in samples:
        part = sample["metric"].get(promql.FIGURE_LABEL, "")
        column = endpoint_of(http, sample["metric"]).column
        if part == BUCKETS:
            buckets.setdefault(column, []).append(
                (sample["metric"].get("le", ""), sample["value"][1]))
        elif part in read:
            read[part][column] = _number(sample["value"][1])
    for column, rates in buckets.items():
        for name, q in QUANTILES.items():
            read[name][column] = _number(_quantile(q, rates) * http.seconds_per_unit)
    # A row per wanted endpoint, made as one array: a Series per figure, joined and
    # reindexed, cost more than the query (issue 13).
    rows = [e.column for e in wanted]
    table = np.array([[values.get(row, math.nan) for row in rows] for values in read.values()],
                     dtype=float).reshape(len(read), len(rows)).T
    if np.isnan(table).all():
        raise NoDataError(
            f"no requests recorded in the {format_duration(lookback)} "
            f"before {format_utc(at)}"
        )
    frame = pd.DataFrame(table, index=rows, columns=list(read))
    frame.insert(0, "service", pd.Series([e.service for e in wanted], index=rows,
                                         dtype=object))
    return frame[SUMMARY_COLUMNS]


def _quantile(q: float, rates: Sequence[tuple[str, float]]) -> float:
    """PromQL's ``histogram_quantile`` of one histogram's ``(le, rate)`` buckets, as
    Prometheus computes it (``bot.metrics.histogram``): buckets of the same bound add up,
    and without a ``+Inf`` bucket (or a readable bound) there is no quantile."""
    from bot.metrics.histogram import histogram_quantile

    by_bound: dict[float, float] = {}
    for le, rate in rates:
        try:
            bound = float(le)
        except ValueError:
            continue  # Prometheus skips a bucket whose bound it cannot read
        by_bound[bound] = by_bound.get(bound, 0.0) + rate
    bounds = sorted(by_bound)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return math.nan
    counts = [by_bound[b] for b in bounds]
    return float(histogram_quantile(q, bounds[:-1], counts))


def _whole_seconds(moment: datetime) -> datetime:
    # The client rounds to whole seconds; the grid below must use the same instants.
    return datetime.fromtimestamp(round(moment.timestamp()), UTC)


def _within(result: list[Series], window: Window) -> list[Series]:
    """The points of ``result`` inside ``window``; series without any are left out, as a
    query over ``window`` alone would leave them out."""
    start, end = _whole_seconds(window.start).timestamp(), _whole_seconds(window.end).timestamp()
    kept = []
    for series in result:
        values = [point for point in series["values"] if start <= float(point[0]) <= end]
        if values:
            kept.append(Series(metric=series["metric"], values=values))
    return kept


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def _grid(window: Window) -> pd.DatetimeIndex:
    """The instants a range query evaluates: start, start + step, ... up to end."""
    import numpy as np
    import pandas as pd

    start, end = _whole_seconds(window.start), _whole_seconds(window.end)
    step = _microseconds(window.step)
    count = (_microseconds(end - start)) // step + 1
    # In one array operation: a Timestamp per point took longer than the query (issue 13).
    first = _microseconds(start - EPOCH)
    instants = (first + np.arange(count, dtype=np.int64) * step).astype("datetime64[us]")
    return pd.DatetimeIndex(instants, tz=UTC, name="time")


def _on_grid(index: pd.DatetimeIndex, values: Sequence[Point],
             finite: bool = True) -> npt.NDArray[np.float64]:
    """A series' values at ``index``'s instants (a ``_grid``), NaN where it has no point;
    points between the instants are left out, as pandas' alignment leaves them out. With
    ``finite``, ±Inf becomes NaN (``_number``)."""
    import numpy as np

    points = np.asarray(values, dtype=float).reshape(-1, 2)
    grid = index.asi8  # microseconds (``_grid``)
    step = int(grid[1] - grid[0]) if len(grid) > 1 else 1
    # Prometheus' times are whole milliseconds: exact in microseconds.
    offsets = np.rint(points[:, 0] * 1e6).astype(np.int64) - grid[0]
    at = offsets // step
    on = (offsets % step == 0) & (at >= 0) & (at < len(grid))
    out = np.full(len(grid), np.nan)
    numbers = points[on, 1]
    out[at[on]] = np.where(np.isfinite(numbers), numbers, np.nan) if finite else numbers
    return out


def _number(value: float) -> float:
    """A sample value; ±Inf (e.g. a quantile above the top bucket) becomes NaN."""
    return value if math.isfinite(value) else math.nan
