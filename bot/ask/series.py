"""A measure's series in an answer: sparklines, charts with their alt text, the spread rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, timedelta, tzinfo

import numpy as np
import pandas as pd

from bot.ask.context import Context
from bot.ask.query import Measure
from bot.ask.timerange import TimeRange, span_text
from bot.ask.words import Formatter, series_formatter
from bot.render import charts
from bot.render.message import Chart
from bot.render.text import sparkline

ROW_SPARK = 16  # sparkline cells in a table row
HEADLINE_SPARK = 32


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
