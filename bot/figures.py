"""Figures for endpoints and services over a window: ``perfbot query`` and the answers to questions.

Two kinds of reading, both from the backend: the whole-window figure (one point whose
lookback is the whole span: the p95 of all requests in it) and the per-step series (for
sparklines, charts and significance tests). I/O is only the backend calls; the arithmetic is
in ``analytics/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.analytics.stats import SignalFigures, describe_series
from bot.catalog import EndpointInfo
from bot.durations import human_span
from bot.metrics.base import MetricsBackend, NoDataError, Signal, Window

STATISTICS: dict[str, float] = {"p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}
SERIES_POINTS = 240  # per-step points in a series: enough for a chart, small for a query
MIN_STEP = timedelta(minutes=2)  # a rate needs two samples at a 1m scrape interval


def statistic_name(signal: Signal, quantile: float) -> str:
    if signal is Signal.LATENCY:
        return f"p{quantile * 100:g}"
    return {Signal.THROUGHPUT: "throughput", Signal.ERROR_RATIO: "error ratio"}.get(
        signal, f"{signal.value} use"
    )


def signal_figures(
    backend: MetricsBackend,
    entry: EndpointInfo,
    signal: Signal,
    span: timedelta,
    now: datetime,
    quantile: float = 0.95,
) -> SignalFigures:
    """Ask the backend for the series over ``span`` ending at ``now`` and the whole-window figure.

    The whole-window figure is computed over the full span at once (the p95 of all requests
    in 24h), not as an average of per-step p95s, which would understate tails.
    """
    series_window = Window.last(span, now)
    whole = whole_window(now - span, now)
    endpoints = [entry.endpoint]
    service = [entry.endpoint.service]
    column = entry.column
    subject = entry.label  # for people; the frames are read by ``column``
    if signal is Signal.LATENCY:
        series = backend.latency(series_window, quantile, endpoints)[column]
        overall = _last(backend.latency(whole, quantile, endpoints)[column])
    elif signal is Signal.THROUGHPUT:
        series = backend.throughput(series_window, endpoints)[column]
        overall = _last(backend.throughput(whole, endpoints)[column])
    elif signal is Signal.ERROR_RATIO:
        series = backend.error_ratio(series_window, endpoints)[column]
        overall = _last(backend.error_ratio(whole, endpoints)[column])
    else:
        subject = entry.endpoint.service
        frame = (backend.cpu if signal is Signal.CPU else backend.memory)(series_window, service)
        series = frame[subject]
        overall = float(np.nanmean(series.to_numpy(dtype=float)))
    stats = describe_series(series)
    if stats is None or not np.isfinite(overall):
        raise NoDataError(f"no {signal.value} data for {subject} in the last {human_span(span)}")
    return SignalFigures(
        signal=signal,
        subject=subject,
        statistic=statistic_name(signal, quantile),
        span=span,
        end=now,
        overall=overall,
        series=series,
        stats=stats,
        slo_target=_slo_target(entry, signal, quantile),
    )


def _last(series: pd.Series) -> float:
    return _last_of(series.to_numpy(dtype=float))


def _last_of(values: npt.NDArray[np.float64]) -> float:
    """The last value that is not NaN (as ``dropna`` keeps them), else NaN."""
    kept = values[~np.isnan(values)]
    return float(kept[-1]) if len(kept) else float("nan")


def _slo_target(entry: EndpointInfo, signal: Signal, quantile: float) -> float | None:
    slo = entry.slo
    if signal is Signal.LATENCY and slo.latency and abs(slo.latency.quantile - quantile) < 1e-9:
        return slo.latency.threshold.total_seconds()
    if signal is Signal.ERROR_RATIO:
        return slo.error_ratio
    return None


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def whole_window(start: datetime, end: datetime) -> Window:
    """One point at ``end`` (whole seconds) whose lookback is all of ``[start, end]``."""
    # In UTC: subtracting two times of one zone gives wall-clock time, wrong across DST.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    last = _whole_seconds(end)
    span = timedelta(seconds=max(1, round((end - start).total_seconds())))
    return Window.figure(last, span)


def series_step(span: timedelta, points: int = SERIES_POINTS) -> timedelta:
    """Whole minutes, at least ``MIN_STEP``, giving at most about ``points`` steps."""
    minutes = max(MIN_STEP.total_seconds() / 60, -(-span.total_seconds() // (60 * points)))
    return timedelta(minutes=minutes)


def series_window(start: datetime, end: datetime, step: timedelta | None = None) -> Window:
    """Steps ending at ``end``, each covering the step before it, all inside ``[start, end]``.

    Two windows of the same span get the same step, so their points can be compared.
    Raises NoDataError when fewer than two steps fit (a span trimmed to where the data
    starts can be that short): a ``Window`` has at least two points.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    last = _whole_seconds(end)
    step = step or series_step(last - start)
    # A second of slack: ``end`` lost its fraction of a second, ``start`` did not.
    count = int((last - start + timedelta(seconds=1)) / step)
    if count < 2:
        raise NoDataError(f"{human_span(end - start)} is too short for a series at a "
                          f"{human_span(step)} step")
    return Window(start=last - (count - 1) * step, end=last, step=step, rate_window=step)


def service_signal(
    backend: MetricsBackend, signal: Signal, window: Window, services: Sequence[str]
) -> pd.DataFrame:
    """CPU or memory as a share of the limit, per service."""
    if signal is Signal.CPU:
        return backend.cpu(window, services)
    if signal is Signal.MEMORY:
        return backend.memory(window, services)
    raise ValueError(f"{signal.value} is an endpoint signal")


def last_values(frame: pd.DataFrame) -> dict[str, float]:
    """Each column's last finite value (NaN when it has none): the whole-window figures."""
    # On the frame's array: a Series per column cost more than the figure (issue 13).
    values = frame.to_numpy(dtype=float)
    return {str(column): _last_of(values[:, at]) for at, column in enumerate(frame.columns)}
