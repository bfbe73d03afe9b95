"""The embedded demo: a deterministic food-delivery workload, and a backend that serves it.

``DemoWorkload.generate`` builds per-minute data for a few services (traffic with lunch and
dinner peaks, lognormal latency histograms, 5xx errors, CPU and memory against limits) with
four injected incidents (``workload.scenarios``). ``DemoBackend`` answers the
``MetricsBackend`` questions on it with PromQL's semantics, so its figures match a real
Prometheus loaded with ``bot.metrics.openmetrics.write_openmetrics`` of the same workload.

Time layout: the workload covers ``(start, end]``. Minute ``i`` (0-based) holds what happened
in ``(start + i min, start + (i + 1) min]``; its gauges are sampled at ``start + (i + 1) min``.
A counter read at ``start + k min`` is the sum of minutes ``0..k-1`` (0 at ``start``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict

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
    Signal,
    Window,
    check_summary_arguments,
)
from bot.metrics.histogram import histogram_quantile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MINUTE = timedelta(minutes=1)
_MINUTE_NS = 60 * 10**9
MAX_DAYS = 90  # ~200 MB of histograms; the settings allow the same range

# OpenTelemetry's default HTTP duration buckets (seconds); +Inf is implicit.
BUCKET_BOUNDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)

# Platform-wide requests per second when the traffic shape is 1 (a weekday dinner is ~1.36).
BASE_RPS = 100.0
TYPICAL_PEAK = 1.36

ScenarioKind = Literal["latency_step", "error_spike", "cpu_saturation", "memory_leak"]
# Scenarios seen as a change at a moment; the others are conditions that last.
_CHANGES = frozenset({"latency_step", "error_spike"})


class Scenario(BaseModel):
    """An incident injected into the demo, for people to find and tests to check."""

    model_config = ConfigDict(frozen=True)

    kind: ScenarioKind
    title: str
    service: str
    endpoint_key: str | None
    signal: Signal
    start: datetime
    end: datetime | None
    description: str


class Deploy(BaseModel):
    """A release of one service; the demo's scenarios follow some of them."""

    model_config = ConfigDict(frozen=True)

    service: str
    version: str
    time: datetime
    note: str = ""


@dataclass(frozen=True)
class _Route:
    endpoint: Endpoint
    share: float  # of platform traffic; 0 for probes
    median: float  # seconds, at quiet times
    sigma: float  # of log-latency
    error_ratio: float  # base share of 5xx
    not_found_ratio: float = 0.0  # share of 404
    fixed_rps: float = 0.0  # traffic that does not follow users (health probes)


def _route(service: str, method: str, route: str, *figures: float, **extra: float) -> _Route:
    share, median, sigma, error_ratio = figures
    return _Route(
        Endpoint(service=service, route=route, method=method), share, median, sigma, error_ratio,
        **extra,
    )


_ROUTES: tuple[_Route, ...] = (
    _route("web", "GET", "/", 0.10, 0.035, 0.50, 0.001),
    _route("web", "GET", "/healthz", 0.0, 0.002, 0.30, 0.0, fixed_rps=0.5),
    _route("search", "GET", "/api/search", 0.16, 0.080, 0.60, 0.002),
    _route("menu", "GET", "/api/restaurants", 0.12, 0.045, 0.50, 0.001),
    _route("menu", "GET", "/api/menu/{restaurant_id}", 0.18, 0.030, 0.50, 0.001),
    _route("orders", "POST", "/api/orders", 0.035, 0.120, 0.50, 0.004),
    _route("orders", "GET", "/api/orders/history", 0.05, 0.060, 0.55, 0.002),
    _route("orders", "GET", "/api/orders/{order_id}", 0.06, 0.025, 0.45, 0.002,
           not_found_ratio=0.02),
    _route("payments", "POST", "/api/checkout", 0.035, 0.140, 0.50, 0.003),
    _route("payments", "POST", "/api/payments/refund", 0.002, 0.180, 0.55, 0.005),
    _route("users", "POST", "/api/login", 0.03, 0.120, 0.35, 0.002),
    _route("users", "GET", "/api/users/me", 0.09, 0.015, 0.45, 0.001),
    _route("delivery", "GET", "/api/delivery/track/{order_id}", 0.12, 0.020, 0.50, 0.001),
)

_MIB = 1024**2


@dataclass(frozen=True)
class _Service:
    name: str
    cpu_limit: float  # cores
    cpu_base: float  # cores when idle
    cpu_per_request: float  # core-seconds per request
    memory_limit: int  # bytes
    memory_base: float  # share of the limit when idle


_SERVICES: tuple[_Service, ...] = (
    _Service("web", 1.0, 0.05, 0.012, 512 * _MIB, 0.35),
    _Service("search", 2.0, 0.15, 0.040, 2048 * _MIB, 0.55),
    _Service("menu", 2.0, 0.10, 0.020, 1024 * _MIB, 0.40),
    _Service("orders", 1.5, 0.10, 0.030, 1024 * _MIB, 0.45),
    _Service("payments", 1.0, 0.05, 0.060, 512 * _MIB, 0.40),
    _Service("users", 1.0, 0.05, 0.025, 512 * _MIB, 0.38),
    _Service("delivery", 1.0, 0.05, 0.020, 512 * _MIB, 0.42),
)

# Scenario figures.
HISTORY_SLOWDOWN = 4.0  # order-history latency after the index went missing
SPIKE_ERROR_RATIO = 0.10  # checkout 5xx during the bad deploy
SPIKE_DURATION = timedelta(minutes=45)
SEARCH_COST_FACTOR = 2.0  # search CPU per request after the new ranking
LEAK_PER_DAY = 0.05  # menu memory growth, share of its limit per day
ERROR_LATENCY_FACTOR = 0.5  # failures answer faster than successes


def traffic_shape(hours: npt.ArrayLike, weekdays: npt.ArrayLike) -> FloatArray:
    """Relative traffic at local hour-of-day ``hours`` (float) on ``weekdays`` (Monday=0).

    A quiet night floor, a daytime plateau, a lunch peak around 12:45 (12:00-13:30) and a
    dinner peak around 19:45 (18:30-21:00) that is busier on Fridays and Saturdays.
    """
    h = np.asarray(hours, dtype=np.float64)
    day = np.asarray(weekdays, dtype=np.int64)
    lunch_by_day = np.array([1.1, 1.1, 1.1, 1.1, 1.15, 0.9, 0.95])
    dinner_by_day = np.array([1.0, 1.0, 1.05, 1.1, 1.35, 1.4, 1.15])
    daytime = _logistic((h - 8.5) / 0.7) * _logistic((22.5 - h) / 0.7)
    lunch = 0.55 * np.exp(-0.5 * ((h - 12.75) / 0.55) ** 2) * lunch_by_day[day]
    dinner = np.exp(-0.5 * ((h - 19.75) / 0.75) ** 2) * dinner_by_day[day]
    shape: FloatArray = 0.06 + 0.3 * daytime + lunch + dinner
    return shape


def lognormal_cdf(bounds: Sequence[float], median: FloatArray, sigma: float) -> FloatArray:
    """P(latency <= bound) for each median (any shape); the bound axis is added last."""
    log_bounds = np.log(np.asarray(bounds, dtype=np.float64))
    z = (log_bounds - np.log(median)[..., None]) / sigma
    return 0.5 * _erfc(-z / np.sqrt(2.0))


def _erfc(x: FloatArray) -> FloatArray:
    # Numerical Recipes' erfcc (fractional error < 1.2e-7): numpy has no erf, scipy is
    # not a dependency, and this is exact enough for bucket probabilities.
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    y = t * np.exp(-a * a + poly)
    result: FloatArray = np.where(x >= 0, y, 2.0 - y)
    return result


def _logistic(x: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return result


@dataclass(frozen=True, eq=False)
class DemoWorkload:
    """Per-minute data of the demo platform (see the module docstring for the time layout).

    Arrays (``S`` histogram series, ``N`` minutes, ``B`` finite bucket bounds, ``V`` services):

    * ``series_endpoint`` (S,): index into ``endpoints``; ``series_status`` (S,): "200",
      "404" or "500";
    * ``bucket_counts`` (S, N, B + 1) int32: requests per minute in each bucket (not
      cumulative; the last one is above the highest bound, the ``+Inf`` remainder);
    * ``duration_sum`` (S, N) float64: seconds spent answering those requests;
    * ``cpu_seconds`` (V, N) float64: CPU seconds used per minute; ``cpu_limit`` (V,) cores;
    * ``memory_bytes`` (V, N) float64: working set sampled at the end of each minute;
      ``memory_limit`` (V,) bytes.
    """

    start: datetime
    end: datetime
    tz: tzinfo
    seed: int
    endpoints: list[Endpoint]
    services: list[str]
    bucket_bounds: tuple[float, ...]
    scenarios: list[Scenario]
    deploys: list[Deploy]
    series_endpoint: IntArray
    series_status: list[str]
    bucket_counts: npt.NDArray[np.int32]
    duration_sum: FloatArray
    cpu_seconds: FloatArray
    cpu_limit: FloatArray
    memory_bytes: FloatArray
    memory_limit: FloatArray
    traffic: FloatArray = field(repr=False)  # the traffic shape per minute, for reference

    @property
    def minutes(self) -> int:
        return int(self.bucket_counts.shape[1])

    @property
    def times(self) -> pd.DatetimeIndex:
        """When each minute ends (its gauges' sample time), UTC."""
        return pd.date_range(self.start + MINUTE, self.end, freq="min")

    def series_endpoints(self) -> list[Endpoint]:
        return [self.endpoints[i] for i in self.series_endpoint]

    def describe_span(self) -> str:
        return f"{_when(self.start)} to {_when(self.end)}"

    @classmethod
    def generate(
        cls,
        end: datetime,
        days: int = 30,
        seed: int = 7,
        tz: tzinfo = UTC,
    ) -> DemoWorkload:
        """``days`` days of per-minute data ending at ``end`` (floored to the minute).

        Same arguments, same data. Scenarios are placed relative to ``end`` in local time
        (``tz``), all within the last 7 days. A scenario is listed when the data shows it: a
        step or spike when it starts inside the span, a leak or saturation when it overlaps
        the span. ``deploys`` lists the releases inside the span.
        """
        if end.tzinfo is None or end.utcoffset() is None:
            raise ValueError("the demo's end must be timezone-aware, e.g. 2026-11-23T12:00Z")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise ValueError(f"the demo needs a whole number of days from 1 to {MAX_DAYS}, "
                             f"got {days!r}")
        end = end.astimezone(UTC).replace(second=0, microsecond=0)
        start = end - timedelta(days=days)
        return _Generator(start, end, seed, tz).build()


class _Generator:
    """Builds one workload; a class only to share the timeline between its steps."""

    def __init__(self, start: datetime, end: datetime, seed: int, tz: tzinfo) -> None:
        self.start, self.end, self.seed, self.tz = start, end, seed, tz
        self.n = int((end - start) / MINUTE)
        times = pd.date_range(start + MINUTE, end, freq="min")
        local = times.tz_convert(tz)
        self.times_ns = times.as_unit("ns").asi8  # ns since the epoch, UTC
        self.shape = traffic_shape(
            local.hour.to_numpy() + local.minute.to_numpy() / 60, local.day_of_week.to_numpy()
        )
        self.load = self.shape / TYPICAL_PEAK
        self.timeline = _Timeline.place(end, tz)

    def after(self, moment: datetime) -> npt.NDArray[np.bool_]:
        """Minutes that end after ``moment``."""
        mask: npt.NDArray[np.bool_] = self.times_ns > pd.Timestamp(moment).value
        return mask

    def between(self, first: datetime, last: datetime) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = self.after(first) & ~self.after(last)
        return mask

    def build(self) -> DemoWorkload:
        seeds = np.random.SeedSequence(self.seed).spawn(3)
        cpu_seconds, cpu_share = self._cpu(np.random.default_rng(seeds[0]))
        memory = self._memory(np.random.default_rng(seeds[1]))
        endpoints, statuses, counts, sums = self._requests(seeds[2], cpu_share)
        timeline = self.timeline
        scenarios = [s for s in timeline.scenarios if self._shows(s)]
        deploys = [d for d in timeline.deploys if self.start < d.time <= self.end]
        for array in (counts, sums, cpu_seconds, memory, self.shape):
            array.flags.writeable = False  # one workload is shared by backends and tests
        return DemoWorkload(
            start=self.start,
            end=self.end,
            tz=self.tz,
            seed=self.seed,
            endpoints=[r.endpoint for r in _ROUTES],
            services=[s.name for s in _SERVICES],
            bucket_bounds=BUCKET_BOUNDS,
            scenarios=scenarios,
            deploys=deploys,
            series_endpoint=np.asarray(endpoints, dtype=np.int64),
            series_status=statuses,
            bucket_counts=counts,
            duration_sum=sums,
            cpu_seconds=cpu_seconds,
            cpu_limit=np.array([s.cpu_limit for s in _SERVICES]),
            memory_bytes=memory,
            memory_limit=np.array([float(s.memory_limit) for s in _SERVICES]),
            traffic=self.shape,
        )

    def _shows(self, scenario: Scenario) -> bool:
        """Whether the data shows the scenario: a change needs its moment inside the span,
        a lasting condition only needs to overlap it."""
        if scenario.start > self.end:
            return False
        if scenario.kind in _CHANGES:
            return scenario.start > self.start
        return scenario.end is None or scenario.end > self.start

    def _service_rps(self, service: str) -> FloatArray:
        """Expected requests per second of a service, minute by minute."""
        rps = np.zeros(self.n)
        for r in _ROUTES:
            if r.endpoint.service == service:
                rps += BASE_RPS * r.share * self.shape + r.fixed_rps
        return rps

    def _cpu(self, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """CPU seconds per minute per service, and search's use as a share of its limit."""
        seconds = np.empty((len(_SERVICES), self.n))
        search_share = np.zeros(self.n)
        for v, s in enumerate(_SERVICES):
            cost = np.full(self.n, s.cpu_per_request)
            if s.name == "search":
                cost[self.after(self.timeline.search_deploy)] *= SEARCH_COST_FACTOR
            cores = s.cpu_base + cost * self._service_rps(s.name)
            cores *= 1 + 0.04 * rng.standard_normal(self.n)
            # CFS throttling: a container cannot use more than its limit.
            cores = np.clip(cores, 0.01, s.cpu_limit)
            seconds[v] = cores * 60
            if s.name == "search":
                search_share = cores / s.cpu_limit
        return seconds, search_share

    def _memory(self, rng: np.random.Generator) -> FloatArray:
        memory = np.empty((len(_SERVICES), self.n))
        for v, s in enumerate(_SERVICES):
            share = s.memory_base + 0.06 * self.load + 0.003 * rng.standard_normal(self.n)
            if s.name == "menu":
                leak_start = pd.Timestamp(self.timeline.leak_deploy).value
                days = np.maximum(self.times_ns - leak_start, 0) / (86400 * 10**9)
                share += LEAK_PER_DAY * days
            memory[v] = np.round(share * s.memory_limit)
        return memory

    def _requests(
        self, seed: np.random.SeedSequence, search_cpu: FloatArray
    ) -> tuple[list[int], list[str], npt.NDArray[np.int32], FloatArray]:
        """Histogram series per (endpoint, status): bucket counts and duration sums."""
        plan: list[tuple[int, str, FloatArray, FloatArray, float]] = []
        congestion = 1 + 0.2 * self.load**2
        # Search slows down as its CPU saturates (queueing in front of busy workers).
        saturation = np.clip((search_cpu - 0.7) / 0.3, 0, 1)
        for e, r in enumerate(_ROUTES):
            per_minute = (BASE_RPS * r.share * self.shape + r.fixed_rps) * 60
            median = r.median * (congestion if r.share else np.ones(self.n))
            errors = np.full(self.n, r.error_ratio)
            key = r.endpoint.key
            if key == "GET /api/orders/history":
                median = median * np.where(self.after(self.timeline.history_step),
                                           HISTORY_SLOWDOWN, 1.0)
            if r.endpoint.service == "search":
                median = median * (1 + 1.5 * saturation**2)
            if key == "POST /api/checkout":
                spike = self.timeline.payments_deploy
                errors[self.between(spike, spike + SPIKE_DURATION)] = SPIKE_ERROR_RATIO
            ok = 1 - errors - r.not_found_ratio
            plan.append((e, "200", per_minute * ok, median, r.sigma))
            if r.not_found_ratio:
                plan.append((e, "404", per_minute * r.not_found_ratio, median * 0.4, r.sigma))
            if r.error_ratio:
                plan.append((e, "500", per_minute * errors, median * ERROR_LATENCY_FACTOR,
                             r.sigma + 0.3))

        counts = np.zeros((len(plan), self.n, len(BUCKET_BOUNDS) + 1), dtype=np.int32)
        sums = np.empty((len(plan), self.n))
        for s, (child, (_, _, rate, median, sigma)) in enumerate(
            zip(seed.spawn(len(plan)), plan, strict=True)
        ):
            rng = np.random.default_rng(child)
            total = rng.poisson(rate)
            busy = total > 0
            cdf = lognormal_cdf(BUCKET_BOUNDS, median[busy], sigma)
            pvals = np.diff(cdf, prepend=0.0, append=1.0, axis=-1).clip(0, None)
            counts[s, busy] = rng.multinomial(total[busy], pvals)
            sums[s] = total * median * np.exp(sigma**2 / 2)  # expected lognormal mean
        return [p[0] for p in plan], [p[1] for p in plan], counts, sums


@dataclass(frozen=True)
class _Timeline:
    """When the demo's deploys and incidents happen, relative to its end (local time)."""

    leak_deploy: datetime
    search_deploy: datetime
    history_step: datetime
    payments_deploy: datetime
    deploys: list[Deploy]
    scenarios: list[Scenario]

    @classmethod
    def place(cls, end: datetime, tz: tzinfo) -> _Timeline:
        today = end.astimezone(tz).date()

        def at(days_before: int, hour: int, minute: int) -> datetime:
            return _local(today - timedelta(days=days_before), time(hour, minute), tz)

        leak = at(6, 10, 30)
        search = at(3, 11, 15)
        migration = at(3, 13, 55)
        step = at(3, 14, 2)
        payments = at(1, 16, 40)
        rollback = payments + SPIKE_DURATION
        deploys = [
            Deploy(service="menu", version="3.8.0", time=leak,
                   note="restaurant cache kept in process"),
            Deploy(service="web", version="1.42.0", time=at(5, 9, 45), note="new landing page"),
            Deploy(service="search", version="5.4.0", time=search, note="semantic ranking"),
            Deploy(service="orders", version="4.2.0", time=migration,
                   note="migration rebuilds the orders table"),
            Deploy(service="users", version="2.9.1", time=at(2, 15, 10), note="session fix"),
            Deploy(service="payments", version="2.31.0", time=payments,
                   note="new payment provider client"),
            Deploy(service="payments", version="2.30.4", time=rollback, note="rollback"),
        ]
        scenarios = [
            Scenario(
                kind="memory_leak",
                title="menu memory leak",
                service="menu",
                endpoint_key=None,
                signal=Signal.MEMORY,
                start=leak,
                end=None,
                description=(
                    "menu 3.8.0 keeps a restaurant cache in process that never evicts: its "
                    f"working set grows by {LEAK_PER_DAY:.0%} of the memory limit per day"
                ),
            ),
            Scenario(
                kind="cpu_saturation",
                title="search CPU saturation at dinner",
                service="search",
                endpoint_key="GET /api/search",
                signal=Signal.CPU,
                start=search,
                end=None,
                description=(
                    f"search 5.4.0's semantic ranking costs {SEARCH_COST_FACTOR:g}x the CPU per "
                    "request: at dinner peaks search runs above 90% of its CPU limit and its "
                    "latency rises"
                ),
            ),
            Scenario(
                kind="latency_step",
                title="slow order-history query after a missing index",
                service="orders",
                endpoint_key="GET /api/orders/history",
                signal=Signal.LATENCY,
                start=step,
                end=None,
                description=(
                    "the orders 4.2.0 migration rebuilt the orders table without the "
                    "(user_id, created_at) index: order-history latency is "
                    f"{HISTORY_SLOWDOWN:g}x what it was and stays there"
                ),
            ),
            Scenario(
                kind="error_spike",
                title="error spike after a deploy",
                service="payments",
                endpoint_key="POST /api/checkout",
                signal=Signal.ERROR_RATIO,
                start=payments,
                end=rollback,
                description=(
                    f"payments 2.31.0 failed about {SPIKE_ERROR_RATIO:.0%} of checkouts with "
                    f"5xx for {format_duration(SPIKE_DURATION)}, until the rollback to 2.30.4"
                ),
            ),
        ]
        return cls(leak, search, step, payments, deploys, scenarios)


def _local(day: date, clock: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---- the backend ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """The step ends of a query and, for each, its lookback as counter indices."""

    index: pd.DatetimeIndex
    first: IntArray  # counter index at the start of the lookback (exclusive)
    last: IntArray  # counter index at the step end (inclusive)
    valid: npt.NDArray[np.bool_]  # lookback fully inside the data


class DemoBackend:
    """``MetricsBackend`` over a ``DemoWorkload``, with PromQL's semantics.

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

        per_endpoint = [np.flatnonzero(w.series_endpoint == i) for i in order]
        grand_total = int(w.bucket_counts.sum(dtype=np.int64))
        dtype = np.int32 if grand_total < 2**31 else np.int64
        buckets = w.bucket_counts.shape[2]
        self._buckets = np.zeros((len(order), n + 1, buckets), dtype=dtype)
        self._busy = np.zeros((len(order), n + 1))
        self._requests = np.zeros((len(order), n + 1), dtype=np.int64)
        self._errors = np.zeros((len(order), n + 1), dtype=np.int64)
        errors = np.array([s.startswith("5") for s in w.series_status])
        for p, rows in enumerate(per_endpoint):
            summed = w.bucket_counts[rows].sum(axis=0, dtype=np.int64)
            np.cumsum(summed, axis=0, out=self._buckets[p, 1:])
            np.cumsum(summed.sum(axis=1), out=self._requests[p, 1:])
            np.cumsum(w.duration_sum[rows].sum(axis=0), out=self._busy[p, 1:])
            failed = rows[errors[rows]]
            if failed.size:
                per_minute = w.bucket_counts[failed].sum(axis=(0, 2), dtype=np.int64)
                np.cumsum(per_minute, out=self._errors[p, 1:])
        self._cpu = _running_sum(w.cpu_seconds[self._service_row])
        self._memory = _running_sum(w.memory_bytes[self._service_row])
        self._cpu_limit = w.cpu_limit[self._service_row]
        self._memory_limit = w.memory_limit[self._service_row]

    # ---- health and discovery -------------------------------------------------------------

    def check(self) -> list[Check]:
        w = self.workload
        days = (w.end - w.start).days
        detail = (
            f"embedded demo workload (no Prometheus configured): {days} days of per-minute data "
            f"from {w.describe_span()}, {len(w.endpoints)} endpoints in {len(w.services)} "
            f"services, {len(w.scenarios)} injected incidents"
        )
        return [Check(name="demo", ok=True, detail=detail)]

    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)

    def services(self) -> list[str]:
        return list(self._services)

    # ---- signals ------------------------------------------------------------------------

    def latency(
        self, window: Window, quantile: float = 0.95, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        _check_quantile(quantile)
        grid = self._grid(window)
        rows = self._endpoint_rows(endpoints)
        values = self._quantile(quantile, rows, grid.first, grid.last)
        return self._frame(grid, values, [self._endpoints[p].column for p in rows])

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
                f"no demo data for the {format_duration(lookback)} before {_when(at)}: "
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
            return list(range(len(self._endpoints)))
        if not endpoints:
            raise NoDataError("expected at least one endpoint")
        unknown = [e.key if e.service == "" else f"{e.key} ({e.service})"
                   for e in endpoints if e not in self._position]
        if unknown:
            raise NoDataError(
                f"the demo workload has no endpoint {', '.join(unknown)}; it has "
                + ", ".join(e.key for e in self._endpoints)
            )
        return list(dict.fromkeys(self._position[e] for e in endpoints))

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
                f"no demo data between {_when(window.start)} and {_when(window.end)} "
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
        last = offset // _MINUTE_NS
        first = (offset - back) // _MINUTE_NS
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
        present = (offset >= 0) & (offset // _MINUTE_NS <= self.workload.minutes)
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
