"""What every kind of answer shares: where figures come from, the subjects, words and charts."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from bot.analytics.stats import relative_change
from bot.ask.query import CostUnit, Measure, Query, Statistic
from bot.ask.timerange import TimeRange, span_text
from bot.catalog import Catalog, EndpointInfo
from bot.config import CostSettings
from bot.metrics.base import Endpoint, MetricsBackend
from bot.render import charts
from bot.render.message import Chart
from bot.render.text import (
    format_change,
    format_count,
    format_money,
    format_rate,
    format_ratio,
    format_seconds,
    format_share,
    sparkline,
)

Formatter = Callable[[float], str]
ROW_SPARK = 16  # sparkline cells in a table row
HEADLINE_SPARK = 32


@dataclass(frozen=True)
class Sources:
    """What answering reads: the metrics, the catalog, the asker's time zone, cost prices."""

    backend: MetricsBackend
    catalog: Catalog
    tz: ZoneInfo
    cost: CostSettings = field(default_factory=CostSettings)


@dataclass(frozen=True)
class Context:
    """One question being answered."""

    query: Query
    sources: Sources
    now: datetime
    chart: bool

    @property
    def window(self) -> TimeRange:
        if self.query.window is None:  # the Query's validator guarantees it for non-help
            raise ValueError("this query has no window")
        return self.query.window

    @property
    def backend(self) -> MetricsBackend:
        return self.sources.backend


@dataclass(frozen=True)
class Subject:
    """One thing a figure is about: an endpoint, or a whole service (its endpoints)."""

    key: str  # its name in tables: the endpoint's label ("POST /graphql (orders)" when
    # another service shares the key), or the service name
    label: str  # for sentences: "POST /api/checkout", "the orders service"
    entries: tuple[EndpointInfo, ...]
    service: str | None = None  # set when the subject is a whole service

    @property
    def column(self) -> str:
        """Its column in frames and readings: ``Endpoint.column``, or the service name."""
        if self.service is None and len(self.entries) == 1:
            return self.entries[0].column
        return self.key

    @property
    def columns(self) -> list[str]:
        """The columns of its endpoints."""
        return [entry.column for entry in self.entries]

    @property
    def endpoints(self) -> list[Endpoint]:
        return [entry.endpoint for entry in self.entries]


def endpoint_subject(entry: EndpointInfo) -> Subject:
    return Subject(key=entry.label, label=entry.label, entries=(entry,))


def service_subject(name: str, entries: Sequence[EndpointInfo]) -> Subject:
    return Subject(key=name, label=f"the {name} service", entries=tuple(entries), service=name)


def subjects_of(query: Query, catalog: Catalog) -> list[Subject]:
    """The named endpoints and services, in the order named; every endpoint when none."""
    found: list[Subject] = []
    for key in query.subjects.endpoints:
        entry = catalog.get(key)
        if entry is not None:
            found.append(endpoint_subject(entry))
    for name in query.subjects.services:
        entries = catalog.for_service(name)
        if entries:
            found.append(service_subject(entries[0].service, entries))
    if query.subjects.everything:
        found = [endpoint_subject(entry) for entry in catalog.entries]
    return found


def all_endpoints(subjects: Sequence[Subject]) -> list[EndpointInfo]:
    """Every endpoint of the subjects, once each, in order."""
    seen: dict[str, EndpointInfo] = {}
    for subject in subjects:
        for entry in subject.entries:
            seen.setdefault(f"{entry.service}\0{entry.key}", entry)
    return list(seen.values())


def services_of(subjects: Sequence[Subject]) -> list[str]:
    return list(dict.fromkeys(entry.service for s in subjects for entry in s.entries))


# ---- words ------------------------------------------------------------------------------


def measure_name(measure: Measure, statistic: Statistic | None, unit: CostUnit | None = None
                 ) -> str:
    """How a sentence names the figure: ``p95``, ``error ratio``, ``cost per day``."""
    if measure is Measure.LATENCY:
        if statistic is Statistic.AVG:
            return "average latency"
        if statistic is Statistic.MAX:
            return "peak latency"
        return (statistic or Statistic.P95).value
    if measure is Measure.COST:
        return {
            None: "cost",
            CostUnit.TOTAL: "cost",
            CostUnit.PER_DAY: "cost per day",
            CostUnit.PER_1K_REQUESTS: "cost per 1k requests",
            CostUnit.PROJECTED_MONTH: "projected monthly cost",
        }[unit]
    base = {
        Measure.ERROR_RATIO: "error ratio",
        Measure.ERROR_COUNT: "error count",
        Measure.THROUGHPUT: "throughput",
        Measure.REQUEST_COUNT: "request count",
        Measure.CPU: "CPU",
        Measure.MEMORY: "memory",
    }[measure]
    if statistic is Statistic.MAX:
        return f"peak {base}"
    if statistic is Statistic.AVG and measure in (Measure.CPU, Measure.MEMORY):
        return f"average {base}"
    return base


def value_formatter(measure: Measure, currency: str = "USD") -> Formatter:
    """How a whole-window figure of ``measure`` is written."""
    if measure is Measure.LATENCY:
        return format_seconds
    if measure is Measure.ERROR_RATIO:
        return format_ratio
    if measure is Measure.THROUGHPUT:
        return format_rate
    if measure in (Measure.REQUEST_COUNT, Measure.ERROR_COUNT):
        return format_count
    if measure in (Measure.CPU, Measure.MEMORY):
        return format_share
    return lambda amount: format_money(amount, currency)


def series_formatter(measure: Measure) -> Formatter:
    """How a per-step value is written: counts are read per second, as rates."""
    if measure is Measure.REQUEST_COUNT:
        return format_rate
    if measure is Measure.ERROR_COUNT:
        return format_error_rate
    return value_formatter(measure)


def format_error_rate(per_second: float) -> str:
    if not math.isfinite(per_second):
        return "n/a"
    per_minute = per_second * 60
    return f"{per_minute:.1f} errors/min" if per_minute < 100 else f"{per_minute:,.0f} errors/min"


def how_made(measure: Measure, statistic: Statistic | None) -> str:
    """A note on how the figure was made."""
    if measure is Measure.LATENCY:
        if statistic is Statistic.AVG:
            return "average latency: the histogram's sum of durations over its request count"
        if statistic is Statistic.MAX:
            return ("peak latency: the highest per-step p99 (a histogram keeps no true "
                    "maximum)")
        name = (statistic or Statistic.P95).value
        return (f"{name} over all requests in the window (from the histogram's buckets), not "
                f"an average of per-step {name}s")
    if measure is Measure.ERROR_RATIO:
        return "error ratio: 5xx responses over all requests in the window"
    if measure is Measure.ERROR_COUNT:
        return "error count: 5xx responses in the window"
    if measure is Measure.REQUEST_COUNT:
        return "request count: requests served in the window"
    if measure is Measure.THROUGHPUT:
        return ("throughput: requests per second, the peak step" if statistic is Statistic.MAX
                else "throughput: requests per second averaged over the window")
    if measure in (Measure.CPU, Measure.MEMORY):
        what = "CPU in use" if measure is Measure.CPU else "memory working set"
        how = "its highest step" if statistic is Statistic.MAX else "averaged over the window"
        return f"{measure.value}: {what} as a share of the service's limit, {how}"
    return "cost"


def change_text(new: float, old: float) -> str | None:
    """``up 12%`` / ``down 62%`` / ``unchanged``; None when it means nothing."""
    change = relative_change(new, old)
    return None if change is None else format_change(change)


# ---- SLO targets --------------------------------------------------------------------------


def latency_target(subject: Subject, statistic: Statistic | None) -> float | None:
    """The latency threshold (seconds) when every endpoint's SLO is on this quantile."""
    quantile = (statistic or Statistic.P95).quantile
    if quantile is None:
        return None
    targets = set()
    for entry in subject.entries:
        slo = entry.slo.latency
        if slo is None or not math.isclose(slo.quantile, quantile):
            return None
        targets.add(slo.threshold.total_seconds())
    return targets.pop() if len(targets) == 1 else None


def error_target(subject: Subject) -> float | None:
    targets = {entry.slo.error_ratio for entry in subject.entries}
    if len(targets) != 1:
        return None
    target = targets.pop()
    return target


def slo_target(measure: Measure, statistic: Statistic | None, subject: Subject) -> float | None:
    """The SLO line for a figure, when the figure is what the SLO is about."""
    if measure is Measure.LATENCY and statistic not in (Statistic.AVG, Statistic.MAX):
        if subject.service is not None and len(subject.entries) > 1:
            return None  # the slowest endpoint's p95 is not the service's p95
        return latency_target(subject, statistic)
    if measure is Measure.ERROR_RATIO and statistic is not Statistic.MAX:
        return error_target(subject)
    return None


def slo_words(value: float, target: float | None, formatter: Formatter) -> str | None:
    if target is None or not math.isfinite(value):
        return None
    verdict = "met" if value <= target else "missed"
    return f"SLO {formatter(target)} {verdict}"


# ---- series and charts ------------------------------------------------------------------


def spark(series: pd.Series | None, width: int = ROW_SPARK) -> str:
    if series is None or series.empty:
        return ""
    return sparkline(series.to_numpy(dtype=float), width=width)


def shifted_onto(series: pd.Series, by: timedelta) -> pd.Series:
    """An earlier window's series moved forward onto the later window's clock."""
    moved = series.copy()
    moved.index = pd.DatetimeIndex(series.index) + by
    return moved


def line_chart(
    ctx: Context,
    title: str,
    series: pd.Series,
    formatter: Formatter,
    *,
    label: str,
    comparison: pd.Series | None = None,
    comparison_label: str = "",
    slo: float | None = None,
) -> Chart | None:
    """The time-series chart, with its alt text; None when not asked for or nothing to draw."""
    values = series.to_numpy(dtype=float)
    if not ctx.chart or not np.isfinite(values).any():
        return None
    png = charts.timeseries_chart(
        series, title, formatter, ctx.sources.tz, label=label, comparison=comparison,
        comparison_label=comparison_label, slo=slo,
    )
    finite = series.dropna()
    peak_at = pd.DatetimeIndex(finite.index)[int(np.argmax(finite.to_numpy(dtype=float)))]
    peak_at = peak_at.tz_convert(ctx.sources.tz)
    alt = (
        f"Line chart of {title}: from {formatter(float(finite.iloc[0]))} to "
        f"{formatter(float(finite.iloc[-1]))}, lowest {formatter(float(finite.min()))}, "
        f"highest {formatter(float(finite.max()))} at {peak_at:%a %H:%M}."
    )
    if comparison is not None and comparison.notna().any():
        alt += f" Dashed grey: {comparison_label}, shifted onto the same clock."
    if slo is not None:
        alt += f" Dotted red: the SLO, {formatter(slo)}."
    return Chart(png=png, alt=alt, title=title)


def bars_chart(
    ctx: Context,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    formatter: Formatter,
    *,
    highlight_over: float | None = None,
) -> Chart | None:
    """Horizontal bars (rankings, side by side); None when not asked for or nothing to draw."""
    pairs = [(lab, val) for lab, val in zip(labels, values, strict=True) if math.isfinite(val)]
    if not ctx.chart or not pairs:
        return None
    names = [lab for lab, _ in pairs]
    figures = [val for _, val in pairs]
    png = charts.bar_chart(names, figures, title, formatter, highlight_over=highlight_over)
    listing = "; ".join(f"{lab} {formatter(val)}" for lab, val in pairs[:10])
    more = f" and {len(pairs) - 10} more" if len(pairs) > 10 else ""
    alt = f"Bar chart of {title}: {listing}{more}."
    if highlight_over is not None:
        alt += f" Bars over {formatter(highlight_over)} are red."
    return Chart(png=png, alt=alt, title=title)


# ---- sentences ------------------------------------------------------------------------------


def sentence(lead: str, parts: Sequence[str | None]) -> str:
    """``lead — part — part.``"""
    return " — ".join([lead, *(p for p in parts if p)]) + "."


def change_on(new: float, old: float, before: TimeRange) -> str | None:
    """``up 12% on the 24h before``."""
    change = change_text(new, old)
    return f"{change} on {before.label}" if change else None


def onto(series: pd.Series | None, window: TimeRange, before: TimeRange) -> pd.Series | None:
    """``before``'s series moved onto ``window``'s clock; None when it has nothing to draw."""
    if series is None or not series.notna().any():
        return None
    # Elapsed time, not wall-clock: the series are indexed in UTC.
    return shifted_onto(series, window.end.astimezone(UTC) - before.end.astimezone(UTC))


def spread_rows(series: pd.Series, measure: Measure, tz: tzinfo) -> list[list[str]]:
    """Table rows: the lowest, median, highest and latest step, in the series' unit."""
    values = series.to_numpy(dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return []
    fmt = series_formatter(measure)
    index = pd.DatetimeIndex(series.index)
    per = f" ({span_text(index[1] - index[0])} steps)" if len(index) > 1 else ""
    peak = int(np.nanargmax(values))
    when = index[peak].tz_convert(tz)
    return [
        [f"lowest step{per}", fmt(float(np.nanmin(values)))],
        [f"median step{per}", fmt(float(np.nanmedian(values)))],
        [f"highest step, at {when:%a %H:%M}", fmt(float(values[peak]))],
        [f"latest step, at {index[finite][-1].tz_convert(tz):%a %H:%M}",
         fmt(float(values[finite][-1]))],
    ]


def versus(window: TimeRange, comparison: TimeRange) -> str:
    """``last 24h vs a week earlier`` (not ``last 24h vs last 24h, a week earlier``)."""
    prefix = f"{window.label}, "
    other = comparison.label
    if other.startswith(prefix):
        other = other[len(prefix):]
    return f"{window.label} vs {other}"


def signed_percent(change: float) -> str:
    """A relative change on a chart axis: ``+12%``, ``−62%``."""
    if not math.isfinite(change):
        return "n/a"
    return f"{change * 100:+,.0f}%".replace("-", "−")
