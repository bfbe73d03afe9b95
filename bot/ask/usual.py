"""'Is checkout slower than usual?': the window against the detector's seasonal baseline.

"Usual" is what the detector calls usual (``bot.analytics.findings.decision.decide``): at each
5-minute step, the median of the same time of day on the previous days and the same weekday
of the previous weeks, with a band of three robust spreads around it. The answer puts the
window's average step value next to the baseline's average over the same steps, per
endpoint; the headline is about the one furthest from its usual level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, timedelta

import numpy as np
import pandas as pd

from bot.analytics.findings.decision import decide
from bot.analytics.findings.model import DEFAULT_FINDINGS, SeriesBatch, SeriesKey
from bot.ask.context import Context, all_endpoints, subjects_of
from bot.ask.query import Measure, Query, Statistic
from bot.ask.words import measure_name, value_formatter
from bot.catalog import EndpointInfo
from bot.metrics.base import NoDataError, Signal, Window
from bot.render.message import Answer, AnswerKind, Table

STEP = timedelta(minutes=5)  # the detector's step
BAND = 3  # spreads either side of the baseline, as on the alert charts
_SIGNALS = {
    Measure.LATENCY: Signal.LATENCY,
    Measure.ERROR_RATIO: Signal.ERROR_RATIO,
    Measure.THROUGHPUT: Signal.THROUGHPUT,
}


@dataclass(frozen=True)
class Usual:
    """One endpoint over the window: its value, its usual level and band."""

    entry: EndpointInfo
    value: float
    usual: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        if not math.isfinite(self.usual):
            return "no usual level yet"
        if self.value > self.high:
            return "above usual"
        if self.value < self.low:
            return "below usual"
        return "usual"

    @property
    def distance(self) -> float:
        """How far outside its band, in band widths (0 inside it)."""
        width = max(self.high - self.usual, 1e-12)
        if not math.isfinite(self.usual) or not math.isfinite(self.value):
            return -1.0
        return max(self.value - self.high, self.low - self.value, 0.0) / width


def usual_answer(ctx: Context) -> Answer:
    query = ctx.query
    measure = query.measure or Measure.LATENCY
    signal = _SIGNALS[measure]
    entries = all_endpoints(subjects_of(query, ctx.sources.catalog))
    window = ctx.window
    config = DEFAULT_FINDINGS
    reach = timedelta(days=max(config.baseline_days, 7 * config.baseline_weeks)
                      + config.baseline_days)
    end = pd.Timestamp(window.end).tz_convert(UTC).floor(STEP).to_pydatetime()
    start = pd.Timestamp(window.start).tz_convert(UTC).floor(STEP).to_pydatetime()
    read = Window(start=start - reach, end=end, step=STEP, rate_window=STEP)
    endpoints = [entry.endpoint for entry in entries]
    if signal is Signal.LATENCY:
        frame = ctx.backend.latency(read, _statistic(query).quantile or 0.95, endpoints)
    elif signal is Signal.ERROR_RATIO:
        frame = ctx.backend.error_ratio(read, endpoints)
    else:
        frame = ctx.backend.throughput(read, endpoints)
    index = pd.date_range(read.start, read.end, freq=STEP, tz="UTC")
    frame = frame.reindex(index)
    found = [entry for entry in entries if entry.column in frame.columns]
    if not found:
        raise NoDataError(f"no {measure.value.replace('_', ' ')} in the window")
    batch = SeriesBatch(
        keys=[SeriesKey(signal=signal, service=e.service, endpoint=e.key) for e in found],
        times=index,
        values=np.array([frame[e.column].to_numpy(dtype=float) for e in found]),
        requests=np.full((len(found), len(index)), np.nan),
    )
    first = int(np.searchsorted(index.asi8, pd.Timestamp(start).value, side="right"))
    first = min(first, len(index) - 1)
    decisions = decide(batch, config, first)
    rows = []
    with np.errstate(invalid="ignore"):
        for i, entry in enumerate(found):
            values = batch.values[i, first:]
            base = decisions.baseline[i]
            spread = decisions.spread[i]
            usual = _mean(base)
            band = BAND * _mean(spread)
            rows.append(Usual(entry, _mean(values), usual, max(usual - band, 0.0),
                              usual + band))
    return _answer(ctx, measure, rows)


def _statistic(query: Query) -> Statistic:
    """The detector keeps quantiles per step; an average or a peak is read as its p95."""
    stat = query.statistic
    return stat if stat is not None and stat.quantile is not None else Statistic.P95


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _answer(ctx: Context, measure: Measure, rows: list[Usual]) -> Answer:
    query = ctx.query
    fmt = value_formatter(measure)
    name = measure_name(measure, _statistic(query) if measure is Measure.LATENCY else None)
    worst = max(rows, key=lambda r: r.distance)
    window = ctx.window.label
    subject = worst.entry.label
    if len(query.subjects.services) == 1 and not query.subjects.endpoints:
        subject = f"{worst.entry.label} (the {query.subjects.services[0]} service)"
    if math.isfinite(worst.usual) and not math.isfinite(worst.high):
        headline = (f"{name} of {subject}, {window}: {fmt(worst.value)} — usual level "
                    f"{fmt(worst.usual)} at this time of day (too little history for a band).")
    elif not math.isfinite(worst.usual):
        headline = (f"No usual level yet for {subject}: the baseline needs at least a day "
                    f"of history before {window}.")
    else:
        where = {"above usual": "above", "below usual": "below", "usual": "within"}[
            worst.verdict]
        headline = (f"{name} of {subject}, {window}: {fmt(worst.value)} — {where} its usual "
                    f"{fmt(worst.low)}–{fmt(worst.high)} (usual level {fmt(worst.usual)} at "
                    f"this time of day).")
    table = Table(
        headers=("ENDPOINT", name.upper(), "USUAL", "USUAL BAND", ""),
        rows=tuple((r.entry.label, fmt(r.value), fmt(r.usual),
                    f"{fmt(r.low)}–{fmt(r.high)}", r.verdict)
                   for r in sorted(rows, key=lambda r: -r.distance)),
        numeric=(1, 2),
    ) if len(rows) > 1 else None
    config = DEFAULT_FINDINGS
    notes = (
        f"usual: as the detector sees it — per 5-minute {name}, the median of the same time "
        f"on the previous {config.baseline_days} days and the same weekday of the previous "
        f"{config.baseline_weeks} weeks; the band is {BAND} robust spreads either side; "
        f"figures are averages over the window's steps",
    )
    return Answer(kind=AnswerKind.ANSWER, headline=headline, table=table, notes=notes)
