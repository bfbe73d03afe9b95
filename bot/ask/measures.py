"""One measure for some endpoints (or services) over a window: what a question's figure is.

A measure is read twice: the whole-window figure (the p95 of all requests in the window, the
requests served in it) and the per-step series (for sparklines, charts and significance
tests). How each measure and statistic is made:

* latency pNN: ``histogram_quantile`` over the whole window; avg: the histogram's ``_sum``
  over its ``_count`` (the true mean); max: the highest per-step p99 (a histogram keeps no
  true maximum);
* error ratio: 5xx over all requests in the window; max: the worst step;
* throughput: requests over the window's seconds; max: the busiest step;
* request and error counts: the rate times the window's seconds; their series are rates;
* CPU and memory (per service): the average share of the limit; max: the highest step.

Several endpoints fold into one subject (a service) with ``combine``: counts and rates add
up, ratios and the mean latency are weighted by traffic, and a latency quantile is the quantile
of all the service's requests (the backend's ``pooled_latency``: buckets summed by ``le``), not
the slowest member's, which can be far above it.
``read_subjects`` reads a question's measure for its subjects that way, on another window's grid
when one is given (to set two windows side by side).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import pandas as pd

from bot.ask import timerange
from bot.ask.context import Context, Subject, all_endpoints
from bot.ask.query import Measure, Statistic
from bot.ask.timerange import TimeRange
from bot.figures import (
    last_values,
    series_window,
    service_signal,
    whole_window,
)
from bot.metrics import batch
from bot.metrics.base import Endpoint, MetricsBackend, NoDataError, Signal, Window

MAX_QUANTILE = 0.99  # "max latency": the peak of the per-step p99


@dataclass(frozen=True)
class Reading:
    """A measure per column (endpoint key, or service name) over ``[start, end]``."""

    measure: Measure
    statistic: Statistic | None
    start: datetime
    end: datetime
    values: dict[str, float]  # the whole-window figure
    series: pd.DataFrame  # per step; counts are read as rates per second
    traffic: dict[str, float] = field(default_factory=dict)  # requests, when read
    traffic_series: pd.DataFrame | None = None  # req/s per step, when read

    def value(self, column: str) -> float:
        return self.values.get(column, float("nan"))

    def column(self, column: str) -> pd.Series:
        if column in self.series.columns:
            return self.series[column]
        return pd.Series(np.nan, index=self.series.index, dtype=float)


def per_service(measure: Measure) -> bool:
    return measure in (Measure.CPU, Measure.MEMORY)


def read_endpoints(
    backend: MetricsBackend,
    measure: Measure,
    statistic: Statistic | None,
    endpoints: Sequence[Endpoint],
    start: datetime,
    end: datetime,
    *,
    with_traffic: bool = False,
    series: Window | None = None,
    with_series: bool = True,
    with_figures: bool = True,
) -> Reading:
    """An endpoint measure (not cost, not cpu/memory) for ``endpoints``.

    ``with_traffic`` also reads requests (to weigh ratios when endpoints are combined);
    ``series`` overrides the per-step grid (two windows compared use the same step);
    without ``with_series`` only the whole-window figures are read (the series are empty),
    unless the figure is a peak of the series; without ``with_figures``, the series only (the
    figures are NaN: a ranking has them from its read of every endpoint).
    """
    whole = whole_window(start, end)
    steps = series or series_window(start, end)
    seconds = whole.lookback.total_seconds()
    need_traffic = with_traffic or measure in (Measure.REQUEST_COUNT, Measure.ERROR_COUNT) or (
        measure is Measure.LATENCY and statistic is Statistic.AVG
    )
    quantile = (statistic or Statistic.P95).quantile or 0.95
    with_series = with_series or statistic is Statistic.MAX
    # The reads this measure needs, by name; independent, so they run at the same time.
    reads: dict[str, Callable[[], pd.DataFrame]] = {}
    if need_traffic or measure is Measure.THROUGHPUT:
        reads["traffic whole"] = lambda: backend.throughput(whole, endpoints)
        reads["traffic steps"] = lambda: backend.throughput(steps, endpoints)
    if measure is Measure.LATENCY:
        if statistic is Statistic.AVG:
            reads["busy whole"] = lambda: backend.busy_time(whole, endpoints)
            reads["busy steps"] = lambda: backend.busy_time(steps, endpoints)
        elif statistic is Statistic.MAX:
            reads["steps"] = lambda: backend.latency(steps, MAX_QUANTILE, endpoints)
        else:
            reads["whole"] = lambda: backend.latency(whole, quantile, endpoints)
            reads["steps"] = lambda: backend.latency(steps, quantile, endpoints)
    elif measure is Measure.ERROR_RATIO or measure is Measure.ERROR_COUNT:
        reads["steps"] = lambda: backend.error_ratio(steps, endpoints)
        reads["whole"] = lambda: backend.error_ratio(whole, endpoints)
    elif measure is not Measure.THROUGHPUT and measure is not Measure.REQUEST_COUNT:
        raise ValueError(f"{measure.value} is not an endpoint measure")
    if not with_series:
        reads = {name: read for name, read in reads.items() if "steps" not in name}
    elif not with_figures:
        reads = {name: read for name, read in reads.items() if "whole" not in name}
    read = dict(zip(reads, batch.run_all(*reads.values()), strict=True))
    if not with_series or not with_figures:  # made only when used: a frame costs a ms
        empty = pd.DataFrame(columns=[e.column for e in endpoints], dtype=float,
                             index=pd.DatetimeIndex([], tz="UTC", name="time"))
    if not with_series:
        read.update({name: empty for name in ("steps", "traffic steps", "busy steps")})
    elif not with_figures:
        read.update({name: empty for name in ("whole", "traffic whole", "busy whole")
                     if name.replace("whole", "steps") in read})
    traffic_whole = traffic_steps = None
    if "traffic whole" in read:
        traffic_whole = last_values(read["traffic whole"])
        traffic_steps = read["traffic steps"]

    if measure is Measure.LATENCY:
        if statistic is Statistic.AVG:
            busy = last_values(read["busy whole"])
            values = {k: _divide(busy.get(k, np.nan), v) for k, v in _known(traffic_whole).items()}
            assert traffic_steps is not None
            frame = read["busy steps"] / traffic_steps.replace(0, np.nan)
        elif statistic is Statistic.MAX:
            frame = read["steps"]
            values = _peaks(frame)
        else:
            values = last_values(read["whole"])
            frame = read["steps"]
    elif measure is Measure.ERROR_RATIO or measure is Measure.ERROR_COUNT:
        ratio_frame = read["steps"]
        ratios = last_values(read["whole"])
        if measure is Measure.ERROR_RATIO:
            frame = ratio_frame
            values = _peaks(frame) if statistic is Statistic.MAX else ratios
        else:
            assert traffic_whole is not None and traffic_steps is not None
            values = {
                k: _errors(ratios.get(k, np.nan), rate) * seconds
                for k, rate in _known(traffic_whole).items()
            }
            frame = ratio_frame.fillna(0).where(traffic_steps > 0) * traffic_steps
    else:
        assert traffic_whole is not None and traffic_steps is not None
        frame = traffic_steps
        if measure is Measure.REQUEST_COUNT:
            values = {k: v * seconds for k, v in _known(traffic_whole).items()}
        else:
            values = _peaks(frame) if statistic is Statistic.MAX else dict(traffic_whole)
    traffic = {k: v * seconds for k, v in _known(traffic_whole).items()}
    return Reading(measure, statistic, start, end, values, frame, traffic, traffic_steps)


def read_services(
    backend: MetricsBackend,
    measure: Measure,
    statistic: Statistic | None,
    services: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    series: Window | None = None,
) -> Reading:
    """CPU or memory, as a share of each service's limit."""
    signal = Signal.CPU if measure is Measure.CPU else Signal.MEMORY
    steps = series or series_window(start, end)
    frame = service_signal(backend, signal, steps, services)
    if statistic is Statistic.MAX:
        values = _peaks(frame)
    else:
        values = last_values(service_signal(backend, signal, whole_window(start, end), services))
    return Reading(measure, statistic, start, end, values, frame)


def combine(reading: Reading, groups: Mapping[str, Sequence[str]]) -> Reading:
    """Fold columns into groups (a service's endpoints into the service); pure.

    Counts and rates add up; ratios and the mean latency are weighted by requests
    (``with_traffic`` readings); a latency quantile takes the slowest member here, a stand-in
    that ``read_subjects`` replaces with the pooled quantile (a quantile cannot be folded).
    """
    values: dict[str, float] = {}
    series: dict[str, pd.Series] = {}
    traffic: dict[str, float] = {}
    for name, members in groups.items():
        columns = [c for c in members if c in reading.series.columns]
        part = reading.series[columns]
        traffic[name] = float(np.nansum([reading.traffic.get(c, np.nan) for c in members]))
        member_values = np.array([reading.value(c) for c in members], dtype=float)
        if reading.measure is Measure.LATENCY and reading.statistic is Statistic.AVG:
            series[name], values[name] = _weighted(reading, columns, members)
        elif reading.measure is Measure.LATENCY:
            series[name] = part.max(axis=1, skipna=True)
            values[name] = _nanmax(member_values)
        elif reading.measure is Measure.ERROR_RATIO:
            series[name], values[name] = _weighted(reading, columns, members)
        else:
            series[name] = part.sum(axis=1, min_count=1)
            if reading.statistic is Statistic.MAX and reading.measure is Measure.THROUGHPUT:
                values[name] = _nanmax(series[name].to_numpy(dtype=float))
            else:
                values[name] = _nansum(member_values)
    frame = pd.DataFrame(series, index=reading.series.index, dtype=float)
    traffic_series = None
    if reading.traffic_series is not None:
        traffic_series = pd.DataFrame(
            {
                name: reading.traffic_series[
                    [c for c in members if c in reading.traffic_series.columns]
                ].sum(axis=1, min_count=1)
                for name, members in groups.items()
            },
            index=reading.traffic_series.index,
            dtype=float,
        )
    return Reading(reading.measure, reading.statistic, reading.start, reading.end, values,
                   frame, traffic, traffic_series)


def _weighted(reading: Reading, columns: list[str], members: Sequence[str]) -> tuple[pd.Series,
                                                                                      float]:
    """A ratio over several endpoints: errors over requests, per step and overall."""
    weights = reading.traffic_series
    if weights is None:
        raise ValueError("combining ratios needs a reading with traffic")
    rates = weights.reindex(columns=columns)
    errors = (reading.series[columns].fillna(0) * rates).sum(axis=1, min_count=1)
    per_step = errors / rates.sum(axis=1, min_count=1).replace(0, np.nan)
    requests = np.array([reading.traffic.get(c, np.nan) for c in members], dtype=float)
    ratios = np.array([reading.value(c) for c in members], dtype=float)
    seen = np.isfinite(requests) & np.isfinite(ratios)
    total = requests[seen].sum()
    overall = float((ratios[seen] * requests[seen]).sum() / total) if total > 0 else np.nan
    return per_step, overall


# ---- for a question's subjects -----------------------------------------------------------


def read_subjects(
    ctx: Context, subjects: Sequence[Subject], window: TimeRange,
    step_from: TimeRange | None = None, with_series: bool = True, with_figures: bool = True,
) -> tuple[Reading, Reading]:
    """The measure per endpoint, and per subject (services folded); same grid as ``step_from``;
    without ``with_series``, the figures only, without ``with_figures`` the series only
    (``read_endpoints``)."""
    query = ctx.query
    assert query.measure is not None
    folding = any(s.service is not None for s in subjects)
    steps = None
    if step_from is not None:
        grid = series_window(step_from.start, step_from.end)
        steps = series_window(window.start, window.end, grid.step)
    raw = read_endpoints(
        ctx.backend, query.measure, query.statistic,
        [entry.endpoint for entry in all_endpoints(subjects)], window.start, window.end,
        with_traffic=folding and query.measure is Measure.ERROR_RATIO, series=steps,
        with_series=with_series, with_figures=with_figures,
    )
    if not folding:
        return raw, raw
    combined = combine(raw, {s.column: s.columns for s in subjects})
    if query.measure is Measure.LATENCY and query.statistic is not Statistic.AVG:
        services = {s.column: s.endpoints for s in subjects if s.service is not None}
        combined = _pooled(ctx.backend, combined, services, window,
                           steps or series_window(window.start, window.end), with_series,
                           with_figures)
    return raw, combined


def _pooled(
    backend: MetricsBackend,
    reading: Reading,
    groups: Mapping[str, Sequence[Endpoint]],
    window: TimeRange,
    steps: Window,
    with_series: bool = True,
    with_figures: bool = True,
) -> Reading:
    """``reading`` with each group's latency quantile read over all its requests."""
    quantile = (reading.statistic or Statistic.P95).quantile or MAX_QUANTILE
    if reading.statistic is Statistic.MAX:
        frame = backend.pooled_latency(steps, quantile, groups)
        pooled = _peaks(frame)
    elif not with_series:
        whole = whole_window(window.start, window.end)
        pooled = last_values(backend.pooled_latency(whole, quantile, groups))
        return replace(reading, values={**reading.values, **pooled})
    elif not with_figures:
        frame, pooled = backend.pooled_latency(steps, quantile, groups), {}
    else:
        whole = whole_window(window.start, window.end)
        frame, overall = batch.run_all(lambda: backend.pooled_latency(steps, quantile, groups),
                                       lambda: backend.pooled_latency(whole, quantile, groups))
        pooled = last_values(overall)
    series = reading.series.copy()
    for name in groups:
        series[name] = frame[name].reindex(series.index)
    return replace(reading, values={**reading.values, **pooled}, series=series)


def read_with_previous(
    ctx: Context, subjects: Sequence[Subject], window: TimeRange
) -> tuple[tuple[Reading, Reading], TimeRange, Reading | None]:
    """``read_subjects`` over ``window``, the equal span before it, and its figures (None when
    it has no data); the span before's series only for a chart (a text answer says its
    figure alone)."""
    before = ctx.before if ctx.before is not None and window == ctx.window else (
        timerange.previous(window))
    now, then = read_pair(ctx, subjects, window, before, other_series=ctx.chart)
    return now, before, None if isinstance(then, NoDataError) else then[1]


def read_pair(
    ctx: Context, subjects: Sequence[Subject], window: TimeRange, other: TimeRange,
    other_series: bool = True,
) -> tuple[tuple[Reading, Reading], tuple[Reading, Reading] | NoDataError]:
    """``read_subjects`` over ``window`` and over ``other`` on its grid (without
    ``other_series``: ``other``'s figures only), at the same time; ``other``'s NoDataError is
    returned, not raised. When the two grids meet, each series query is sent once over both
    (``batch.Scope.join``)."""
    scope = batch.current()
    if scope is not None and other_series:
        try:
            grid = series_window(window.start, window.end)
            theirs = series_window(other.start, other.end, grid.step)
        except NoDataError:
            pass  # said by the reads below
        else:
            scope.join(theirs, grid)
            scope.join(grid, theirs)
    if scope is not None:
        # The whole-window figures: one query of two points, whichever comes first.
        mine, other_whole = (whole_window(window.start, window.end),
                             whole_window(other.start, other.end))
        scope.join(other_whole, mine)
        scope.join(mine, other_whole)

    def earlier() -> tuple[Reading, Reading] | NoDataError:
        try:
            return read_subjects(ctx, subjects, other, step_from=window,
                                 with_series=other_series)
        except NoDataError as exc:
            return exc

    now, then = batch.run_all(lambda: read_subjects(ctx, subjects, window), earlier)
    return now, then


# ---- helpers ---------------------------------------------------------------------------


def _known(values: dict[str, float] | None) -> dict[str, float]:
    return {k: v for k, v in (values or {}).items() if np.isfinite(v)}


def _divide(part: float, whole: float) -> float:
    return part / whole if whole > 0 and np.isfinite(part) else float("nan")


def _errors(ratio: float, rate: float) -> float:
    """Errors per second; a NaN ratio with traffic means none failed."""
    if rate <= 0:
        return 0.0
    return (ratio if np.isfinite(ratio) else 0.0) * rate


def _peaks(frame: pd.DataFrame) -> dict[str, float]:
    return {str(c): _nanmax(frame[c].to_numpy(dtype=float)) for c in frame.columns}


def _nanmax(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else float("nan")


def _nansum(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.sum()) if finite.size else float("nan")
