"""How answers say things: names of measures, how figures are written and made, sentence parts."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from bot.analytics.stats import relative_change
from bot.ask.query import CostUnit, Measure, Statistic
from bot.ask.timerange import TimeRange
from bot.render.text import (
    format_change,
    format_count,
    format_money,
    format_rate,
    format_ratio,
    format_seconds,
    format_share,
)

Formatter = Callable[[float], str]
UNIT_WORDS = {  # cost figures by their unit, as sentences name them
    CostUnit.TOTAL: "cost",
    CostUnit.PER_DAY: "cost per day",
    CostUnit.PER_1K_REQUESTS: "cost per 1k requests",
    CostUnit.PROJECTED_MONTH: "projected monthly cost",
}


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
        return UNIT_WORDS[unit or CostUnit.TOTAL]
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


def slo_words(value: float, target: float | None, formatter: Formatter) -> str | None:
    if target is None or not math.isfinite(value):
        return None
    verdict = "met" if value <= target else "missed"
    return f"SLO {formatter(target)} {verdict}"


def sentence(lead: str, parts: Sequence[str | None]) -> str:
    """``lead — part — part.``"""
    return " — ".join([lead, *(p for p in parts if p)]) + "."


def change_on(new: float, old: float, before: TimeRange) -> str | None:
    """``up 12% on the 24h before``."""
    change = change_text(new, old)
    return f"{change} on {before.label}" if change else None


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
