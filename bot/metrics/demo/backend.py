"""The demo adapter: ``DemoBackend`` answers the metrics port from a ``DemoWorkload``.

Its figures follow PromQL's semantics, so they match a real Prometheus loaded with
``bot.metrics.openmetrics.write_openmetrics`` of the same workload.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.durations import format_duration
from bot.metrics.base import (
    SUMMARY_COLUMNS,
    Check,
    Endpoint,
    MetricsError,
    NoBucketError,
    NoDataError,
    Resource,
    SeriesValue,
    Window,
    check_summary_arguments,
    format_utc,
)
from bot.metrics.demo.outline import demo_check
from bot.metrics.demo.workload import MINUTE_NS, DemoWorkload
from bot.metrics.deploys import Deploy
from bot.metrics.histogram import histogram_quantile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Grid:
    """The step ends of a query and, for each, its lookback as counter indices."""

    index: pd.DatetimeIndex
    first: IntArray  # counter index at the start of the lookback (exclusive)
    last: IntArray  # counter index at the step end (inclusive)
    valid: npt.NDArray[np.bool_]  # lookback fully inside the data


class DemoBackend:
    """``MetricsBackend`` and ``DeploySource`` over a ``DemoWorkload``, with PromQL's semantics.

    Every counter is kept as a running sum over minutes, so any lookback is the difference
    of two rows and a query costs the same whatever its span.
    """

    def __init__(self, workload: DemoWorkload) -> None:
        self.workload = workload
        w = workload
        n = w.minutes
        order = sorted(range(len(w.endpoints)),
                       key=lambda i: (w.endpoints[i].service, w.endpoints[i].route,
                                      w.endpoints[i].method))
        self._endpoints = [w.endpoints[i] for i in order]
        self._position = {e: p for p, e in enumerate(self._endpoints)}
        self._services = sorted(w.services)
        self._service_row = [w.services.index(s) for s in self._services]
        self._service_row_array = np.asarray(self._service_row, dtype=np.int64)
        self._service_of = {s: i for i, s in enumerate(self._services)}

        self._series = [np.flatnonzero(w.series_endpoint == i) for i in order]
        grand_total = int(w.bucket_counts.sum(dtype=np.int64))
        dtype = np.int32 if grand_total < 2**31 else np.int64
        buckets = w.bucket_counts.shape[2]
        # Zeros until an endpoint's running sums are made (``_fill``): a question about one
        # endpoint does not pay for all of them (~0.2 s on 30 days; issue 13).
        self._buckets = np.zeros((len(order), n + 1, buckets), dtype=dtype)
        self._busy = np.zeros((len(order), n + 1))
        self._requests = np.zeros((len(order), n + 1), dtype=np.int64)
        self._errors = np.zeros((len(order), n + 1), dtype=np.int64)
        self._is_error = np.array([s.startswith("5") for s in w.series_status], dtype=bool)
        self._filled = [False] * len(order)
        self._filling = threading.Lock()
        self._cpu = _running_sum(w.cpu_seconds[self._service_row])
        self._memory = _running_sum(w.memory_bytes[self._service_row])
        self._cpu_limit = w.cpu_limit[self._service_row]
        self._memory_limit = w.memory_limit[self._service_row]

    # ---- health and discovery -------------------------------------------------------------

    def check(self) -> list[Check]:
        w = self.workload
        return [demo_check(w.start, w.end, len(w.endpoints), len(w.services), len(w.scenarios))]

    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)

    def services(self) -> list[str]:
        return list(self._services)

    def deploys(self, start: datetime, end: datetime) -> list[Deploy]:
        """The workload's releases with ``start < time <= end`` (``DeploySource``)."""
        return [d for d in self.workload.deploys if start < d.time <= end]

    # ---- signals ------------------------------------------------------------------------

    def latency(
        self, window: Window, quantile: float = 0.95, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        _check_quantile(quantile)
        grid = self._grid(window)
        rows = self._endpoint_rows(endpoints)
        values = self._quantile(quantile, rows, grid.first, grid.last)
        return self._frame(grid, values, [self._endpoints[p].column for p in rows])

    def pooled_latency(
        self, window: Window, quantile: float, groups: Mapping[str, Sequence[Endpoint]]
    ) -> pd.DataFrame:
        _check_quantile(quantile)
        grid = self._grid(window)
        values = []
        for members in groups.values():
            # The members' histograms merged: what ``sum by (le)`` does in PromQL.
            picked = np.asarray(self._endpoint_rows(members), dtype=np.int64)
            counts = (self._buckets[np.ix_(picked, grid.last)]
                      - self._buckets[np.ix_(picked, grid.first)]).sum(axis=0, dtype=np.int64)
            values.append(histogram_quantile(
                quantile, self.workload.bucket_bounds, np.cumsum(counts, axis=-1)))
        data = np.asarray(values, dtype=np.float64).reshape(len(groups), grid.index.size)
        return self._frame(grid, data, list(groups))

    def resolution(self, at: datetime) -> timedelta | None:
        """Per minute: the workload's counters have a sample every minute (``Resolution``)."""
        return timedelta(minutes=1)

    def data_steps(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.Series:
        start = pd.Timestamp(window.start).value
        step_ns = int(window.step / timedelta(microseconds=1)) * 1000
        count = (pd.Timestamp(window.end).value - start) // step_ns + 1
        ends = start + step_ns * np.arange(count, dtype=np.int64)
        first = pd.Timestamp(self.workload.start).value  # the counters' first sample (0)
        last = pd.Timestamp(self.workload.end).value
        # Every endpoint has a sample every minute from the workload's start to its end, as
        # ``write_openmetrics`` exports it.
        present = (ends >= first) & (ends - step_ns < last)
        series = len(self._endpoints) if endpoints is None else len(set(endpoints))
        return pd.Series(np.where(present, float(series), 0.0),
                         index=pd.DatetimeIndex(pd.to_datetime(ends, utc=True), name="time"))

    def throughput(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        grid = self._grid(window)
        rows = self._endpoint_rows(endpoints)
        values = self._increase(self._requests, rows, grid) / window.lookback.total_seconds()
        return self._frame(grid, values, [self._endpoints[p].column for p in rows])

    def error_ratio(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        grid = self._grid(window)
        rows = self._endpoint_rows(endpoints)
        values = _ratio(self._increase(self._errors, rows, grid),
                        self._increase(self._requests, rows, grid))
        return self._frame(grid, values, [self._endpoints[p].column for p in rows])

    def cpu(self, window: Window, services: Sequence[str] | None = None) -> pd.DataFrame:
        grid = self._grid(window)
        rows = self._service_rows(services)
        used = self._increase(self._cpu, rows, grid) / window.lookback.total_seconds()
        return self._frame(grid, used / self._cpu_limit[rows, None],
                           [self._services[v] for v in rows])

    def memory(self, window: Window, services: Sequence[str] | None = None) -> pd.DataFrame:
        grid = self._grid(window)
        rows = self._service_rows(services)
        with np.errstate(divide="ignore", invalid="ignore"):
            average = self._increase(self._memory, rows, grid) / (grid.last - grid.first)
        return self._frame(grid, average / self._memory_limit[rows, None],
                           [self._services[v] for v in rows])

    def busy_time(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        grid = self._grid(window)
        rows = self._endpoint_rows(endpoints)
        values = self._increase(self._busy, rows, grid) / window.lookback.total_seconds()
        return self._frame(grid, values, [self._endpoints[p].column for p in rows])

    def latency_within(
        self, window: Window, threshold: float, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        bounds = self.workload.bucket_bounds
        found = [k for k, bound in enumerate(bounds) if np.isclose(bound, threshold, rtol=1e-9)]
        if not found:
            raise NoBucketError(
                f"the demo histogram has no bucket at {threshold:g}s "
                f"(its bounds: {', '.join(f'{b:g}' for b in bounds)})"
            )
        grid = self._grid(window)
        rows = self._endpoint_rows(endpoints)
        picked = np.asarray(rows, dtype=np.int64)
        top = found[0] + 1

        def within(at: IntArray) -> FloatArray:
            counts = self._buckets[np.ix_(picked, at)][..., :top]
            summed: FloatArray = counts.sum(axis=-1, dtype=np.int64).astype(np.float64)
            return summed

        values = _ratio(within(grid.last) - within(grid.first),
                        self._increase(self._requests, rows, grid))
        return self._frame(grid, values, [self._endpoints[p].column for p in rows])

    def resource(
        self, window: Window, resource: Resource, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        grid = self._grid(window)
        names = list(self._services) if services is None else list(dict.fromkeys(services))
        known = [self._service_of[s] for s in names if s in self._service_of]
        if not known:
            raise NoDataError(
                f"the demo workload has no service {', '.join(names) or '(none asked)'}; "
                f"it has {', '.join(self._services)}"
            )
        if resource is Resource.CPU_CORES:
            values = self._increase(self._cpu, known, grid) / window.lookback.total_seconds()
            frame = self._frame(grid, values, [self._services[v] for v in known])
        else:
            frame = self._gauge(grid, resource, known)
        # Like PromQL: a service without data is a gap, not an error.
        return frame.reindex(columns=pd.Index(names))

    def opencost_hourly(
        self, window: Window, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        raise NoDataError("the demo workload has no OpenCost metrics")

    def instant(self, query: str, at: datetime) -> list[SeriesValue]:
        """The demo has no PromQL engine: diagnostics need a real Prometheus."""
        raise MetricsError(
            "diagnostics need a real Prometheus: the demo workload cannot run PromQL "
            "(set metrics.prometheus.url)"
        )

    def summary(
        self,
        at: datetime,
        lookback: timedelta = timedelta(hours=1),
        endpoints: Sequence[Endpoint] | None = None,
    ) -> pd.DataFrame:
        check_summary_arguments(at, lookback)
        rows = self._endpoint_rows(endpoints)
        first, last, valid = self._lookback(np.array([pd.Timestamp(at).value]), lookback)
        if not valid[0]:
            raise NoDataError(
                f"no demo data for the {format_duration(lookback)} before {format_utc(at)}: "
                f"the demo workload covers {self.workload.describe_span()}"
            )
        requests = (self._requests[rows, last[0]] - self._requests[rows, first[0]]).astype(float)
        errors = (self._errors[rows, last[0]] - self._errors[rows, first[0]]).astype(float)
        frame = pd.DataFrame(
            {
                "service": [self._endpoints[p].service for p in rows],
                "p50": self._quantile(0.5, rows, first, last)[:, 0],
                "p95": self._quantile(0.95, rows, first, last)[:, 0],
                "p99": self._quantile(0.99, rows, first, last)[:, 0],
                "throughput": requests / lookback.total_seconds(),
                "error_ratio": _ratio(errors, requests),
            },
            index=pd.Index([self._endpoints[p].column for p in rows], name="endpoint"),
        )
        return frame[SUMMARY_COLUMNS]

    # ---- internals ------------------------------------------------------------------------

    def _endpoint_rows(self, endpoints: Sequence[Endpoint] | None) -> list[int]:
        if endpoints is None:
            return self._fill(list(range(len(self._endpoints))))
        if not endpoints:
            raise NoDataError("expected at least one endpoint")
        unknown = [e.key if e.service == "" else f"{e.key} ({e.service})"
                   for e in endpoints if e not in self._position]
        if unknown:
            raise NoDataError(
                f"the demo workload has no endpoint {', '.join(unknown)}; it has "
                + ", ".join(e.key for e in self._endpoints)
            )
        return self._fill(list(dict.fromkeys(self._position[e] for e in endpoints)))

    def _fill(self, positions: list[int]) -> list[int]:
        """``positions``, after making the running sums of those not made yet."""
        w = self.workload
        with self._filling:  # one thread makes a row; the others wait for it
            for p in positions:
                if self._filled[p]:
                    continue
                rows = self._series[p]
                summed = w.bucket_counts[rows].sum(axis=0, dtype=np.int64)
                np.cumsum(summed, axis=0, out=self._buckets[p, 1:])
                np.cumsum(summed.sum(axis=1), out=self._requests[p, 1:])
                np.cumsum(w.duration_sum[rows].sum(axis=0), out=self._busy[p, 1:])
                failed = rows[self._is_error[rows]]
                if failed.size:
                    per_minute = w.bucket_counts[failed].sum(axis=(0, 2), dtype=np.int64)
                    np.cumsum(per_minute, out=self._errors[p, 1:])
                self._filled[p] = True
        return positions

    def _service_rows(self, services: Sequence[str] | None) -> list[int]:
        if services is None:
            return list(range(len(self._services)))
        if not services:
            raise NoDataError("expected at least one service")
        unknown = [s for s in services if s not in self._service_of]
        if unknown:
            raise NoDataError(
                f"the demo workload has no service {', '.join(unknown)}; it has "
                + ", ".join(self._services)
            )
        return list(dict.fromkeys(self._service_of[s] for s in services))

    def _grid(self, window: Window) -> _Grid:
        start = pd.Timestamp(window.start).value
        step = int(window.step / timedelta(microseconds=1)) * 1000
        count = (pd.Timestamp(window.end).value - start) // step + 1
        ends = start + step * np.arange(count, dtype=np.int64)
        first, last, valid = self._lookback(ends, window.lookback)
        if not valid.any():
            raise NoDataError(
                f"no demo data between {format_utc(window.start)} and {format_utc(window.end)} "
                f"(looking back {format_duration(window.lookback)} from each point): the demo "
                f"workload covers {self.workload.describe_span()}"
            )
        index = pd.DatetimeIndex(pd.to_datetime(ends, utc=True), name="time")
        return _Grid(index, first, last, valid)

    def _lookback(
        self, ends_ns: IntArray, lookback: timedelta
    ) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
        """Counter indices bounding ``(t - lookback, t]`` for each step end ``t``."""
        back = int(lookback / timedelta(microseconds=1)) * 1000
        offset = ends_ns - pd.Timestamp(self.workload.start).value
        n = self.workload.minutes
        last = offset // MINUTE_NS
        first = (offset - back) // MINUTE_NS
        # Up to a minute past the end is fine: the next minute's sample is not due yet.
        valid = (offset - back >= 0) & (last <= n) & (last > first)
        return first.clip(0, n), last.clip(0, n), valid

    def _gauge(self, grid: _Grid, resource: Resource, rows: list[int]) -> pd.DataFrame:
        """Limits and the working set as sampled at each step end (PromQL's instant value)."""
        picked = np.asarray(rows, dtype=np.int64)
        steps = grid.index.size
        if resource is Resource.MEMORY_BYTES:
            # The sample at counter row k is that of the minute ending there (row 0: minute 0).
            minute = np.maximum(grid.last - 1, 0)
            values = self.workload.memory_bytes[self._service_row_array[picked]][:, minute]
        else:
            limits = (self._cpu_limit if resource is Resource.CPU_LIMIT_CORES
                      else self._memory_limit)
            values = np.repeat(limits[picked, None], steps, axis=1)
        # A sample exists from the workload's start to its end (a gauge needs no lookback).
        offset = grid.index.as_unit("ns").asi8 - pd.Timestamp(self.workload.start).value
        present = (offset >= 0) & (offset // MINUTE_NS <= self.workload.minutes)
        data = np.where(present[:, None], values.T.astype(np.float64), np.nan)
        return pd.DataFrame(data, index=grid.index,
                            columns=pd.Index([self._services[v] for v in rows]), dtype=float)

    @staticmethod
    def _increase(running: IntArray | FloatArray, rows: list[int], grid: _Grid) -> FloatArray:
        """(rows, steps): what each running sum gained in each step's lookback."""
        picked = np.asarray(rows, dtype=np.int64)
        at_end = running[np.ix_(picked, grid.last)].astype(np.float64)
        at_start = running[np.ix_(picked, grid.first)].astype(np.float64)
        result: FloatArray = at_end - at_start
        return result

    def _quantile(
        self, quantile: float, rows: list[int], first: IntArray, last: IntArray
    ) -> FloatArray:
        """(endpoints, steps) latency quantiles from the summed buckets of all statuses."""
        picked = np.asarray(rows, dtype=np.int64)
        counts = self._buckets[np.ix_(picked, last)] - self._buckets[np.ix_(picked, first)]
        return histogram_quantile(
            quantile, self.workload.bucket_bounds, np.cumsum(counts, axis=-1)
        )

    @staticmethod
    def _frame(grid: _Grid, values: FloatArray, columns: list[str]) -> pd.DataFrame:
        """A (columns, steps) array as a frame; NaN where the lookback is not covered."""
        data = np.where(grid.valid[:, None], values.T, np.nan)
        return pd.DataFrame(data, index=grid.index, columns=pd.Index(columns), dtype=float)


def _running_sum(per_minute: FloatArray) -> FloatArray:
    out = np.zeros((per_minute.shape[0], per_minute.shape[1] + 1))
    np.cumsum(per_minute, axis=1, out=out[:, 1:])
    return out


def _ratio(part: FloatArray, whole: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = np.where(whole > 0, part / whole, np.nan)
    return result


def _check_quantile(quantile: float) -> None:
    if not 0 <= quantile <= 1:
        raise MetricsError(f"expected a quantile between 0 and 1, got {quantile!r}")
