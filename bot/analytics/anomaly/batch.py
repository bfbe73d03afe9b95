"""The batch form: every series (row) at every time (column) at once, vectorised along time."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.analytics.anomaly.config import DEFAULT_CONFIG, DetectorConfig, Direction
from bot.analytics.anomaly.slots import EMPTY_SLOT, check_slots, daily_slots
from bot.analytics.anomaly.surprise import (
    MAD_TO_SIGMA,
    TINY,
    Errors,
    direction_signs,
    novel,
    tail_excess,
    tail_fit,
    tail_surprise,
    three_tests,
    to_score,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _ew_sum(x: FloatArray, decay: float) -> FloatArray:
    """``y[t] = decay * y[t-1] + x[t]`` along axis 1 from ``y[-1] = 0``, with no loop over t.

    Within a block ``y`` is a cumulative sum of ``x[k] / decay**k`` scaled back by
    ``decay**t``; blocks are short enough for ``decay**-k`` to stay finite, and each carries
    the previous block's last value in.
    """
    n_series, n = x.shape
    out = np.empty((n_series, n))
    rate = -math.log(decay)
    block = max(1, min(n, int(300.0 / rate)))  # decay**-k stays below e**300
    offsets = np.arange(block)
    grow = np.exp(rate * offsets)
    carried = np.exp(-rate * (offsets + 1.0))
    carry = np.zeros(n_series)
    for start in range(0, n, block):
        width = min(block, n - start)
        y = np.cumsum(x[:, start : start + width] * grow[:width], axis=1) / grow[:width]
        y += carry[:, None] * carried[:width]
        out[:, start : start + width] = y
        carry = y[:, -1]
    return out


def _lag(a: FloatArray, rows: int = 1, fill: float = np.nan) -> FloatArray:
    """``a`` delayed along axis 1: row t holds row t - rows."""
    out = np.full(a.shape, fill)
    if rows < a.shape[1]:
        out[:, rows:] = a[:, : a.shape[1] - rows]
    return out


def _ew_mean(values: FloatArray, alpha: float) -> FloatArray:
    """Gap-aware EW mean of the finite ``values`` up to and including each row (NaN: none)."""
    ok = np.isfinite(values)
    decay = 1.0 - alpha
    num = _ew_sum(np.where(ok, values, 0.0), decay)
    den = _ew_sum(ok.astype(float), decay)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _last_before(values: FloatArray) -> FloatArray:
    """The last finite value strictly before each row (NaN: none yet)."""
    n = values.shape[1]
    index = np.where(np.isfinite(values), np.arange(n), -1)
    last = np.maximum.accumulate(index, axis=1)
    found = np.take_along_axis(values, np.maximum(last, 0), axis=1)
    return _lag(np.where(last >= 0, found, np.nan))


def _window_mean(values: FloatArray, rows: int) -> FloatArray:
    """Mean of the finite values among the last ``rows`` rows; NaN when under half are finite."""
    ok = np.isfinite(values)
    # Centred on each series' first value so the cumulative sums stay small.
    centre = np.take_along_axis(values, np.argmax(ok, axis=1)[:, None], axis=1)
    centre = np.nan_to_num(centre)
    sums = np.cumsum(np.where(ok, values - centre, 0.0), axis=1)
    counts = np.cumsum(ok, axis=1).astype(float)
    in_window = counts - _lag(counts, rows, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums - _lag(sums, rows, 0.0)) / in_window + centre
    return np.where(in_window * 2 >= rows, mean, np.nan)


def _max_before(values: FloatArray, rows: int) -> FloatArray:
    """Maximum of the ``rows`` rows before each row, in O(n) (van Herk / Gil-Werman)."""
    n_series, n = values.shape
    padded = np.full((n_series, -(-(n + rows) // rows) * rows), -np.inf)
    padded[:, rows : rows + n] = values  # the window before row t is padded[t : t + rows]
    blocks = padded.reshape(n_series, -1, rows)
    prefix = np.maximum.accumulate(blocks, axis=2).reshape(n_series, -1)
    suffix = np.maximum.accumulate(blocks[:, :, ::-1], axis=2)[:, :, ::-1].reshape(n_series, -1)
    first = np.arange(n)
    return np.maximum(suffix[:, first], prefix[:, first + rows - 1])


def _profile_prediction(values: FloatArray, slots: IntArray, alpha: float) -> FloatArray:
    """For each row, the EW mean of the earlier rows in its slot (NaN: none yet).

    Rows are sorted by slot (stably, so time order holds within a slot); one EW pass runs over
    the sorted rows and each slot's rows subtract what leaked in from the slot before.
    """
    n_series, n = values.shape
    order = np.argsort(slots, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    ordered_slots = np.take_along_axis(slots, order, axis=1)
    ok = np.isfinite(ordered)
    decay = 1.0 - alpha
    num = _ew_sum(np.where(ok, ordered, 0.0), decay)
    den = _ew_sum(ok.astype(float), decay)
    starts = np.ones((n_series, n), dtype=bool)
    starts[:, 1:] = ordered_slots[:, 1:] != ordered_slots[:, :-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0), axis=1)
    leak = decay ** (np.arange(n) - first + 1.0)
    before = np.maximum(first - 1, 0)
    num -= np.where(first > 0, leak * np.take_along_axis(num, before, axis=1), 0.0)
    den -= np.where(first > 0, leak * np.take_along_axis(den, before, axis=1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(den > EMPTY_SLOT, num / den, np.nan)
    prediction = _lag(mean)
    prediction[starts] = np.nan
    out = np.empty((n_series, n))
    np.put_along_axis(out, order, prediction, axis=1)
    return out


def _calibrated(z: FloatArray, fitted: FloatArray, config: DetectorConfig) -> FloatArray:
    """Surprise of each test value ``z`` under a tail fitted on the earlier ``fitted`` values."""
    above, log_excess = tail_excess(fitted, config.tail_threshold)
    decay = 1.0 - config.tail_alpha
    seen = _lag(_ew_sum(np.isfinite(fitted).astype(float), decay), 1, 0.0)
    exceeded = _lag(_ew_sum(above.astype(float), decay), 1, 0.0)
    excess = _lag(_ew_sum(log_excess, decay), 1, 0.0)
    rate, mean_excess = tail_fit(seen, exceeded, excess, config)
    return tail_surprise(z, rate, mean_excess, config.tail_threshold)


def _errors(err: FloatArray, shift: FloatArray, config: DetectorConfig) -> Errors:
    a = config.level_alpha
    diff = err - _last_before(err)
    return Errors(
        err=err,
        mad=_lag(_ew_mean(np.abs(err), a)) * MAD_TO_SIGMA,
        diff=diff,
        dmad=_lag(_ew_mean(np.abs(diff), a)) * MAD_TO_SIGMA,
        shift=shift,
        # As it stood before the window began, so that a shift cannot hide itself.
        smad=_lag(_ew_mean(np.abs(shift), config.shift_alpha), config.shift_window) * MAD_TO_SIGMA,
    )


def score_batch(
    values: npt.ArrayLike,
    config: DetectorConfig = DEFAULT_CONFIG,
    directions: Sequence[Direction | str] | None = None,
    slots: npt.ArrayLike | None = None,
    slots_per_day: int | None = None,
) -> FloatArray:
    """Anomaly scores in [0, 1] for every series (row) at every time (column), causally.

    Missing values (NaN, ±inf) score 0; series of different lengths may be padded with NaN.
    ``slots`` (same shape as ``values``, each below ``slots_per_day``; see
    :func:`daily_slots`) enable the daily profile.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array (series × time), got {x.ndim} dimension(s)")
    x = np.where(np.isfinite(x), x, np.nan)
    n_series, n = x.shape
    sign = direction_signs(directions, n_series, config)[:, None]
    if n == 0 or n_series == 0:
        return np.zeros((n_series, n))
    k = config.shift_window

    level_after = _ew_mean(x, config.level_alpha)  # includes the row itself
    level = _lag(level_after)
    floor = config.spread_floor * np.abs(np.nan_to_num(level)) + TINY
    on_level = _errors(x - level, _window_mean(x, k) - _lag(level_after, k), config)
    chosen = on_level
    if slots is not None:
        slot, per_day = check_slots(slots, x.shape, slots_per_day)
        err = x - _profile_prediction(x, slot, config.seasonal_alpha)
        on_profile = _errors(err, _window_mean(err, k), config)
        seen = _lag(np.cumsum(np.isfinite(err), axis=1).astype(float), 1, 0.0)
        use = (
            (seen >= config.seasonal_min_days * per_day)
            & np.isfinite(on_profile.mad)
            & (on_profile.mad < config.seasonal_gain * on_level.mad)
        )
        chosen = on_profile.where(use, on_level)

    tests = three_tests(chosen, sign, floor)
    surprise = np.max([_calibrated(z, fitted, config) for z, fitted in tests], axis=0)
    if config.novelty_margin is not None:
        high = _lag(np.fmax.accumulate(x, axis=1))
        low = _lag(np.fmin.accumulate(x, axis=1))
        is_novel = novel(
            x, high, low, sign, config.novelty_margin, chosen.mad, config.novelty_sigmas
        )
        surprise = np.where(is_novel, surprise + config.novelty_nats, surprise)
    ok = np.isfinite(x)
    seen_valid = _lag(np.cumsum(ok, axis=1).astype(float), 1, 0.0)
    surprise = np.where(ok & (seen_valid >= config.warmup), surprise, 0.0)
    if config.hold_rows:
        surprise = np.where(surprise > _max_before(surprise, config.hold_rows), surprise, 0.0)
    return to_score(surprise, config)


def score_series(
    values: npt.ArrayLike,
    timestamps: npt.ArrayLike | None = None,
    config: DetectorConfig = DEFAULT_CONFIG,
    direction: Direction | str | None = None,
) -> FloatArray:
    """Anomaly scores in [0, 1] for one series; timestamps, when given, enable the daily profile."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D series, got {x.ndim} dimension(s)")
    slots = None
    if timestamps is not None:
        ts = np.asarray(timestamps)
        if ts.shape != x.shape:
            raise ValueError(f"{ts.size} timestamps for {x.size} values")
        slots = daily_slots(ts)
    scores = score_batch(
        x[None, :],
        config,
        [direction or config.direction],
        None if slots is None else slots.slots[None, :],
        None if slots is None else slots.count,
    )
    first: FloatArray = scores[0]
    return first


