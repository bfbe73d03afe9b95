"""Plain-text rendering: numbers people read at a glance, sparklines, aligned tables."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import datetime, tzinfo

import numpy as np

from bot.analytics.stats import SignalFigures
from bot.durations import human_span
from bot.metrics.base import Signal
from bot.render.message import Answer, AnswerKind

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


def format_count(count: float, noun: str = "") -> str:
    """12345.6 → ``12,346``; with a noun, ``1 request`` / ``12,346 requests``."""
    if not math.isfinite(count):
        return "n/a"
    rounded = round(count)
    text = f"{rounded:,}"
    if not noun:
        return text
    return f"{text} {noun}" if rounded == 1 else f"{text} {noun}s"


_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_money(amount: float, currency: str = "USD") -> str:
    """``$1,234.56``, ``$0.0042`` (small amounts keep two significant digits), ``12.50 CHF``."""
    if not math.isfinite(amount):
        return "n/a"
    size = abs(amount)
    if size >= 100:
        number = f"{amount:,.0f}"
    elif size >= 0.01 or size == 0:
        number = f"{amount:,.2f}"
    else:
        number = f"{amount:.2g}"
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    if symbol is None:
        return f"{number} {currency}"
    return f"-{symbol}{number[1:]}" if number.startswith("-") else f"{symbol}{number}"


def format_share(share: float) -> str:
    """A share of a limit, 0.634 → ``63%``; above 10x or below 1% keeps it readable."""
    if not math.isfinite(share):
        return "n/a"
    pct = share * 100
    if 0 < pct < 1:
        return f"{pct:.1f}%"
    return f"{pct:,.0f}%"


def format_change(change: float | None) -> str:
    """A relative change: 0.12 → ``up 12%``, −0.62 → ``down 62%``; None → ``n/a``."""
    if change is None or not math.isfinite(change):
        return "n/a"
    pct = abs(change) * 100
    if pct < 0.5:
        return "unchanged"
    amount = f"{pct:,.0f}%" if pct < 1000 else f"{abs(change) + 1:,.0f}x"
    return f"{'up' if change > 0 else 'down'} {amount}"


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
        data = _cell_means(data, width)
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


def _cell_means(data: np.ndarray, width: int) -> np.ndarray:
    """The mean of each of ``width`` cells as ``np.array_split`` cuts them (NaNs left out; a
    cell without a finite value is NaN), a row of a 2-D array per cell: the same sums as
    one ``nanmean`` per cell, in a tenth of its time (issue 13)."""
    size, extra = divmod(data.size, width)
    longer = extra * (size + 1)  # array_split's first ``extra`` cells are one longer
    means = []
    for rows in (data[:longer].reshape(extra, size + 1),
                 data[longer:].reshape(width - extra, size)):
        if not len(rows):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a cell of NaNs only
            mean = np.nanmean(rows, axis=1)
        mean[~np.isfinite(rows).any(axis=1)] = np.nan
        means.append(mean)
    return np.concatenate(means)


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


def render_answer(answer: Answer, *, chart_path: str | None = None) -> str:
    """An answer for the terminal: headline, sparkline, table, notes, examples, the chart's file."""
    lines = [answer.headline]
    if answer.sparkline:
        lines.append(answer.sparkline)
    if answer.table is not None and answer.table.rows:
        lines.append("")
        lines.append(table(answer.table.headers, answer.table.rows, right=answer.table.numeric))
    if answer.examples:
        lines.append("")
        lines.extend(f"  • {example}" for example in answer.examples)
    if answer.notes:
        lines.append("")
        marker = "" if answer.kind is AnswerKind.HELP else "note: "
        lines.extend(f"{marker}{note}" for note in answer.notes)
    if chart_path and answer.chart is not None:
        lines.append(f"\nchart: {chart_path} — {answer.chart.alt}")
    return "\n".join(lines)


def format_local(at: datetime, zone: tzinfo) -> str:
    """A moment for people reading a file or a terminal: ``2026-11-23 13:00 CET``."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
