"""The per-point decision, vectorised: guards against the baseline, persistence, trend."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from bot.analytics.anomaly.batch import score_batch
from bot.analytics.anomaly.config import DEFAULT_CONFIG, Direction
from bot.analytics.anomaly.slots import daily_slots
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
    spread_mean: FloatArray  # of the means over ``persist_step`` (= spread at that step)
    surprise: FloatArray  # the scorer's score where the tier's guards pass (0: elsewhere)


def decide(
    batch: SeriesBatch, config: FindingsConfig = DEFAULT_FINDINGS, first: int = 0,
    cache: BaselineCache | None = None, budgets: FloatArray | None = None,
    days_from_start: bool = False, surprise: FloatArray | None = None,
) -> Decisions:
    """The guarded, persistent decision at each column from ``first`` on; causal.

    ``budgets``: per series, the error ratio its SLO allows (NaN: none); an error ratio
    burning it ``fast_burn`` times over both fast-burn windows fires at once.

    The spread's days are counted back from the last column (a live cycle's days end now);
    ``days_from_start`` counts them from the first column instead, so that a replay over a
    whole history in one call decides each column as a shorter history would (NAB).

    ``surprise``: the anomaly scorer's score at every column of the batch, for the surprise
    tier (``config.surprise_alarm``); when the tier is on and none is given, it is scored here
    over ``surprise_context`` before ``first`` (:func:`surprise_scores`), only for the series
    with a point past the tier's other guards (the others' scores would go unread)."""
    judged = first  # ``first`` is re-based on the columns kept below
    per_day = max(1, round(DAY / batch.step))
    persist_k, persist_n = config.persistence(batch.step)
    burn_rows = round(config.fast_burn_windows[1] / batch.step)
    # Only the columns the baselines and the trend can reach back to.
    reach = max(config.baseline_days, 7 * config.baseline_weeks) + config.baseline_days
    offset = max(0, first - max((reach + config.trend_days + 1) * per_day,
                                persist_n + burn_rows))
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
    # An error ratio's noise is mostly counting noise, larger where there are fewer
    # requests (at night, in a minute): its residuals are measured in units of the counting
    # noise of the errors expected (at least one), sqrt(count) / requests, so the spread
    # follows the traffic; where there are no requests, in the ratio's own unit.
    is_err = np.array([k.signal is Signal.ERROR_RATIO for k in batch.keys])[:, None]
    err = np.flatnonzero(is_err[:, 0])  # only these rows: the others keep their unit
    resid = np.abs(xs - base)
    with np.errstate(invalid="ignore", divide="ignore"):
        req_e = batch.requests[err, offset + head :]
        counting = np.sqrt(np.maximum(np.abs(base[err]) * req_e, 1.0)) / req_e
    counted = (req_e > 0) & np.isfinite(counting)
    scale = np.where(counted, counting, 1.0)
    resid[err] /= scale
    # Daily median absolute residual, per day counted back from the last column.
    cols = xs.shape[1]
    days = -(-cols // per_day)
    lead = 0 if days_from_start else days * per_day - cols  # columns before the first day
    padded = np.full((n_series, days * per_day), np.nan)
    padded[:, lead : lead + cols] = resid
    daily = nan_median_last(padded.reshape(n_series, days, per_day))
    # Spread at a column: the median of the previous complete days' medians (causal).
    day_of_col = (np.arange(cols) + lead) // per_day
    earlier = np.full((n_series, days, config.baseline_days), np.nan)
    for k in range(1, min(config.baseline_days, days - 1) + 1):  # short histories: fewer
        earlier[:, k:, k - 1] = daily[:, : days - k]
    spread_day = nan_median_last(earlier) * _MAD_TO_SIGMA
    # The rest only from where the persistence of column ``first`` starts looking back.
    cut = first - head
    g = max(0, cut - persist_n)
    base_g, xs = base[:, g:], xs[:, g:]
    spread = spread_day[:, day_of_col[g:]]
    # In counting-noise units an error ratio's spread is at least 1 (pure counting noise):
    # mostly-zero minutes give a median residual of 0.
    overdispersion = np.fmax(spread[err], 1.0)  # of the counted points: spread in units
    spread[err] = np.where(counted[:, g:], overdispersion, spread[err]) * scale[:, g:]
    spread = np.maximum(spread, 0.01 * np.abs(base_g))
    requests = batch.requests[:, offset + head + g :]
    spread = np.where(spread > 0, spread, np.nan)

    sign = np.array([1.0 if direction_of(k.signal) is not Direction.DOWN else -1.0
                     for k in batch.keys])[:, None]
    min_abs = np.array([config.guards[k.signal].min_abs for k in batch.keys])[:, None]
    min_rel = np.array([config.guards[k.signal].min_rel for k in batch.keys])[:, None]
    zmin = np.array([config.guards[k.signal].z for k in batch.keys])[:, None]
    is_thru = np.array([k.signal is Signal.THROUGHPUT for k in batch.keys])[:, None]
    step_s = batch.step.total_seconds()

    guards = _Guards(sign=sign, min_abs=min_abs, min_rel=min_rel, zmin=zmin, is_thru=is_thru,
                     is_err=is_err, step_s=step_s, config=config)
    exceed, excess, enough = guards.check(xs, base_g, spread, requests)
    # At a step finer than the persistence's, the full persistence judges the means over
    # ``persist_step`` (as a read at that step would see them: a mild change hides in the
    # noise of single minutes); far-out points are judged one by one (``fast``).
    m = max(1, round(config.persist_step / batch.step))
    slow = exceed
    spread_mean = spread
    if m > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            have = rolling_sum(np.isfinite(xs).astype(float), m)
            xm = np.where(have > 0, rolling_sum(xs, m) / have, np.nan)
            bm = rolling_sum(base_g, m) / np.maximum(rolling_sum(
                np.isfinite(base_g).astype(float), m), 1)
            rm = np.where(np.isnan(requests), np.nan, rolling_sum(requests, m))
            # A mean's spread: sqrt(m) times smaller; an error ratio's, the counting noise
            # of the m points' requests together (at least one error in all of them).
            spread_mean = spread / np.sqrt(m)
            rm_e = rm[err]
            counting_m = np.sqrt(np.maximum(np.abs(bm[err]) * rm_e, 1.0)) / rm_e
            spread_mean[err] = np.where(counted[:, g:] & (rm_e > 0),
                                        overdispersion * counting_m, spread_mean[err])
            spread_mean = np.maximum(spread_mean, 0.01 * np.abs(bm))
            slow, _, _ = _Guards(sign=sign, min_abs=min_abs, min_rel=min_rel, zmin=zmin,
                                 is_thru=is_thru, is_err=is_err, step_s=step_s * m,
                                 config=config).check(xm, bm, spread_mean, rm)
    with np.errstate(invalid="ignore", divide="ignore"):
        rise = xs - base_g
        surge = is_thru & (rise > min_abs) & (rise > config.surge_rel * np.abs(base_g)) & (
            rise / spread > zmin) & (requests >= config.min_requests)
    fire = persistent(exceed, excess, batch.step, config, slow)
    exceed = exceed | slow
    seen = np.zeros(xs.shape)  # the tier's view of the scorer
    keep = cut - g
    if surprise is not None or config.surprise_alarm is not None:
        # The surprise tier: the scorer's score where the point moved the way that hurts by
        # the signal's minimum change, with enough traffic (every guard but the z).
        with np.errstate(invalid="ignore"):
            delta = sign * (xs - base_g)
            moved = (delta > min_abs) & (delta > min_rel * np.abs(base_g)) & enough
        if surprise is None:
            # The scorer works per series and costs ~100× the guards: only where a judged
            # point moved is its score read.
            surprise = surprise_scores(batch, config, judged, moved[:, keep:])
        seen = np.where(moved, np.nan_to_num(surprise[:, offset + head + g :]), 0.0)
        if config.surprise_alarm is not None:
            surprising = seen >= config.surprise_alarm
            fire |= surprising
            exceed |= surprising
    if err.size:
        # An error ratio's z in a minute is a Gaussian reading of a small count: its tail
        # probability says how far outside the counting noise the last points are.
        tier, within = counting_tier(xs[err], requests[err], base_g[err], overdispersion,
                                     min_abs[err], min_rel[err], batch.step, config)
        fire[err] |= tier
        exceed[err] |= within
    if budgets is not None:
        fire |= fast_burn(x, batch.requests[:, offset:], budgets, batch.step, config,
                          head + g) & enough
    surge_fire = (rolling_sum(surge.astype(float), persist_n) >= persist_k) & surge
    # The trend needs trend_days + 1 days before the first column it judges, no more.
    lead = max(0, first - (config.trend_days + 1) * per_day)
    trend = _trend(x[:, lead:], per_day, sign, batch.keys, config, first - lead)

    return Decisions(
        exceed=exceed[:, keep:], fire=fire[:, keep:], trend=trend,
        surge=surge_fire[:, keep:], baseline=base[:, cut:], spread=spread[:, keep:],
        spread_mean=spread_mean[:, keep:], surprise=seen[:, keep:],
    )


def surprise_scores(
    batch: SeriesBatch, config: FindingsConfig, first: int,
    needed: BoolArray | None = None,
) -> FloatArray:
    """The anomaly scorer's score of every series (in its signal's direction, with a daily
    profile) at the columns from ``first`` (0 before). A column's score is the scorer's when
    it starts reading at the last multiple of ``surprise_context`` (UTC, since the epoch) at
    least ``surprise_context`` before the column: anchored to the clock, not to the read, so
    that the cycles of a day and one call over all of them (a replay) score every column
    alike, each from one to two contexts of history. One ``score_batch`` per anchor.

    ``needed`` (series × columns from ``first``): the scores that will be read; a series is
    scored over an anchor's columns only if one of them is needed there (0 otherwise). The
    scorer reads each series alone, so the scores it gives are those of scoring all."""
    out = np.zeros(batch.values.shape)
    n = batch.values.shape[1]
    if first >= n or not batch.keys:
        return out
    times = batch.times.as_unit("ns").asi8
    context = round(config.surprise_context.total_seconds() * 1e9)
    anchors = (times[first:] - context) // context * context
    detector = DEFAULT_CONFIG.model_copy(
        update={"novelty_sigmas": config.surprise_novelty_sigmas})
    directions = [direction_of(k.signal) for k in batch.keys]
    for anchor in np.unique(anchors):
        cols = first + np.flatnonzero(anchors == anchor)  # contiguous: times increase
        rows = np.arange(len(batch.keys)) if needed is None else np.flatnonzero(
            needed[:, cols - first].any(axis=1))
        if rows.size == 0:
            continue
        start, end = int(np.searchsorted(times, anchor, side="left")), int(cols[-1]) + 1
        values = batch.values[rows, start:end]
        row_directions = [directions[r] for r in rows]
        slots = daily_slots(times[start:end].astype("datetime64[ns]"))
        if slots is None:
            scores = score_batch(values, detector, row_directions)
        else:
            grid = np.broadcast_to(slots.slots, values.shape)
            scores = score_batch(values, detector, row_directions, grid, slots.count)
        out[np.ix_(rows, cols)] = scores[:, cols - start]
    return out


@dataclass(frozen=True)
class _Guards:
    """The guards per series (columns of one), for points or for means of points."""

    sign: FloatArray
    min_abs: FloatArray
    min_rel: FloatArray
    zmin: FloatArray
    is_thru: BoolArray
    is_err: BoolArray
    step_s: float  # seconds a point covers
    config: FindingsConfig

    def check(
        self, xs: FloatArray, base: FloatArray, spread: FloatArray, requests: FloatArray
    ) -> tuple[BoolArray, FloatArray, BoolArray]:
        """(exceed, excess, enough traffic) at each point."""
        c = self.config
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = self.sign * (xs - base)
            z = delta / spread
            guarded = ((z > self.zmin) & (delta > self.min_abs)
                       & (delta > self.min_rel * np.abs(base)))
            # Traffic: the point's own requests; for drops the expected ones (base × step).
            traffic = np.where(self.is_thru, base * self.step_s, requests)
            enough = np.where(np.isnan(requests) & ~self.is_thru, True,
                              traffic >= c.min_requests)
            enough &= np.where(self.is_err, xs * requests >= c.min_errors, True)
            # How far outside: the smaller of the z and the relative change over their guards.
            excess = np.minimum(z / self.zmin, delta / (self.min_rel * np.abs(base)))
        return guarded & enough, excess, enough


def persistent(
    exceed: BoolArray, excess: FloatArray, step: timedelta, config: FindingsConfig,
    slow: BoolArray | None = None,
) -> BoolArray:
    """Exceeding points that persisted: ``persist_k`` of ``persist_n`` (scaled to the step;
    judged on ``slow``, the means over ``persist_step``, when given), or, for points far
    outside the baseline, every point of a shorter span (``fast``)."""
    k, n = config.persistence(step)
    slow = exceed if slow is None else slow
    fire = (rolling_sum(slow.astype(float), n) >= k) & slow
    with np.errstate(invalid="ignore"):
        for tier in config.fast:
            m = max(2, round(tier.span / step))
            strong = exceed & (excess >= tier.excess)
            fire |= (rolling_sum(strong.astype(float), m) >= m) & exceed
    return fire


def counting_tier(
    x: FloatArray, requests: FloatArray, base: FloatArray, overdispersion: FloatArray,
    min_abs: FloatArray, min_rel: FloatArray, step: timedelta, config: FindingsConfig,
) -> tuple[BoolArray, BoolArray]:
    """Error ratios (rows of one) whose errors over the last points (1 up to ``count_span``)
    a Poisson count around the baseline reaches with probability ``count_tail`` or less:
    (fires at the window's last point, the points of the windows that fired).

    The tail is the Chernoff bound of a Poisson count of mean μ (the baseline's errors, at
    least one: a baseline of 0 is no certainty) reaching k, -ln P ≥ k ln(k/μ) - k + μ,
    divided by the overdispersion squared (quasi-Poisson), so it never overstates the
    surprise. The window's ratio must still clear ``min_abs`` and ``min_rel``, its traffic
    ``min_requests`` and ``min_errors``, and its last point be above its expected errors."""
    errors = np.nan_to_num(x * requests)
    expected = np.nan_to_num(base * requests)
    total = np.nan_to_num(requests)
    above = errors > expected
    need = -math.log(config.count_tail)
    fire = np.zeros(x.shape, dtype=bool)
    within = np.zeros(x.shape, dtype=bool)
    for w in range(1, max(1, round(config.count_span / step)) + 1):
        k = rolling_sum(errors, w)
        mu_raw = rolling_sum(expected, w)
        r = rolling_sum(total, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = (k - mu_raw) / r  # the window's ratio over the baseline's
            hit = ((delta > min_abs) & (delta * r > min_rel * mu_raw)
                   & (r >= config.min_requests) & (k >= config.min_errors) & above)
        # The tail only where the guards pass (few points: the logarithm is the cost).
        at = np.nonzero(hit)
        kk, mu = k[at], np.maximum(mu_raw[at], 1.0)
        surprise = np.where(kk > mu, kk * np.log(kk / mu) - kk + mu, 0.0)
        hit[at] = surprise / overdispersion[at] ** 2 >= need
        fire |= hit
        for j in range(w):  # the window's points: the onset is its first
            within[:, : x.shape[1] - j] |= hit[:, j:]
    return fire, within & above


def fast_burn(
    x: FloatArray, requests: FloatArray, budgets: FloatArray, step: timedelta,
    config: FindingsConfig, first: int = 0,
) -> BoolArray:
    """The SRE workbook's page: the error ratio over both fast-burn windows (5m and 1h) is
    ``fast_burn`` times the error budget or more, at columns ``first:``. Rows without a budget
    (NaN) never fire."""
    out = np.zeros((x.shape[0], x.shape[1] - first), dtype=bool)
    rows = np.flatnonzero(np.isfinite(budgets) & (budgets > 0))
    if rows.size == 0:
        return out
    errors = np.nan_to_num(x[rows] * requests[rows])
    total = np.nan_to_num(requests[rows])
    hit = np.ones((rows.size, x.shape[1] - first), dtype=bool)
    for window in config.fast_burn_windows:
        # At least one point: a window shorter than the step is the step.
        points = max(1, round(window / step))
        e = rolling_sum(errors, points)[:, first:]
        r = rolling_sum(total, points)[:, first:]
        with np.errstate(invalid="ignore", divide="ignore"):
            hit &= (r > 0) & (e / r >= config.fast_burn * budgets[rows, None])
    out[rows] = hit
    return out


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


