"""From the per-point decisions to anomalies: runs, onset, kind of change, chart; and problems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.analytics.anomaly.batch import score_batch
from bot.analytics.anomaly.config import Direction
from bot.analytics.anomaly.slots import daily_slots
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.decision import Decisions, decide
from bot.analytics.findings.model import (
    DAY,
    DEFAULT_FINDINGS,
    Anomaly,
    Change,
    ChartData,
    FindingsConfig,
    SeriesBatch,
    SeriesKey,
    SeriesProblem,
    Severity,
    direction_of,
)
from bot.analytics.findings.severity import severity_of, slo_standing
from bot.analytics.slo import SLO
from bot.durations import format_duration
from bot.metrics.base import Signal, format_utc

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


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
    budgets = error_budgets(batch.keys, slos or {})
    for lo in range(0, len(batch.keys), chunk):
        part = SeriesBatch(batch.keys[lo : lo + chunk], batch.times,
                           batch.values[lo : lo + chunk], batch.requests[lo : lo + chunk])
        d = decide(part, config, first, cache, budgets[lo : lo + chunk])
        flags = d.fire | d.trend | d.surge
        candidates = np.flatnonzero(flags.any(axis=1))
        if candidates.size == 0:
            continue
        scores = _scores(part, candidates)
        scored += int(candidates.size)
        by_row = dict(zip(candidates.tolist(), scores, strict=True))
        # Firing within ``reopen_within`` of the window's first point: the run (a daily
        # recurrence is one) may have begun before it, so the decision goes back until its
        # beginning (its start is the change's).
        early = flags[candidates, : _reopen_points(batch.step, config) + 1].any(axis=1)
        for row in candidates[~early]:
            anomalies += _series_anomalies(part, int(row), d, first, by_row[int(row)],
                                           slos or {}, config)
        clipped = candidates[early]
        for rows, start, d1 in _from_their_beginning(part, clipped, first, config,
                                                      budgets[lo : lo + chunk]):
            sub = SeriesBatch([part.keys[r] for r in rows], part.times, part.values[rows],
                              part.requests[rows])
            for i, row in enumerate(rows):
                anomalies += _series_anomalies(sub, i, d1, start, by_row[int(row)],
                                               slos or {}, config, active_from=first - start)
    return anomalies, problems, scored


def error_budgets(keys: Sequence[SeriesKey], slos: Mapping[str, SLO]) -> FloatArray:
    """Per series, the error ratio its SLO allows (NaN: not an error ratio, or no SLO)."""
    out = np.full(len(keys), np.nan)
    for i, key in enumerate(keys):
        slo = slos.get(key.column or "") if key.signal is Signal.ERROR_RATIO else None
        if slo is not None and slo.error_ratio:
            out[i] = slo.error_ratio
    return out


def _from_their_beginning(
    batch: SeriesBatch, rows: npt.NDArray[np.intp], first: int, config: FindingsConfig,
    budgets: FloatArray,
) -> list[tuple[npt.NDArray[np.intp], int, Decisions]]:
    """The decision of ``rows`` from early enough that no run (runs within ``reopen_within``
    are one) reaches back to its first column: the span read back doubles from a day, for
    the rows that still need it. (rows, first column, decisions) per span."""
    per_day = max(1, round(DAY / batch.step))
    reopen = _reopen_points(batch.step, config)
    out = []
    back = per_day
    while rows.size:
        start = max(0, first - back)
        sub = SeriesBatch([batch.keys[r] for r in rows], batch.times, batch.values[rows],
                          batch.requests[rows])
        d = decide(sub, config, start, None, budgets[rows])  # no cache: it keeps the cycle's
        flags = d.fire | d.trend | d.surge
        done = (start == 0) | ~flags[:, : reopen + 1].any(axis=1)
        if done.any():
            keep = np.flatnonzero(done)
            out.append((rows[keep], start, _rows_of(d, keep)))
        rows = rows[~done]
        back *= 2
    return out


def _reopen_points(step: timedelta, config: FindingsConfig) -> int:
    """Runs closer than this many points are one anomaly (a recurrence reopens it)."""
    return max(max(1, round(config.recovery / step)), round(config.reopen_within / step))


def _rows_of(d: Decisions, rows: npt.NDArray[np.intp]) -> Decisions:
    return Decisions(exceed=d.exceed[rows], fire=d.fire[rows], trend=d.trend[rows],
                     surge=d.surge[rows], baseline=d.baseline[rows], spread=d.spread[rows],
                     spread_mean=d.spread_mean[rows], surprise=d.surprise[rows])


def _scores(batch: SeriesBatch, rows: npt.NDArray[np.intp]) -> FloatArray:
    """The existing scorer on the chosen series only: it is ~100× slower than the guards."""
    slots = daily_slots(batch.times.as_unit("ns").asi8.astype("datetime64[ns]"))
    directions = [direction_of(batch.keys[r].signal) for r in rows]
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
    return format_utc(pd.Timestamp(t).to_pydatetime())


def _series_anomalies(
    batch: SeriesBatch, row: int, d: Decisions, first: int, score: FloatArray,
    slos: Mapping[str, SLO], config: FindingsConfig, active_from: int = 0,
) -> list[Anomaly]:
    """The anomalies of a row whose runs reach column ``active_from`` of the decision."""
    step = batch.step
    recovery = max(1, round(config.recovery / step))
    reopen = _reopen_points(step, config)
    out = []
    for flags, is_surge in ((d.fire[row] | d.trend[row], False), (d.surge[row], True)):
        for a, b in _runs(flags, reopen):
            if b < active_from:
                continue  # over before the window
            out.append(_anomaly(batch, row, d, first, score, a, b, is_surge, recovery, slos,
                                config))
    return [a for a in out if a is not None]


def _anomaly(
    batch: SeriesBatch, row: int, d: Decisions, first: int, score: FloatArray, a: int, b: int,
    is_surge: bool, recovery: int, slos: Mapping[str, SLO], config: FindingsConfig,
) -> Anomaly | None:
    key = batch.keys[row]
    times = batch.times
    last_col = d.fire.shape[1] - 1
    # The onset: the first exceeding point of the window that fired, or the scorer's pick.
    lo = max(0, a - config.persistence(batch.step)[1] + 1)
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
        back = round((config.trend_days - 0.5) * DAY / batch.step)
        onset_col = max(0, first + a + int(trend_cols[0]) - back)
    ended = b + recovery <= last_col
    end = times[first + b].to_pydatetime() if ended else None
    sl = slice(first + a, first + b + 1)
    x = batch.values[row, sl]
    base = d.baseline[row, a : b + 1]
    spread = d.spread[row, a : b + 1]
    sign = -1.0 if direction_of(key.signal) is Direction.DOWN and not is_surge else 1.0
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
    value, baseline = float(x[worst]), float(base[worst])
    m = max(1, round(config.persist_step / batch.step))
    if m > 1:
        # The distance that sets the severity is the means' over ``persist_step`` (with
        # their own spread), as at that step: single minutes are noisier.
        lo = max(0, first + a - m + 1)
        means = pd.Series(batch.values[row, lo : first + b + 1]).rolling(
            m, min_periods=1).mean().to_numpy()[-(b - a + 1):]
        with np.errstate(invalid="ignore", divide="ignore"):
            zm = sign * (means - base) / d.spread_mean[row, a : b + 1]
        if np.isfinite(zm).any():
            z = max(z, float(np.nanmax(zm)))
            # The figure shown is the worst mean over ``persist_step``, as the severity's:
            # a single minute's p95 of a quiet endpoint reads several times its level.
            # (The worst point stays the peak: the evidence is read around it.)
            k = int(np.nanargmax(zm))
            value, baseline = float(means[k]), float(base[k])
    slo_severity, slo_text, burn_window = slo_standing(batch, row, key, first + a, first + b,
                                                       slos)
    severity = Severity.INFO if is_surge else severity_of(z, slo_severity, config)
    return Anomaly(
        key=key, change=change, start=times[onset_col].to_pydatetime(),
        fired_at=times[first + a].to_pydatetime(), end=end,
        peak_at=times[first + a + worst].to_pydatetime(), value=value,
        baseline=baseline, z=z, onset_score=onset_score, severity=severity,
        slo=slo_text, burn_window=burn_window,
        chart=_chart(batch, row, d, first, onset_col, first + b),
    )


def _chart(
    batch: SeriesBatch, row: int, d: Decisions, first: int, onset: int, last: int
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
    band = np.nan_to_num(3 * spread)  # no spread known (no earlier day): no band
    return ChartData(
        times=[t.to_pydatetime() for t in batch.times[cols]],
        values=[float(v) for v in batch.values[row, cols]],
        baseline=[float(v) for v in base],
        low=[float(v) for v in np.maximum(base - band, 0)],
        high=[float(v) for v in base + band],
    )


