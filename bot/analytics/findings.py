"""From metric series to findings: anomalies with production guards, grouped, with severity.

Pure: arrays in, findings out. The pipeline, vectorised over every series of a batch:

1. **Seasonal robust baseline** per point: the median of the same time of day over the
   previous ``baseline_days`` days plus the same time and weekday of earlier weeks (so the
   last week's weekday counts twice and older weeks' weekdays once).
2. **Robust spread**: the median of the previous days' median absolute residuals (× 1.4826).
3. **Guards** before a point counts as *exceeding*: a z-score beyond ``z`` in the signal's
   bad direction, a minimum absolute and relative change, and a minimum traffic (requests in
   the point, and errors for the error ratio). Throughput counts drops (surges as info).
4. **Persistence**: ``k`` exceeding points among the last ``n`` fire; a firing anomaly stays
   active until ``recovery`` points pass without firing; a series that fires again within
   ``reopen_within`` of its last anomaly reopens it (no flapping).
5. **Trend** (slow leaks): the 24-hour mean grew in the bad direction in each of the last
   ``trend_days`` days, by at least a minimum per day and in total.
6. **The existing scorer** (``bot.analytics.anomaly``) runs on the series that fired only (it
   is much slower than the guards) and dates the onset: the best-scored point just before
   the firing, when it scores at least ``onset_score``.
7. **Severity** from the distance to the baseline and the SLO (multi-window burn rates).
8. **Grouping**: anomalies of one service that start within ``group_gap`` of each other, or
   while another is still active (and within ``group_window``), are one finding; its first
   mover is the earliest.

Causal: the decision at a point uses only points up to it (baseline and spread from earlier
days, persistence and trend from windows that end at it).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from bot.analytics.anomaly.batch import score_batch
from bot.analytics.anomaly.config import SIGNAL_DIRECTIONS, Direction
from bot.analytics.anomaly.slots import daily_slots
from bot.analytics.slo import SLO
from bot.durations import format_duration
from bot.metrics.base import Signal, endpoint_column

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_MAD_TO_SIGMA = 1.4826
_DAY = timedelta(days=1)
SIGNAL_ORDER = (Signal.CPU, Signal.MEMORY, Signal.THROUGHPUT, Signal.LATENCY, Signal.ERROR_RATIO)


class Severity(StrEnum):
    """``critical`` pages, ``warning`` makes a ticket, ``info`` is for the channel only."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return [Severity.INFO, Severity.WARNING, Severity.CRITICAL].index(self)


class Change(StrEnum):
    STEP = "step"  # a level shift that stays
    SPIKE = "spike"  # a shift that ended within ``spike_max``
    TREND = "trend"  # a slow, steady growth (leak)
    DROP = "drop"  # traffic fell
    SURGE = "surge"  # traffic rose (information)


class Guard(BaseModel):
    """What a change of one signal must reach to count: all of these at once."""

    model_config = ConfigDict(frozen=True)

    min_abs: float = Field(ge=0, description="absolute change, in the signal's unit")
    min_rel: float = Field(ge=0, description="change relative to the baseline")
    z: float = Field(6.0, gt=0, description="change in robust spreads")
    trend_per_day: float | None = Field(
        None, description="smallest daily growth of the 24h mean for a trend (None: no trend)"
    )
    trend_total_rel: float = Field(0.15, ge=0, description="smallest total trend growth")


DEFAULT_GUARDS: dict[Signal, Guard] = {
    Signal.LATENCY: Guard(min_abs=0.025, min_rel=0.3, trend_per_day=0.01, trend_total_rel=0.3),
    Signal.ERROR_RATIO: Guard(min_abs=0.02, min_rel=1.0),
    Signal.THROUGHPUT: Guard(min_abs=0.5, min_rel=0.4),
    Signal.CPU: Guard(min_abs=0.10, min_rel=0.25, trend_per_day=0.03),
    Signal.MEMORY: Guard(min_abs=0.05, min_rel=0.10, trend_per_day=0.01),
}


class FindingsConfig(BaseModel):
    """Every threshold of the decision; windows are durations, turned into points by the step."""

    model_config = ConfigDict(frozen=True)

    guards: dict[Signal, Guard] = DEFAULT_GUARDS
    surge_rel: float = Field(1.0, ge=0, description="throughput rise reported as a surge")
    min_requests: float = Field(50, ge=0, description="requests a point needs to count")
    min_errors: float = Field(5, ge=0, description="errors an error-ratio point needs")
    baseline_days: int = Field(7, ge=1, description="days of time-of-day history")
    baseline_weeks: int = Field(3, ge=0, description="earlier weeks of the same weekday")
    min_history: timedelta = Field(_DAY, description="history before a series is judged")
    persist_k: int = Field(3, ge=1)
    persist_n: int = Field(4, ge=1)
    recovery: timedelta = timedelta(minutes=30)
    reopen_within: timedelta = timedelta(hours=24)  # a daily recurrence is one incident
    spike_max: timedelta = timedelta(hours=2)
    trend_days: int = Field(3, ge=2)
    trend_steadiness: float = Field(4.0, ge=1, description="largest over smallest daily growth")
    onset_score: float = Field(0.3, ge=0, le=1)
    group_gap: timedelta = timedelta(hours=1)
    group_window: timedelta = timedelta(hours=12)
    warning_z: float = 10.0
    critical_z: float = 30.0
    min_coverage: float = Field(0.5, ge=0, le=1, description="share of points with data")


DEFAULT_FINDINGS = FindingsConfig()

# SRE workbook, multi-window multi-burn-rate: (long, short, burn rate, severity).
BURN_RULES: tuple[tuple[timedelta, timedelta, float, Severity], ...] = (
    (timedelta(hours=1), timedelta(minutes=5), 14.4, Severity.CRITICAL),
    (timedelta(hours=6), timedelta(minutes=30), 6.0, Severity.WARNING),
    (timedelta(days=3), timedelta(hours=6), 1.0, Severity.WARNING),
)


class SeriesKey(BaseModel):
    """One series: a signal of an endpoint (``endpoint`` is its key) or of a service."""

    model_config = ConfigDict(frozen=True)

    signal: Signal
    service: str
    endpoint: str | None = None

    @property
    def column(self) -> str | None:
        """The endpoint's frame column (``Endpoint.column``); None for a service signal."""
        return endpoint_column(self.service, self.endpoint) if self.endpoint else None

    @property
    def label(self) -> str:
        what = "p95 latency" if self.signal is Signal.LATENCY else str(self.signal).replace(
            "_", " ")
        where = f"{self.endpoint} ({self.service})" if self.endpoint else self.service
        return f"{what} of {where}"


@dataclass(frozen=True)
class SeriesBatch:
    """Series on one regular time grid: ``values`` and ``requests`` are (series × time).

    ``requests`` holds the requests each point covers (NaN for service signals, which need
    no traffic); for the error ratio it also gives the error count.
    """

    keys: list[SeriesKey]
    times: pd.DatetimeIndex
    values: FloatArray
    requests: FloatArray

    def __post_init__(self) -> None:
        n, t = len(self.keys), len(self.times)
        for name in ("values", "requests"):
            shape = getattr(self, name).shape
            if shape != (n, t):
                raise ValueError(f"{name} has shape {shape}, expected {(n, t)}")
        if t >= 2:
            steps = np.diff(self.times.as_unit("ns").asi8)
            if steps.min() <= 0 or steps.min() != steps.max():
                raise ValueError("the series' times must be a regular, increasing grid")

    @property
    def step(self) -> timedelta:
        if len(self.times) < 2:
            return timedelta(minutes=5)
        return pd.Timedelta(self.times[1] - self.times[0]).to_pytimedelta()


class ChartData(BaseModel):
    """The series around an anomaly, with its baseline band, for the alert chart."""

    times: list[datetime]
    values: list[float]
    baseline: list[float]
    low: list[float]
    high: list[float]


class Anomaly(BaseModel):
    """One series outside its baseline for a while."""

    key: SeriesKey
    change: Change
    start: datetime  # when the change began (onset)
    fired_at: datetime  # when persistence confirmed it: the decision time
    peak_at: datetime  # the worst point
    end: datetime | None  # None: still active at the last point
    value: float  # at the worst point
    baseline: float
    z: float
    onset_score: float  # the scorer's best score around the onset, 0..1
    severity: Severity
    slo: str = ""  # how it stands against the SLO, for people
    chart: ChartData | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else math.inf


class Finding(BaseModel):
    """Anomalies of one service that tell one story; the first mover started it."""

    id: str
    service: str
    severity: Severity
    change: Change
    start: datetime
    end: datetime | None
    anomalies: list[Anomaly]  # first mover first, then by start

    @property
    def first_mover(self) -> Anomaly:
        return self.anomalies[0]

    @property
    def title(self) -> str:
        a = self.first_mover
        verb = {Change.STEP: "stepped up", Change.SPIKE: "spiked", Change.TREND: "is growing",
                Change.DROP: "dropped", Change.SURGE: "surged"}[a.change]
        if a.change is Change.STEP and _direction(a.key.signal) is Direction.DOWN:
            verb = "stepped down"
        more = len(self.anomalies) - 1
        tail = f" (+{more} related signal{'s' if more > 1 else ''})" if more else ""
        return f"{a.key.label} {verb}{tail}"

    def moved_first(self) -> str:
        """``cpu moved first, then latency (+7h45m)``."""
        first = self.first_mover
        parts = [f"{first.key.signal} moved first"]
        for other in self.anomalies[1:]:
            parts.append(f"{other.key.signal} (+{format_duration(other.start - first.start)})")
        return parts[0] + (", then " + ", ".join(parts[1:]) if len(parts) > 1 else "")


class SeriesProblem(BaseModel):
    """A series that could not be judged (fully or in part), and why."""

    key: SeriesKey
    message: str


class FindingsResult(BaseModel):
    findings: list[Finding]
    problems: list[SeriesProblem]
    series_checked: int
    series_scored: int  # how many went through the (slower) scorer


# ---- the decision, vectorised -------------------------------------------------------------


def _direction(signal: Signal) -> Direction:
    return SIGNAL_DIRECTIONS.get(signal, Direction.BOTH)


def _nan_median_last(stack: FloatArray) -> FloatArray:
    """Median over the last axis ignoring NaN, by sorting (faster than ``np.nanmedian``)."""
    ordered = np.sort(stack, axis=-1)  # NaN sort last
    count = np.isfinite(ordered).sum(axis=-1)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], -1)[..., 0]
    high = np.take_along_axis(ordered, np.maximum(count // 2, 0)[..., None], -1)[..., 0]
    return np.where(count > 0, (low + high) / 2, np.nan)


def _merge_network(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort for ``n`` inputs as compare-exchange pairs (i < j)."""
    size = 1 << max(0, (n - 1).bit_length())
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    # Missing inputs are +inf: they never move, so their comparators do nothing.
    return [(a, b) for a, b in pairs if b < n]


def _median_network(n: int) -> list[tuple[int, int, bool, bool]]:
    """The sorting network pruned to what the middle outputs need: (i, j, min?, max?)."""
    needed = {(n - 1) // 2, n // 2}
    kept = []
    for i, j in reversed(_merge_network(n)):
        want_min, want_max = i in needed, j in needed
        if want_min or want_max:
            kept.append((i, j, want_min, want_max))
            needed |= {i, j}
    return kept[::-1]


def seasonal_baseline(
    x: FloatArray, per_day: int, days: int, weeks: int, first: int = 0
) -> FloatArray:
    """Baseline of columns ``first:`` from earlier days' and weeks' same time of day.

    The median of the lagged values, NaN ignored. Where every lag has a value (nearly
    everywhere) a pruned sorting network of element-wise min/max finds it (~50 passes over
    cache-sized blocks instead of sorting millions of ten-value rows). The rest are sorted.
    """
    lags = [d * per_day for d in range(1, days + 1)]
    lags += [w * 7 * per_day for w in range(1, weeks + 1)]  # the same weekday again
    trim = max(0, first - max(lags))  # columns no lag reaches
    x, first = x[:, trim:], first - trim
    n, total = x.shape
    out = np.empty((n, total - first))
    missing = np.isnan(x)
    gaps: BoolArray = np.asarray(missing.any(axis=0))  # columns where a series has no value
    xi = np.where(missing, np.inf, x)  # NaN sorts last, as +inf
    # Column blocks small enough to stay in the CPU cache across the network's passes,
    # cut where a lag starts to reach back into the data (before it, it has no value).
    width = max(1, _BLOCK // max(1, n))
    edges = sorted({first, total} | {lag for lag in lags if first < lag < total})
    for start, stop in itertools.pairwise(edges):
        have = [lag for lag in lags if lag <= start]
        network = _median_network(len(have))
        for lo in range(start, stop, width):
            hi = min(stop, lo + width)
            part = out[:, lo - first : hi - first]
            if not have:
                part[:] = np.nan
                continue
            planes = [xi[:, lo - lag : hi - lag] for lag in have]
            part[:] = _network_median(planes, network)
            if any(gaps[lo - lag : hi - lag].any() for lag in have):
                rows = np.zeros(part.shape, dtype=bool)
                for lag in have:
                    rows |= missing[:, lo - lag : hi - lag]
                stack = np.stack([x[:, lo - lag : hi - lag][rows] for lag in have], axis=-1)
                part[rows] = _nan_median_last(stack)
    return out


_BLOCK = 1 << 15  # values per plane in one block


def _network_median(
    planes: Sequence[FloatArray], network: Sequence[tuple[int, int, bool, bool]]
) -> FloatArray:
    """The element-wise median of equally shaped planes without NaN, by the network."""
    work = list(planes)
    for i, j, want_min, want_max in network:
        low = np.minimum(work[i], work[j]) if want_min else work[i]
        high = np.maximum(work[i], work[j]) if want_max else work[j]
        work[i], work[j] = low, high
    count = len(work)
    median: FloatArray = (work[(count - 1) // 2] + work[count // 2]) / 2
    return median


def _rolling_sum(a: FloatArray, rows: int) -> FloatArray:
    """Sum of the last ``rows`` columns up to each column (NaN counted as 0)."""
    c = np.cumsum(np.nan_to_num(a), axis=1)
    out = c.copy()
    if rows < a.shape[1]:
        out[:, rows:] -= c[:, :-rows]
    return out


class BaselineCache:
    """Seasonal baselines of whole days, kept between cycles: a day's baseline depends only
    on earlier days, so a cycle every few minutes computes the current day's once.

    Keyed by series and UTC day. Only days whose every lag lay inside the batch are kept,
    so a cached day equals a fresh one. Assumes the earlier days' data do not change
    afterwards (late or backfilled samples for them are not seen until ``clear``). Days
    older than the oldest a cycle asked for are dropped.
    """

    def __init__(self) -> None:
        self._days: dict[tuple[SeriesKey, int], FloatArray] = {}
        self._shape: tuple[int, int, int] | None = None  # per_day, days, weeks

    def __len__(self) -> int:
        return len(self._days)

    def clear(self) -> None:
        self._days.clear()

    def baseline(
        self, keys: Sequence[SeriesKey], times: pd.DatetimeIndex, x: FloatArray,
        per_day: int, days: int, weeks: int, first: int,
    ) -> FloatArray:
        """``seasonal_baseline(x, per_day, days, weeks, first)``, from the cache where it can."""
        ns = times.as_unit("ns").asi8
        day_ns = _DAY // timedelta(microseconds=1) * 1000
        step_ns = int(ns[1] - ns[0]) if len(ns) >= 2 else 0
        if len(ns) < 2 or step_ns * per_day != day_ns or day_ns % step_ns or (
                ns[0] % step_ns != 0):  # the grid must tile UTC days
            return seasonal_baseline(x, per_day, days, weeks, first)
        if self._shape != (per_day, days, weeks):
            self._days.clear()
            self._shape = (per_day, days, weeks)
        n, total = x.shape
        out = np.empty((n, total - first))
        reach = max(days, 7 * weeks) * per_day
        day_first, day_last = int(ns[first] // day_ns), int(ns[-1] // day_ns)
        col0 = {day: int((day * day_ns - ns[0]) // step_ns)  # its midnight's column (maybe < 0)
                for day in range(day_first, day_last + 1)}
        # Days with a lag before the batch are not whole-day values: computed, not kept.
        whole = [day for day, c in col0.items() if c >= reach]
        cut = col0[whole[0]] if whole else total
        if cut > first:
            out[:, : cut - first] = seasonal_baseline(x[:, :cut], per_day, days, weeks, first)
        if not whole:
            return out
        todo = [day for day in whole if any((k, day) not in self._days for k in keys)]
        if todo:
            # One pass over the days to fill, each whole, ahead of the data too: their lags
            # all lie in the past.
            lo, hi = col0[todo[0]], col0[todo[-1]] + per_day
            src = x[:, lo - reach : min(total, hi)]
            if hi > total:
                src = np.concatenate((src, np.full((n, hi - total), np.nan)), axis=1)
            fresh = seasonal_baseline(src, per_day, days, weeks, reach)
            for day in todo:
                block = fresh[:, col0[day] - lo : col0[day] - lo + per_day].copy()  # own memory
                for i, key in enumerate(keys):
                    self._days[(key, day)] = block[i]
        for day in whole:
            lo, hi = max(first, col0[day]), min(total, col0[day] + per_day)
            out[:, lo - first : hi - first] = np.array(
                [self._days[(k, day)][lo - col0[day] : hi - col0[day]] for k in keys])
        for key_day in [kd for kd in self._days if kd[1] < day_first]:
            del self._days[key_day]
        return out


@dataclass(frozen=True)
class _Decisions:
    """Per point (series × evaluated columns): the decision and what it rests on."""

    exceed: BoolArray
    fire: BoolArray
    trend: BoolArray
    surge: BoolArray
    baseline: FloatArray
    spread: FloatArray


def decide(
    batch: SeriesBatch, config: FindingsConfig = DEFAULT_FINDINGS, first: int = 0,
    cache: BaselineCache | None = None,
) -> _Decisions:
    """The guarded, persistent decision at each column from ``first`` on; causal."""
    per_day = max(1, round(_DAY / batch.step))
    # Only the columns the baselines and the trend can reach back to.
    reach = max(config.baseline_days, 7 * config.baseline_weeks) + config.baseline_days
    offset = max(0, first - (reach + config.trend_days + 1) * per_day)
    raw = batch.values[:, offset:]
    first -= offset
    x = np.where(np.isfinite(raw) & (raw >= 0), raw, np.nan)  # negative: a mishandled reset
    n_series = x.shape[0]
    # The spread needs the residuals of earlier days too: compute from a day before `first`.
    head = max(0, first - config.baseline_days * per_day)
    if cache is None:
        base = seasonal_baseline(x, per_day, config.baseline_days, config.baseline_weeks, head)
    else:
        base = cache.baseline(batch.keys, batch.times[offset:], x, per_day,
                              config.baseline_days, config.baseline_weeks, head)
    xs = x[:, head:]
    resid = np.abs(xs - base)
    # Daily median absolute residual, per day counted back from the last column.
    cols = xs.shape[1]
    days = -(-cols // per_day)
    padded = np.full((n_series, days * per_day), np.nan)
    padded[:, days * per_day - cols :] = resid
    daily = _nan_median_last(padded.reshape(n_series, days, per_day))
    # Spread at a column: the median of the previous complete days' medians (causal).
    day_of_col = (np.arange(cols) + days * per_day - cols) // per_day
    earlier = np.full((n_series, days, config.baseline_days), np.nan)
    for k in range(1, min(config.baseline_days, days - 1) + 1):  # short histories: fewer
        earlier[:, k:, k - 1] = daily[:, : days - k]
    spread_day = _nan_median_last(earlier) * _MAD_TO_SIGMA
    # The rest only from where the persistence of column ``first`` starts looking back.
    cut = first - head
    g = max(0, cut - config.persist_n)
    base_g, xs = base[:, g:], xs[:, g:]
    spread = spread_day[:, day_of_col[g:]]
    spread = np.maximum(spread, 0.01 * np.abs(base_g))
    spread = np.where(spread > 0, spread, np.nan)

    sign = np.array([1.0 if _direction(k.signal) is not Direction.DOWN else -1.0
                     for k in batch.keys])[:, None]
    requests = batch.requests[:, offset + head + g :]
    min_abs = np.array([config.guards[k.signal].min_abs for k in batch.keys])[:, None]
    min_rel = np.array([config.guards[k.signal].min_rel for k in batch.keys])[:, None]
    zmin = np.array([config.guards[k.signal].z for k in batch.keys])[:, None]
    is_thru = np.array([k.signal is Signal.THROUGHPUT for k in batch.keys])[:, None]
    is_err = np.array([k.signal is Signal.ERROR_RATIO for k in batch.keys])[:, None]
    step_s = batch.step.total_seconds()

    with np.errstate(invalid="ignore", divide="ignore"):
        delta = sign * (xs - base_g)
        z = delta / spread
        guarded = (z > zmin) & (delta > min_abs) & (delta > min_rel * np.abs(base_g))
        # Traffic: the point's own requests; for drops the expected ones (base × step).
        traffic = np.where(is_thru, base_g * step_s, requests)
        enough = np.where(np.isnan(requests) & ~is_thru, True, traffic >= config.min_requests)
        enough &= np.where(is_err, xs * requests >= config.min_errors, True)
        exceed = guarded & enough
        rise = xs - base_g
        surge = is_thru & (rise > min_abs) & (rise > config.surge_rel * np.abs(base_g)) & (
            rise / spread > zmin) & (requests >= config.min_requests)
    fire = _rolling_sum(exceed.astype(float), config.persist_n) >= config.persist_k
    fire &= exceed
    surge_fire = (_rolling_sum(surge.astype(float), config.persist_n) >= config.persist_k) & surge
    # The trend needs trend_days + 1 days before the first column it judges, no more.
    lead = max(0, first - (config.trend_days + 1) * per_day)
    trend = _trend(x[:, lead:], per_day, sign, batch.keys, config, first - lead)

    keep = cut - g
    return _Decisions(
        exceed=exceed[:, keep:], fire=fire[:, keep:], trend=trend,
        surge=surge_fire[:, keep:], baseline=base[:, cut:], spread=spread[:, keep:],
    )


def _trend(
    x: FloatArray, per_day: int, sign: FloatArray, keys: Sequence[SeriesKey],
    config: FindingsConfig, start: int = 0,
) -> BoolArray:
    """The 24h mean grew by ``trend_per_day`` in each of the last ``trend_days`` days, at
    columns ``start:`` (only for the signals that have a trend)."""
    per = np.array([config.guards[k.signal].trend_per_day or np.nan for k in keys])[:, None]
    total_rel = np.array([config.guards[k.signal].trend_total_rel for k in keys])[:, None]
    result = np.zeros((x.shape[0], x.shape[1] - start), dtype=bool)
    rows = np.flatnonzero(np.isfinite(per[:, 0]))
    if rows.size == 0:
        return result
    x, per, total_rel, sign = x[rows], per[rows], total_rel[rows], sign[rows]
    days = config.trend_days
    ok = np.isfinite(x)
    count = _rolling_sum(ok.astype(float), per_day)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= 0.8 * per_day, _rolling_sum(x, per_day) / count, np.nan)
        # Mean lagged by j days at the judged columns: NaN before the data.
        pad = max(0, days * per_day - start)
        padded = np.concatenate((np.full((len(rows), pad), np.nan), mean), axis=1)
        cols = x.shape[1] - start

        def lagged(j: int) -> FloatArray:
            lo = pad + start - j * per_day
            return padded[:, lo : lo + cols]

        grew = [sign * (lagged(j) - lagged(j + 1)) for j in range(days)]
        low, high = functools.reduce(np.minimum, grew), functools.reduce(np.maximum, grew)
        # Steady growth each day: a step makes one big daily growth, not a trend.
        growing = (low > per) & (high <= config.trend_steadiness * low)
        oldest = lagged(days)
        total = sign * (lagged(0) - oldest)
        result[rows] = growing & (total > total_rel * np.abs(oldest))
    return result


# ---- runs, anomalies, findings ------------------------------------------------------------


def _runs(active: BoolArray, gap: int) -> list[tuple[int, int]]:
    """(first, last) column of each run of True, runs closer than ``gap`` merged."""
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def find_anomalies(
    batch: SeriesBatch,
    since: datetime,
    slos: Mapping[str, SLO] | None = None,
    config: FindingsConfig = DEFAULT_FINDINGS,
    chunk: int = 1000,
    cache: BaselineCache | None = None,
) -> tuple[list[Anomaly], list[SeriesProblem], int]:
    """Anomalies active after ``since``, problems of the series, and how many were scored."""
    first = int(np.searchsorted(batch.times.as_unit("ns").asi8, pd.Timestamp(since).value,
                                side="right"))
    first = min(first, len(batch.times))
    problems = _problems(batch, first, config)
    anomalies: list[Anomaly] = []
    scored = 0
    for lo in range(0, len(batch.keys), chunk):
        part = SeriesBatch(batch.keys[lo : lo + chunk], batch.times,
                           batch.values[lo : lo + chunk], batch.requests[lo : lo + chunk])
        d = decide(part, config, first, cache)
        candidates = np.flatnonzero((d.fire | d.trend | d.surge).any(axis=1))
        if candidates.size == 0:
            continue
        scores = _scores(part, candidates)
        scored += int(candidates.size)
        for row, score in zip(candidates, scores, strict=True):
            anomalies += _series_anomalies(part, int(row), d, first, score, slos or {}, config)
    return anomalies, problems, scored


def _scores(batch: SeriesBatch, rows: npt.NDArray[np.intp]) -> FloatArray:
    """The existing scorer on the chosen series only: it is ~100× slower than the guards."""
    slots = daily_slots(batch.times.as_unit("ns").asi8.astype("datetime64[ns]"))
    directions = [_direction(batch.keys[r].signal) for r in rows]
    values = batch.values[rows]
    if slots is None:
        return score_batch(values, directions=directions)
    grid = np.broadcast_to(slots.slots, values.shape)
    return score_batch(values, directions=directions, slots=grid, slots_per_day=slots.count)


def _problems(batch: SeriesBatch, first: int, config: FindingsConfig) -> list[SeriesProblem]:
    """Series the decision cannot judge, or judges only in part, said plainly."""
    problems = []
    finite = np.isfinite(batch.values)
    need = max(1, round(config.min_history / batch.step))
    step = batch.step
    for i, key in enumerate(batch.keys):
        have = finite[i]
        if not have.any():
            problems.append(SeriesProblem(key=key, message="no data at all: not checked"))
            continue
        if key.endpoint and np.nansum(batch.requests[i]) == 0:
            problems.append(SeriesProblem(key=key, message="no traffic: not checked"))
            continue
        first_seen = int(np.argmax(have))
        if first_seen + need > len(have) - 1:
            problems.append(SeriesProblem(key=key, message=(
                f"only {format_duration(step * int(have.sum()))} of data (since "
                f"{_when(batch.times[first_seen])}): needs {format_duration(config.min_history)}"
                " of history for a baseline, not checked yet")))
            continue
        recent = have[first:]
        if recent.size and recent.mean() < config.min_coverage:
            problems.append(SeriesProblem(key=key, message=(
                f"data for only {recent.mean():.0%} of the checked window: gaps skipped")))
    return problems


def _when(t: pd.Timestamp | datetime) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%d %H:%M UTC")


def _series_anomalies(
    batch: SeriesBatch, row: int, d: _Decisions, first: int, score: FloatArray,
    slos: Mapping[str, SLO], config: FindingsConfig,
) -> list[Anomaly]:
    step = batch.step
    recovery = max(1, round(config.recovery / step))
    reopen = max(recovery, round(config.reopen_within / step))
    out = []
    for flags, is_surge in ((d.fire[row] | d.trend[row], False), (d.surge[row], True)):
        for a, b in _runs(flags, reopen):
            out.append(_anomaly(batch, row, d, first, score, a, b, is_surge, recovery, slos,
                                config))
    return [a for a in out if a is not None]


def _anomaly(
    batch: SeriesBatch, row: int, d: _Decisions, first: int, score: FloatArray, a: int, b: int,
    is_surge: bool, recovery: int, slos: Mapping[str, SLO], config: FindingsConfig,
) -> Anomaly | None:
    key = batch.keys[row]
    times = batch.times
    last_col = d.fire.shape[1] - 1
    # The onset: the first exceeding point of the window that fired, or the scorer's pick.
    lo = max(0, a - config.persist_n + 1)
    exceed = d.surge[row] if is_surge else d.exceed[row]
    onset = lo + int(np.argmax(exceed[lo : a + 1])) if exceed[lo : a + 1].any() else a
    window = score[first + lo : first + a + 1]
    onset_score = float(window.max()) if window.size else 0.0
    if onset_score >= config.onset_score:
        onset = min(onset, lo + int(np.argmax(window)))
    trend_cols = np.flatnonzero(d.trend[row, a : b + 1])
    # A trend when the growth test fired and the onset was not sudden (a step also grows
    # the daily mean, once).
    trend = bool(trend_cols.size) and not is_surge and (
        trend_cols[0] == 0 or onset_score < config.onset_score)
    onset_col = first + onset
    if trend:  # a leak begins well before three days of growth can show it
        back = round((config.trend_days - 0.5) * _DAY / batch.step)
        onset_col = max(0, first + a + int(trend_cols[0]) - back)
    ended = b + recovery <= last_col
    end = times[first + b].to_pydatetime() if ended else None
    sl = slice(first + a, first + b + 1)
    x = batch.values[row, sl]
    base = d.baseline[row, a : b + 1]
    spread = d.spread[row, a : b + 1]
    sign = -1.0 if _direction(key.signal) is Direction.DOWN and not is_surge else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        zs = sign * (x - base) / spread
    if not np.isfinite(zs).any():
        return None
    worst = int(np.nanargmax(zs))
    if is_surge:
        change = Change.SURGE
    elif trend:
        change = Change.TREND
    elif sign < 0:
        change = Change.DROP
    elif ended and times[first + b] - times[onset_col] <= config.spike_max:
        change = Change.SPIKE
    else:
        change = Change.STEP
    z = float(zs[worst])
    slo_severity, slo_text = _slo(batch, row, key, first + a, first + b, slos)
    severity = Severity.INFO if is_surge else _severity(z, slo_severity, config)
    return Anomaly(
        key=key, change=change, start=times[onset_col].to_pydatetime(),
        fired_at=times[first + a].to_pydatetime(), end=end,
        peak_at=times[first + a + worst].to_pydatetime(), value=float(x[worst]),
        baseline=float(base[worst]), z=z, onset_score=onset_score, severity=severity,
        slo=slo_text, chart=_chart(batch, row, d, first, onset_col, first + b),
    )


def _severity(z: float, slo: Severity | None, config: FindingsConfig) -> Severity:
    by_distance = (Severity.CRITICAL if z >= config.critical_z else
                   Severity.WARNING if z >= config.warning_z else Severity.INFO)
    if slo is None:
        return min(by_distance, Severity.WARNING, key=lambda s: s.rank)  # no SLO breach: no page
    if slo is Severity.INFO:  # breached, but slowly: at least a ticket
        return max(by_distance, Severity.WARNING, key=lambda s: s.rank)
    return max(by_distance, slo, key=lambda s: s.rank)


def burn_rates(
    ratio: FloatArray, requests: FloatArray, objective: float, step: timedelta
) -> dict[timedelta, FloatArray]:
    """Error-budget burn rate over each window of ``BURN_RULES``, at every point (causal)."""
    errors = np.nan_to_num(ratio * requests)
    total = np.nan_to_num(requests)
    out = {}
    for window in {w for rule in BURN_RULES for w in rule[:2]}:
        rows = max(1, round(window / step))
        e = _rolling_sum(errors[None, :], rows)[0]
        r = _rolling_sum(total[None, :], rows)[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[window] = np.where(r > 0, e / r, np.nan) / objective
    return out


def _slo(
    batch: SeriesBatch, row: int, key: SeriesKey, a: int, b: int, slos: Mapping[str, SLO]
) -> tuple[Severity | None, str]:
    """The worst SLO standing in columns a..b: severity (None: not breached) and a sentence."""
    slo = slos.get(key.column or "")
    if slo is None:
        return None, ""
    x = batch.values[row, a : b + 1]
    if key.signal is Signal.ERROR_RATIO and slo.error_ratio:
        rates = burn_rates(batch.values[row], batch.requests[row], slo.error_ratio, batch.step)
        for long, short, burn, severity in BURN_RULES:
            hit = (rates[long][a : b + 1] >= burn) & (rates[short][a : b + 1] >= burn)
            if hit.any():
                return severity, (f"error budget burning at {burn:g}× or more over "
                                  f"{format_duration(long)} and {format_duration(short)} "
                                  f"(SLO {slo.error_ratio:.2%} errors)")
        peak = float(np.nanmax(rates[timedelta(hours=1)][a : b + 1]))
        if peak >= 1:
            return Severity.INFO, f"burning the error budget at {peak:.1f}× over 1h"
        return None, f"within the {slo.error_ratio:.2%} error SLO"
    if key.signal is Signal.LATENCY and slo.latency is not None:
        limit = slo.latency.threshold.total_seconds()
        over = np.sum(x > limit)
        if over >= 3:
            return Severity.INFO, (f"p95 above the {limit * 1000:g} ms SLO for "
                                   f"{format_duration(batch.step * int(over))}")
        return None, f"within the {limit * 1000:g} ms SLO"
    return None, ""


def _chart(
    batch: SeriesBatch, row: int, d: _Decisions, first: int, onset: int, last: int
) -> ChartData:
    """From 6 hours before the onset to a couple of hours after the end, at most ~300 points."""
    step = batch.step
    pad = round(timedelta(hours=6) / step)
    lo = max(first, onset - pad)
    hi = min(batch.values.shape[1], last + round(timedelta(hours=2) / step) + 1)
    stride = max(1, (hi - lo) // 300)
    cols = np.arange(lo, hi, stride)
    base = d.baseline[row, cols - first]
    spread = d.spread[row, cols - first]
    band = 3 * spread
    return ChartData(
        times=[t.to_pydatetime() for t in batch.times[cols]],
        values=[float(v) for v in batch.values[row, cols]],
        baseline=[float(v) for v in base],
        low=[float(v) for v in np.maximum(base - band, 0)],
        high=[float(v) for v in base + band],
    )


def group_findings(
    anomalies: Sequence[Anomaly], config: FindingsConfig = DEFAULT_FINDINGS
) -> list[Finding]:
    """Anomalies of one service close in time (or overlapping) as one finding each."""
    by_service: dict[str, list[Anomaly]] = {}
    for a in sorted(anomalies, key=lambda a: (a.start, SIGNAL_ORDER.index(a.key.signal))):
        by_service.setdefault(a.key.service, []).append(a)
    findings = []
    for service, items in by_service.items():
        groups: list[list[Anomaly]] = []
        for a in items:
            group = next((g for g in groups if _belongs(a, g, config)), None)
            if group is None:
                groups.append([a])
            else:
                group.append(a)
        for g in groups:
            findings.append(_finding(service, g))
    return sorted(findings, key=lambda f: (-f.severity.rank, f.start))


def _belongs(a: Anomaly, group: list[Anomaly], config: FindingsConfig) -> bool:
    head = group[0]
    if a.start - head.start > config.group_window:
        return False
    return any(a.start - g.start <= config.group_gap or g.end is None or a.start <= g.end
               for g in group)


def _finding(service: str, group: list[Anomaly]) -> Finding:
    severity = max((a.severity for a in group), key=lambda s: s.rank)
    first = group[0]
    ends = [a.end for a in group]
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    ident = f"{service}:{first.key.signal}:{first.start:%Y%m%dT%H%M}"
    return Finding(id=ident, service=service, severity=severity, change=first.change,
                   start=first.start, end=end, anomalies=list(group))


def find(
    batch: SeriesBatch,
    since: datetime,
    slos: Mapping[str, SLO] | None = None,
    config: FindingsConfig = DEFAULT_FINDINGS,
    cache: BaselineCache | None = None,
) -> FindingsResult:
    """Findings active after ``since`` (up to the batch's last point), with the problems.

    ``slos`` are keyed by the endpoint's frame column (``SeriesKey.column``).

    A ``BaselineCache`` kept between cycles saves recomputing the earlier days' baselines.
    """
    anomalies, problems, scored = find_anomalies(batch, since, slos, config, cache=cache)
    return FindingsResult(findings=group_findings(anomalies, config), problems=problems,
                          series_checked=len(batch.keys), series_scored=scored)
