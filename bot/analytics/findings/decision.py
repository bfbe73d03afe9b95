"""The per-point decision, vectorised: guards against the baseline, persistence, trend."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.analytics.anomaly.config import Direction
from bot.analytics.findings.baseline import BaselineCache, nan_median_last, seasonal_baseline
from bot.analytics.findings.model import (
    DAY,
    DEFAULT_FINDINGS,
    FindingsConfig,
    SeriesBatch,
    SeriesKey,
    direction_of,
)
from bot.metrics.base import Signal

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_MAD_TO_SIGMA = 1.4826  # median absolute deviation × this = standard deviation (Gaussian)


def rolling_sum(a: FloatArray, rows: int) -> FloatArray:
    """Sum of the last ``rows`` columns up to each column (NaN counted as 0)."""
    c = np.cumsum(np.nan_to_num(a), axis=1)
    out = c.copy()
    if rows < a.shape[1]:
        out[:, rows:] -= c[:, :-rows]
    return out


@dataclass(frozen=True)
class Decisions:
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
) -> Decisions:
    """The guarded, persistent decision at each column from ``first`` on; causal."""
    per_day = max(1, round(DAY / batch.step))
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
    daily = nan_median_last(padded.reshape(n_series, days, per_day))
    # Spread at a column: the median of the previous complete days' medians (causal).
    day_of_col = (np.arange(cols) + days * per_day - cols) // per_day
    earlier = np.full((n_series, days, config.baseline_days), np.nan)
    for k in range(1, min(config.baseline_days, days - 1) + 1):  # short histories: fewer
        earlier[:, k:, k - 1] = daily[:, : days - k]
    spread_day = nan_median_last(earlier) * _MAD_TO_SIGMA
    # The rest only from where the persistence of column ``first`` starts looking back.
    cut = first - head
    g = max(0, cut - config.persist_n)
    base_g, xs = base[:, g:], xs[:, g:]
    spread = spread_day[:, day_of_col[g:]]
    spread = np.maximum(spread, 0.01 * np.abs(base_g))
    spread = np.where(spread > 0, spread, np.nan)

    sign = np.array([1.0 if direction_of(k.signal) is not Direction.DOWN else -1.0
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
    fire = rolling_sum(exceed.astype(float), config.persist_n) >= config.persist_k
    fire &= exceed
    surge_fire = (rolling_sum(surge.astype(float), config.persist_n) >= config.persist_k) & surge
    # The trend needs trend_days + 1 days before the first column it judges, no more.
    lead = max(0, first - (config.trend_days + 1) * per_day)
    trend = _trend(x[:, lead:], per_day, sign, batch.keys, config, first - lead)

    keep = cut - g
    return Decisions(
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
    count = rolling_sum(ok.astype(float), per_day)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= 0.8 * per_day, rolling_sum(x, per_day) / count, np.nan)
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


