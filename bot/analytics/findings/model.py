"""The findings' vocabulary: series and batches, thresholds, anomalies, findings, severity."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from bot.analytics.anomaly.config import SIGNAL_DIRECTIONS, Direction
from bot.durations import format_duration
from bot.metrics.base import Signal, endpoint_column

FloatArray = npt.NDArray[np.float64]

DAY = timedelta(days=1)


# A burn met over a long window this short or shorter is fast (see ``Anomaly.fast_burn``).
FAST_BURN = timedelta(hours=6)


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
    SILENT = "silent"  # a series that had data stopped reporting: the worst outage


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


class FastPersistence(BaseModel):
    """Points this far outside the baseline fire sooner: every point over ``span`` (at least
    two points of the batch's step) must clear its guards ``excess`` times over (the smaller
    of its z over the guard's z and its relative change over the guard's)."""

    model_config = ConfigDict(frozen=True)

    excess: float = Field(gt=1)
    span: timedelta


DEFAULT_FAST = (FastPersistence(excess=2.5, span=timedelta(minutes=2)),
                FastPersistence(excess=2.0, span=timedelta(minutes=3)))


class FindingsConfig(BaseModel):
    """Every threshold of the decision; windows are durations, turned into points by the step."""

    model_config = ConfigDict(frozen=True)

    guards: dict[Signal, Guard] = DEFAULT_GUARDS
    surge_rel: float = Field(1.0, ge=0, description="throughput rise reported as a surge")
    min_requests: float = Field(50, ge=0, description="requests a point needs to count")
    min_errors: float = Field(5, ge=0, description="errors an error-ratio point needs")
    baseline_days: int = Field(7, ge=1, description="days of time-of-day history")
    baseline_weeks: int = Field(3, ge=0, description="earlier weeks of the same weekday")
    min_history: timedelta = Field(DAY, description="history before a series is judged")
    # ``persist_k`` of ``persist_n`` points at ``persist_step`` (the same span at a finer step).
    persist_k: int = Field(3, ge=1)
    persist_n: int = Field(4, ge=1)
    persist_step: timedelta = timedelta(minutes=5)
    fast: tuple[FastPersistence, ...] = DEFAULT_FAST
    fast_burn: float = Field(14.4, gt=0, description=(
        "error-budget burn rate over both fast_burn_windows that fires at once"))
    fast_burn_windows: tuple[timedelta, timedelta] = (timedelta(minutes=5), timedelta(hours=1))
    # An error ratio's fast tier in counting noise: the errors of the last points (up to
    # ``count_span``) so many more than the baseline expects that a Poisson count (widened by
    # the series' overdispersion) reaches them with probability ``count_tail`` or less.
    count_tail: float = Field(1e-12, gt=0, lt=1, description=(
        "Poisson upper-tail probability of the recent errors that fires at once"))
    count_span: timedelta = Field(timedelta(minutes=2), description=(
        "the recent points the counting tier sums (at least one)"))
    # The surprise tier: the anomaly scorer (``bot.analytics.anomaly``) as one more way to
    # fire, for what the median spread misses (a record in a spiky series) and to fire in one
    # point where the surprise is large.
    surprise_alarm: float | None = Field(0.8, gt=0, le=1, description=(
        "a point fires when the anomaly scorer's score for it reaches this and the guards "
        "other than z (min traffic, abs, rel change, in the signal's direction) pass; None: off"))
    surprise_context: timedelta = Field(timedelta(days=2), description=(
        "history the scorer reads back from the first judged point each cycle"))
    surprise_novelty_sigmas: float = Field(0.0, ge=0, description=(
        "the scorer's range-novelty noise allowance (its novelty_sigmas) for the tier"))
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
    silence_after: timedelta = Field(timedelta(minutes=15),
                                     description="no data this long from a series: silent")


    def persistence(self, step: timedelta) -> tuple[int, int]:
        """(k, n): k exceeding points among the last n at ``step`` (the span of
        ``persist_n`` points at ``persist_step``, the same share of it)."""
        scale = max(1, round(self.persist_step / step))
        return self.persist_k * scale, self.persist_n * scale


DEFAULT_FINDINGS = FindingsConfig()


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
    # The long window of the fastest burn rule met (None: none was), so an incident's
    # urgency can follow the burn and not only the severity.
    burn_window: timedelta | None = None
    chart: ChartData | None = None

    @property
    def fast_burn(self) -> bool:
        """The error budget burns fast enough to page at once: the workbook pages for its
        first two rules (2% and 5% of a month's budget gone in 1h and 6h); the 3-day rule
        is a slow burn, a ticket."""
        return self.burn_window is not None and self.burn_window <= FAST_BURN

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
        if a.change is Change.SILENT:
            where = f"{a.key.endpoint} ({a.key.service})" if a.key.endpoint else a.key.service
            more = len(self.anomalies) - 1
            tail = f" (and {more} more endpoint{'s' if more > 1 else ''})" if more else ""
            return f"no data from {where}{tail} since {a.start:%H:%M} UTC"
        verb = {Change.STEP: "stepped up", Change.SPIKE: "spiked", Change.TREND: "is growing",
                Change.DROP: "dropped", Change.SURGE: "surged"}[a.change]
        if a.change is Change.STEP and direction_of(a.key.signal) is Direction.DOWN:
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


def direction_of(signal: Signal) -> Direction:
    """The direction of the signal's changes that hurt (both when it has none)."""
    return SIGNAL_DIRECTIONS.get(signal, Direction.BOTH)
