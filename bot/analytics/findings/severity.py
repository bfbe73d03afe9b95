"""Severity of an anomaly: its distance from the baseline and its SLO's multi-window burn rates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from bot.analytics.findings.decision import rolling_sum
from bot.analytics.findings.model import FindingsConfig, SeriesBatch, SeriesKey, Severity
from bot.analytics.slo import SLO
from bot.durations import format_duration
from bot.metrics.base import Signal

FloatArray = npt.NDArray[np.float64]

# SRE workbook, multi-window multi-burn-rate: (long, short, burn rate, severity).
BURN_RULES: tuple[tuple[timedelta, timedelta, float, Severity], ...] = (
    (timedelta(hours=1), timedelta(minutes=5), 14.4, Severity.CRITICAL),
    (timedelta(hours=6), timedelta(minutes=30), 6.0, Severity.WARNING),
    (timedelta(days=3), timedelta(hours=6), 1.0, Severity.WARNING),
)


def severity_of(z: float, slo: Severity | None, config: FindingsConfig) -> Severity:
    """The severity by distance (``warning_z``, ``critical_z``), capped or raised by the SLO's."""
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
        e = rolling_sum(errors[None, :], rows)[0]
        r = rolling_sum(total[None, :], rows)[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[window] = np.where(r > 0, e / r, np.nan) / objective
    return out


def slo_standing(
    batch: SeriesBatch, row: int, key: SeriesKey, a: int, b: int, slos: Mapping[str, SLO]
) -> tuple[Severity | None, str, timedelta | None]:
    """The worst SLO standing in columns a..b: severity (None: not breached), a sentence,
    and the long window of the burn rule met (None: none)."""
    slo = slos.get(key.column or "")
    if slo is None:
        return None, "", None
    x = batch.values[row, a : b + 1]
    if key.signal is Signal.ERROR_RATIO and slo.error_ratio:
        rates = burn_rates(batch.values[row], batch.requests[row], slo.error_ratio, batch.step)
        for long, short, burn, severity in BURN_RULES:
            hit = (rates[long][a : b + 1] >= burn) & (rates[short][a : b + 1] >= burn)
            if hit.any():
                return severity, (f"error budget burning at {burn:g}× or more over "
                                  f"{format_duration(long)} and {format_duration(short)} "
                                  f"(SLO {slo.error_ratio:.2%} errors)"), long
        peak = float(np.nanmax(rates[timedelta(hours=1)][a : b + 1]))
        if peak >= 1:
            return Severity.INFO, f"burning the error budget at {peak:.1f}× over 1h", None
        return None, f"within the {slo.error_ratio:.2%} error SLO", None
    if key.signal is Signal.LATENCY and slo.latency is not None:
        limit = slo.latency.threshold.total_seconds()
        over = np.sum(x > limit)
        if over >= 3:
            return Severity.INFO, (f"p95 above the {limit * 1000:g} ms SLO for "
                                   f"{format_duration(batch.step * int(over))}"), None
        return None, f"within the {limit * 1000:g} ms SLO", None
    return None, "", None


