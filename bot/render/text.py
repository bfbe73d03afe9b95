"""Plain-text rendering: numbers people read at a glance, sparklines, aligned tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bot.figures import SignalFigures, human_span
from bot.metrics.base import Signal

SPARK_CHARS = "▁▂▃▄▅▆▇█"


def format_seconds(seconds: float) -> str:
    """0.1823 → ``182 ms``; 2.4 → ``2.40 s``; tiny values keep a decimal."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def format_ratio(ratio: float) -> str:
    """0.0123 → ``1.23%``; keeps small error ratios readable."""
    if not math.isfinite(ratio):
        return "n/a"
    pct = ratio * 100
    if pct == 0:
        return "0%"
    if pct < 0.01:
        return "<0.01%"
    return f"{pct:.2f}%" if pct < 10 else f"{pct:.1f}%"


def format_rate(per_second: float) -> str:
    """Requests per second, switching to per minute when traffic is thin."""
    if not math.isfinite(per_second):
        return "n/a"
    if per_second >= 100:
        return f"{per_second:,.0f} req/s"
    if per_second >= 1:
        return f"{per_second:.1f} req/s"
    return f"{per_second * 60:.1f} req/min"


def format_value(signal: Signal, value: float) -> str:
    """A figure in the unit people expect for the signal."""
    if signal is Signal.LATENCY:
        return format_seconds(value)
    if signal is Signal.THROUGHPUT:
        return format_rate(value)
    return format_ratio(value)


def sparkline(values: Sequence[float] | np.ndarray, width: int = 24) -> str:
    """A one-line unicode chart; gaps (NaN) show as spaces; resampled to ``width`` cells."""
    data = np.asarray(values, dtype=float)
    if data.size == 0 or not np.isfinite(data).any():
        return ""
    if data.size > width:
        cells = np.array_split(data, width)
        data = np.array([np.nanmean(c) if np.isfinite(c).any() else np.nan for c in cells])
    finite = data[np.isfinite(data)]
    low, high = float(finite.min()), float(finite.max())
    span = high - low
    chars = []
    for value in data:
        if not math.isfinite(value):
            chars.append(" ")
            continue
        level = 0 if span == 0 else round((value - low) / span * (len(SPARK_CHARS) - 1))
        chars.append(SPARK_CHARS[level])
    return "".join(chars)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """An aligned monospace table; columns listed in ``right`` are right-aligned (numbers)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("─" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def render_figures(figures: SignalFigures) -> str:
    """The terminal answer for one signal: a headline, a sparkline and the spread."""
    value = format_value(figures.signal, figures.overall)
    head = f"{figures.statistic} of {figures.subject}, last {human_span(figures.span)}: {value}"
    if figures.slo_target is not None:
        target = format_value(figures.signal, figures.slo_target)
        head += f" — SLO {target} {'met' if figures.slo_met else 'MISSED'}"
    stats = figures.stats
    spread = " · ".join(
        f"{name} {format_value(figures.signal, v)}"
        for name, v in (
            ("min", stats.minimum),
            ("median", stats.median),
            ("max", stats.maximum),
            ("latest", stats.last),
        )
    )
    return f"{head}\n{sparkline(figures.series.to_numpy(dtype=float), width=48)}\n{spread}"
