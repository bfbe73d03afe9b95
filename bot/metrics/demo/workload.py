"""The demo's data (``DemoWorkload``) and how it is generated, minute by minute.

``DemoWorkload.generate`` builds per-minute data for the platform's services (traffic with
lunch and dinner peaks, lognormal latency histograms, 5xx errors, CPU and memory against
limits) with the incidents of ``scenarios`` injected.

Time layout: the workload covers ``(start, end]``. Minute ``i`` (0-based) holds what happened
in ``(start + i min, start + (i + 1) min]``; its gauges are sampled at ``start + (i + 1) min``.
A counter read at ``start + k min`` is the sum of minutes ``0..k-1`` (0 at ``start``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.metrics.base import Endpoint, format_utc
from bot.metrics.demo.outline import DemoOutline
from bot.metrics.demo.platform import (
    BASE_RPS,
    BUCKET_BOUNDS,
    ERROR_LATENCY_FACTOR,
    ROUTES,
    SERVICES,
    TYPICAL_PEAK,
    lognormal_cdf,
    traffic_shape,
)
from bot.metrics.demo.scenarios import (
    HISTORY_SLOWDOWN,
    LEAK_PER_DAY,
    SEARCH_COST_FACTOR,
    SPIKE_DURATION,
    SPIKE_ERROR_RATIO,
    Scenario,
)
from bot.metrics.deploys import Deploy

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MINUTE = timedelta(minutes=1)
MINUTE_NS = 60 * 10**9


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
        return f"{format_utc(self.start)} to {format_utc(self.end)}"

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
        return cls.of(DemoOutline.ending(end, days, seed, tz))

    @classmethod
    def of(cls, outline: DemoOutline) -> DemoWorkload:
        """The data of ``outline``: what ``generate`` makes with the same arguments."""
        return _Generator(outline).build()


class _Generator:
    """Builds one workload; a class only to share the timeline between its steps."""

    def __init__(self, outline: DemoOutline) -> None:
        self.outline = outline
        start, end, tz = outline.start, outline.end, outline.tz
        self.start, self.end, self.seed, self.tz = start, end, outline.seed, tz
        self.n = int((end - start) / MINUTE)
        times = pd.date_range(start + MINUTE, end, freq="min")
        local = times.tz_convert(tz)
        self.times_ns = times.as_unit("ns").asi8  # ns since the epoch, UTC
        self.shape = traffic_shape(
            local.hour.to_numpy() + local.minute.to_numpy() / 60, local.day_of_week.to_numpy()
        )
        self.load = self.shape / TYPICAL_PEAK
        self.timeline = outline.timeline

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
        for array in (counts, sums, cpu_seconds, memory, self.shape):
            array.flags.writeable = False  # one workload is shared by backends and tests
        return DemoWorkload(
            start=self.start,
            end=self.end,
            tz=self.tz,
            seed=self.seed,
            endpoints=self.outline.endpoints,
            services=self.outline.services,
            bucket_bounds=BUCKET_BOUNDS,
            scenarios=self.outline.scenarios,
            deploys=self.outline.deploys,
            series_endpoint=np.asarray(endpoints, dtype=np.int64),
            series_status=statuses,
            bucket_counts=counts,
            duration_sum=sums,
            cpu_seconds=cpu_seconds,
            cpu_limit=np.array([s.cpu_limit for s in SERVICES]),
            memory_bytes=memory,
            memory_limit=np.array([float(s.memory_limit) for s in SERVICES]),
            traffic=self.shape,
        )

    def _service_rps(self, service: str) -> FloatArray:
        """Expected requests per second of a service, minute by minute."""
        rps = np.zeros(self.n)
        for r in ROUTES:
            if r.endpoint.service == service:
                rps += BASE_RPS * r.share * self.shape + r.fixed_rps
        return rps

    def _cpu(self, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """CPU seconds per minute per service, and search's use as a share of its limit."""
        seconds = np.empty((len(SERVICES), self.n))
        search_share = np.zeros(self.n)
        for v, s in enumerate(SERVICES):
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
        memory = np.empty((len(SERVICES), self.n))
        for v, s in enumerate(SERVICES):
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
        for e, r in enumerate(ROUTES):
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
            # The traffic shape repeats weekly, so most medians recur: the bucket shares of
            # each distinct median, computed once, are the same numbers (elementwise) and
            # a quarter of the work on 30 days (issue 13: the demo's start-up).
            distinct, which = np.unique(median[busy], return_inverse=True)
            cdf = lognormal_cdf(BUCKET_BOUNDS, distinct, sigma)
            pvals = np.diff(cdf, prepend=0.0, append=1.0, axis=-1).clip(0, None)[which]
            counts[s, busy] = rng.multinomial(total[busy], pvals)
            sums[s] = total * median * np.exp(sigma**2 / 2)  # expected lognormal mean
        return [p[0] for p in plan], [p[1] for p in plan], counts, sums

