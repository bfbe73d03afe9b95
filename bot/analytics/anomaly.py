"""Causal anomaly scores for many time series at once, in plain numpy.

A row is scored from itself and the rows before it, never from later ones. Three forms give
the same numbers (to rounding):

- :func:`score_series`: one series, optionally with timestamps (which enable a daily profile);
- :func:`score_batch`: a 2-D array (series × time), vectorised along both axes;
- :class:`DetectorState` with :func:`update`: one new value per series per tick.

How a row is scored. Every step is a linear recursive filter, a cumulative sum or a running
extreme, which is why the batch form needs no Python loop over time.

1. **Two baselines predict each value**: an exponentially weighted (EW) level and, when the
   time of day is known, a daily profile (an EW mean per time-of-day slot over past days). The
   profile takes over only while its recent errors are well below the level's, so series with
   no daily rhythm, or too little history, stay on the level.
2. **Three tests** compare the data with that prediction, each in units of its own EW mean
   absolute error: the *point* error (spikes), the *change* of the error since the previous row
   (jumps in smooth series) and the *shift*: the mean of the last ``shift_window`` rows against
   the baseline as it stood before them (level shifts too small to show in one point). A
   direction keeps only rises (latency, error ratio) or only falls (throughput). A return
   towards the baseline (the end of a dip or a spike) is never a jump.
3. **Each test is calibrated per series**. Its earlier values give an EW estimate of how often
   it exceeds ``tail_threshold`` and how heavy its tail is beyond (a Hill estimator, shrunk
   towards a prior), turning the test into a surprise ``S = -ln P(a value this extreme)``: a
   series whose errors are often large (tweet counts) needs a far larger error to surprise.
   The fit keeps learning during an incident, so a sustained change scores highest at its onset
   and fades as it persists: the detector reports changes, not states.
4. **The surprise of a row** is the largest of the three. It is zero during the warm-up and, so
   that one incident raises one alarm, zero unless it beats every surprise of the previous
   ``hold_rows`` rows.
5. **The score** is ``S / (S + score_half)``: 0.5 means odds of about ``e^-score_half``.

Missing values (NaN or ±inf) score zero and leave every baseline and scale where it was: each
EW mean is kept as a pair of sums (weighted values, weights) that a missing row decays alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from bot.metrics.base import Signal

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Mean absolute deviation × this = standard deviation, for Gaussian noise.
_MAD_TO_SIGMA = math.sqrt(math.pi / 2)
_DAY_SECONDS = 86_400
_MAX_DAILY_SLOTS = 1_440  # a profile finer than a slot a minute learns nothing more
_MAX_TEST = 1e300  # a deviation from a constant series: huge, but finite
_MAX_SURPRISE = 1e6
_TINY = 1e-300
_EMPTY_SLOT = 1e-12  # profile weight below which a time-of-day slot counts as never seen


class Direction(StrEnum):
    """Which deviations count: rises only (latency, error ratio), falls only (throughput), both."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


class DetectorConfig(BaseModel):
    """Every parameter of the detector; one configuration serves every series.

    Defaults were chosen on the Numenta Anomaly Benchmark (58 series of 1k-23k rows at
    5-minute to 1-hour steps; ``benchmarks/nab.py``). Windows count rows, so they scale with
    the step.
    """

    model_config = ConfigDict(frozen=True)

    level_alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Weight of the newest row in the EW level and every EW error scale: a memory "
        "of ~100 rows, steady under a spike yet following drift.",
    )
    seasonal_alpha: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Weight of the newest day in each time-of-day slot: about five days of "
        "memory, so a changed routine is learnt within a week.",
    )
    seasonal_gain: float = Field(
        0.5,
        gt=0,
        description="The daily profile replaces the level only while its EW error is below this "
        "fraction of the level's: a marginal gain is not worth the profile's own noise.",
    )
    seasonal_min_days: int = Field(
        1,
        ge=1,
        description="Days of profile errors needed before the profile may be used (so at least "
        "two days of history).",
    )
    shift_window: int = Field(
        80,
        ge=2,
        description="Rows averaged by the shift test: long enough for a small sustained shift to "
        "stand out of the noise, short enough to report it within hours at a 5-minute step.",
    )
    shift_alpha: float = Field(
        0.001,
        gt=0,
        lt=1,
        description="Weight of the newest row in the shift test's scale: its values are strongly "
        "autocorrelated, so the scale needs a memory of many windows.",
    )
    tail_threshold: float = Field(
        3.0,
        gt=0,
        description="Test value (in EW error units, ≈ sigmas) above which the tail is fitted.",
    )
    tail_alpha: float = Field(
        0.0003,
        gt=0,
        lt=1,
        description="Weight of the newest row in the tail fit: ~3,000 rows, since values above "
        "the threshold are rare and the fit needs dozens of them.",
    )
    tail_prior_rows: float = Field(
        500.0,
        gt=0,
        description="Weight, in rows, of the prior tail that the fit starts from and is shrunk "
        "towards, so a young series is not judged heavy- or light-tailed on a few points.",
    )
    tail_prior_rate: float = Field(
        0.0027,
        gt=0,
        lt=1,
        description="Prior rate of values above the threshold: Gaussian, two-sided, 3 sigma.",
    )
    tail_prior_log_excess: float = Field(
        0.2,
        gt=0,
        description="Prior mean of ln(value / threshold) above the threshold: a Laplace tail's "
        "(~0.2) rather than a Gaussian's (~0.1), as metrics are heavier-tailed than Gaussian.",
    )
    warmup: int = Field(
        50,
        ge=0,
        description="Valid rows a series needs before it is scored at all.",
    )
    hold_rows: int = Field(
        100,
        ge=0,
        description="A row scores zero unless its surprise beats every surprise of this many "
        "previous rows: one incident, one alarm (0 turns this off).",
    )
    score_half: float = Field(
        7.0,
        gt=0,
        description="Surprise (nats) mapped to a score of 0.5: odds of about 1 in 1,100.",
    )
    spread_floor: float = Field(
        1e-9,
        ge=0,
        description="Smallest error scale, relative to the level: a constant series is not "
        "alarmed by rounding noise, yet any real change of it is.",
    )
    direction: Direction = Field(Direction.BOTH, description="Direction for series given none.")


DEFAULT_CONFIG = DetectorConfig()

# The deviations that hurt, per signal: slower, more errors, busier machines; less traffic.
SIGNAL_DIRECTIONS: dict[Signal, Direction] = {
    Signal.LATENCY: Direction.UP,
    Signal.ERROR_RATIO: Direction.UP,
    Signal.CPU: Direction.UP,
    Signal.MEMORY: Direction.UP,
    Signal.THROUGHPUT: Direction.DOWN,
}


# ----------------------------------------------------------------------------------------
# Time of day


@dataclass(frozen=True)
class DailySlots:
    """The time-of-day slot of every row, for the daily profile."""

    slots: IntArray  # 0 <= slot < count
    count: int  # slots in a day


def daily_slots(timestamps: npt.ArrayLike) -> DailySlots | None:
    """Time-of-day slot (UTC) of each timestamp, or None when a day holds too few rows.

    A slot is as wide as the median step between rows (at least a minute), so a regular series
    visits each slot once a day; irregular, duplicate or missing rows do no harm.
    """
    ts = np.asarray(timestamps)
    if ts.size < 2:
        return None
    seconds = ts.astype("datetime64[s]").astype(np.int64)
    steps = np.diff(seconds)
    steps = steps[steps > 0]
    if steps.size == 0:
        return None
    width = max(int(np.median(steps)), _DAY_SECONDS // _MAX_DAILY_SLOTS)
    count = -(-_DAY_SECONDS // width)
    if count < 6:  # coarser than four-hourly: no daily shape worth learning
        return None
    return DailySlots(slots=((seconds % _DAY_SECONDS) // width).astype(np.int64), count=count)


# ----------------------------------------------------------------------------------------
# Shared by both forms: tests, tail calibration, scores


def _signs(
    directions: Sequence[Direction | str] | None, n_series: int, config: DetectorConfig
) -> FloatArray:
    """+1 (rises), -1 (falls) or 0 (both) per series."""
    if directions is None:
        directions = [config.direction] * n_series
    if len(directions) != n_series:
        raise ValueError(f"{len(directions)} directions given for {n_series} series")
    table = {Direction.UP: 1.0, Direction.DOWN: -1.0, Direction.BOTH: 0.0}
    signs = []
    for d in directions:
        try:
            signs.append(table[Direction(d)])
        except ValueError:
            raise ValueError(f"unknown direction {d!r}: use up, down or both") from None
    return np.array(signs)


def _directed(a: FloatArray, sign: FloatArray) -> FloatArray:
    """Rises (sign +1), falls (-1) or both (0) of ``a``, as non-negative magnitudes."""
    return np.where(
        sign > 0, np.maximum(a, 0.0), np.where(sign < 0, np.maximum(-a, 0.0), np.abs(a))
    )


def _test(deviation: FloatArray, scale: FloatArray, floor: FloatArray) -> FloatArray:
    """A deviation beyond ``floor`` in units of its scale (at least ``floor``); NaN if unknown."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.minimum(np.maximum(deviation - floor, 0.0) / np.maximum(scale, floor), _MAX_TEST)


def _jump(err: FloatArray, diff: FloatArray, sign: FloatArray) -> FloatArray:
    """How much further from the baseline a change took the value (rises, falls or both).

    Measured from the baseline or the previous error, whichever is further out, so a return
    towards the baseline (the end of a dip or a spike) is no jump and never alarms.
    """
    before = err - diff
    rise = np.maximum(err - np.maximum(before, 0.0), 0.0)
    fall = np.maximum(np.minimum(before, 0.0) - err, 0.0)
    jump = np.where(sign > 0, rise, np.where(sign < 0, fall, np.maximum(rise, fall)))
    return np.where(np.isfinite(diff), jump, np.nan)


def _tail_fit(
    seen: FloatArray, exceeded: FloatArray, excess: FloatArray, config: DetectorConfig
) -> tuple[FloatArray, FloatArray]:
    """Exceedance rate and mean log-excess from EW counts, shrunk towards the prior."""
    prior_exceeded = config.tail_prior_rows * config.tail_prior_rate
    rate = (exceeded + prior_exceeded) / (seen + config.tail_prior_rows)
    mean_excess = (excess + prior_exceeded * config.tail_prior_log_excess) / (
        exceeded + prior_exceeded
    )
    return rate, mean_excess


def _surprise(z: FloatArray, rate: FloatArray, mean_excess: FloatArray, u: float) -> FloatArray:
    """``-ln P(test >= z)``: Pareto beyond the threshold ``u``, a smooth rise to it below."""
    tail = -np.log(rate)
    above = tail + np.log(np.maximum(z, u) / u) / mean_excess
    below = tail * (np.minimum(z, u) / u) ** 2
    s = np.where(z > u, above, below)
    return np.where(np.isfinite(z), np.minimum(s, _MAX_SURPRISE), 0.0)


def _log_excess(z: FloatArray, u: float) -> tuple[BoolArray, FloatArray]:
    """Which test values exceed ``u``, and their ln(z / u) (0 elsewhere)."""
    finite = np.isfinite(z)
    zz = np.where(finite, z, 0.0)
    above = zz > u
    return above, np.where(above, np.log(np.maximum(zz, u) / u), 0.0)


def _to_score(surprise: FloatArray, config: DetectorConfig) -> FloatArray:
    return surprise / (surprise + config.score_half)


@dataclass(frozen=True)
class _Errors:
    """One baseline's errors, their changes and window means, each with its scale before."""

    err: FloatArray
    mad: FloatArray
    diff: FloatArray
    dmad: FloatArray
    shift: FloatArray
    smad: FloatArray

    def where(self, use: BoolArray, otherwise: _Errors) -> _Errors:
        """These errors where ``use`` holds, the ``otherwise`` ones elsewhere."""
        mine, theirs = vars(self), vars(otherwise)
        return _Errors(**{key: np.where(use, mine[key], theirs[key]) for key in mine})


def _tests(
    chosen: _Errors, sign: FloatArray, floor: FloatArray
) -> tuple[tuple[FloatArray, FloatArray], ...]:
    """The three tests as (value to score, value to fit the tail on)."""
    point = _test(_directed(chosen.err, sign), chosen.mad, floor)
    shift = _test(_directed(chosen.shift, sign), chosen.smad, floor)
    # Changes of every kind shape the tail; only jumps away from the baseline are scored.
    change = _test(_directed(chosen.diff, sign), chosen.dmad, floor)
    jump = _test(_jump(chosen.err, chosen.diff, sign), chosen.dmad, floor)
    return (point, point), (jump, change), (shift, shift)


# ----------------------------------------------------------------------------------------
# Batch: building blocks over 2-D arrays (series × time), vectorised along time


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
        mean = np.where(den > _EMPTY_SLOT, num / den, np.nan)
    prediction = _lag(mean)
    prediction[starts] = np.nan
    out = np.empty((n_series, n))
    np.put_along_axis(out, order, prediction, axis=1)
    return out


def _calibrated(z: FloatArray, fitted: FloatArray, config: DetectorConfig) -> FloatArray:
    """Surprise of each test value ``z`` under a tail fitted on the earlier ``fitted`` values."""
    above, log_excess = _log_excess(fitted, config.tail_threshold)
    decay = 1.0 - config.tail_alpha
    seen = _lag(_ew_sum(np.isfinite(fitted).astype(float), decay), 1, 0.0)
    exceeded = _lag(_ew_sum(above.astype(float), decay), 1, 0.0)
    excess = _lag(_ew_sum(log_excess, decay), 1, 0.0)
    rate, mean_excess = _tail_fit(seen, exceeded, excess, config)
    return _surprise(z, rate, mean_excess, config.tail_threshold)


def _errors(err: FloatArray, shift: FloatArray, config: DetectorConfig) -> _Errors:
    a = config.level_alpha
    diff = err - _last_before(err)
    return _Errors(
        err=err,
        mad=_lag(_ew_mean(np.abs(err), a)) * _MAD_TO_SIGMA,
        diff=diff,
        dmad=_lag(_ew_mean(np.abs(diff), a)) * _MAD_TO_SIGMA,
        shift=shift,
        # As it stood before the window began, so that a shift cannot hide itself.
        smad=_lag(_ew_mean(np.abs(shift), config.shift_alpha), config.shift_window) * _MAD_TO_SIGMA,
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
    sign = _signs(directions, n_series, config)[:, None]
    if n == 0 or n_series == 0:
        return np.zeros((n_series, n))
    k = config.shift_window

    level_after = _ew_mean(x, config.level_alpha)  # includes the row itself
    level = _lag(level_after)
    floor = config.spread_floor * np.abs(np.nan_to_num(level)) + _TINY
    on_level = _errors(x - level, _window_mean(x, k) - _lag(level_after, k), config)
    chosen = on_level
    if slots is not None:
        slot, per_day = _check_slots(slots, x.shape, slots_per_day)
        err = x - _profile_prediction(x, slot, config.seasonal_alpha)
        on_profile = _errors(err, _window_mean(err, k), config)
        seen = _lag(np.cumsum(np.isfinite(err), axis=1).astype(float), 1, 0.0)
        use = (
            (seen >= config.seasonal_min_days * per_day)
            & np.isfinite(on_profile.mad)
            & (on_profile.mad < config.seasonal_gain * on_level.mad)
        )
        chosen = on_profile.where(use, on_level)

    tests = _tests(chosen, sign, floor)
    surprise = np.max([_calibrated(z, fitted, config) for z, fitted in tests], axis=0)
    ok = np.isfinite(x)
    seen_valid = _lag(np.cumsum(ok, axis=1).astype(float), 1, 0.0)
    surprise = np.where(ok & (seen_valid >= config.warmup), surprise, 0.0)
    if config.hold_rows:
        surprise = np.where(surprise > _max_before(surprise, config.hold_rows), surprise, 0.0)
    return _to_score(surprise, config)


def _check_slots(
    slots: npt.ArrayLike, shape: tuple[int, ...], slots_per_day: int | None
) -> tuple[IntArray, int]:
    """The slots as integers of ``shape``, and the slot count, or a clear error."""
    slot = np.asarray(slots)
    if slot.ndim == 0:
        slot = np.broadcast_to(slot, shape)  # one slot for every series
    if slot.shape != shape:
        raise ValueError(f"slots have shape {slot.shape}, values {shape}")
    if not np.issubdtype(slot.dtype, np.integer):
        raise ValueError("slots must be integers")
    if slots_per_day is None or slots_per_day < 1:
        raise ValueError("slots need slots_per_day, a positive count")
    if slot.size and (slot.min() < 0 or slot.max() >= slots_per_day):
        raise ValueError(f"slots must lie in 0..{slots_per_day - 1}")
    return slot.astype(np.int64), slots_per_day


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


# ----------------------------------------------------------------------------------------
# Streaming: the same steps, one row per series per tick


class _EW:
    """A gap-aware EW mean per series, kept as (weighted sum, weight)."""

    def __init__(self, n: int, alpha: float) -> None:
        self.decay = 1.0 - alpha
        self.num = np.zeros(n)
        self.den = np.zeros(n)

    def mean(self) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.den > 0, self.num / self.den, np.nan)

    def push(self, values: FloatArray) -> None:
        ok = np.isfinite(values)
        self.num = self.decay * self.num + np.where(ok, values, 0.0)
        self.den = self.decay * self.den + ok


class _Ring:
    """The last ``rows`` values per series; at tick t, column t % rows holds tick t - rows."""

    def __init__(self, n: int, rows: int, fill: float = np.nan) -> None:
        self.data = np.full((n, rows), fill)
        self.rows = rows

    def oldest(self, tick: int) -> FloatArray:
        return self.data[:, tick % self.rows].copy()  # a copy: the slot is overwritten next

    def push(self, tick: int, values: FloatArray) -> None:
        self.data[:, tick % self.rows] = values


class _WindowMean:
    """Mean of the finite values among the last ``rows`` ticks, as running sums over a ring."""

    def __init__(self, n: int, rows: int) -> None:
        self.ring = _Ring(n, rows)
        self.total = np.zeros(n)
        self.count = np.zeros(n)

    def push(self, tick: int, values: FloatArray) -> FloatArray:
        old = self.ring.oldest(tick)
        old_ok, ok = np.isfinite(old), np.isfinite(values)
        self.total += np.where(ok, values, 0.0) - np.where(old_ok, old, 0.0)
        self.count += ok.astype(float) - old_ok
        self.ring.push(tick, values)
        self.total = np.where(self.count > 0, self.total, 0.0)  # no rounding left when empty
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.total / self.count
        return np.where(self.count * 2 >= self.ring.rows, mean, np.nan)


class _ErrorState:
    """What one baseline (level or profile) remembers of its errors."""

    def __init__(self, n: int, config: DetectorConfig) -> None:
        self.mad = _EW(n, config.level_alpha)
        self.dmad = _EW(n, config.level_alpha)
        self.smad = _EW(n, config.shift_alpha)
        self.smad_before = _Ring(n, config.shift_window)  # shift scale after each recent tick
        self.last_err = np.full(n, np.nan)
        self.window = _WindowMean(n, config.shift_window)

    def step(
        self, tick: int, err: FloatArray, windowed: FloatArray, reference: FloatArray | None
    ) -> _Errors:
        """Advance with this tick's errors, scales taken from before it.

        The shift is the mean of ``windowed`` over the window, minus ``reference`` if given.
        """
        diff = err - self.last_err
        mad, dmad = self.mad.mean(), self.dmad.mean()
        smad = self.smad_before.oldest(tick)
        self.mad.push(np.abs(err))
        self.dmad.push(np.abs(diff))
        self.last_err = np.where(np.isfinite(err), err, self.last_err)
        shift = self.window.push(tick, windowed)
        if reference is not None:
            shift = shift - reference
        self.smad.push(np.abs(shift))
        self.smad_before.push(tick, self.smad.mean() * _MAD_TO_SIGMA)
        return _Errors(
            err=err,
            mad=mad * _MAD_TO_SIGMA,
            diff=diff,
            dmad=dmad * _MAD_TO_SIGMA,
            shift=shift,
            smad=smad,
        )


class _TailState:
    """EW counts behind one test's tail fit."""

    def __init__(self, n: int, config: DetectorConfig) -> None:
        self.decay = 1.0 - config.tail_alpha
        self.seen = np.zeros(n)
        self.exceeded = np.zeros(n)
        self.excess = np.zeros(n)

    def surprise(self, z: FloatArray, config: DetectorConfig) -> FloatArray:
        rate, mean_excess = _tail_fit(self.seen, self.exceeded, self.excess, config)
        return _surprise(z, rate, mean_excess, config.tail_threshold)

    def push(self, z: FloatArray, config: DetectorConfig) -> None:
        above, log_excess = _log_excess(z, config.tail_threshold)
        self.seen = self.decay * self.seen + np.isfinite(z)
        self.exceeded = self.decay * self.exceeded + above
        self.excess = self.decay * self.excess + log_excess


class DetectorState:
    """What the detector remembers of N series between ticks: O(N × (windows + slots)) floats.

    Advanced in place by :func:`update`; fed the same rows, it scores as :func:`score_batch`.
    """

    def __init__(
        self,
        n_series: int,
        config: DetectorConfig = DEFAULT_CONFIG,
        directions: Sequence[Direction | str] | None = None,
        slots_per_day: int | None = None,
    ) -> None:
        if n_series < 1:
            raise ValueError("a detector state needs at least one series")
        if slots_per_day is not None and slots_per_day < 1:
            raise ValueError("slots_per_day must be a positive count")
        n = n_series
        self.config = config
        self.sign = _signs(directions, n, config)
        self.slots_per_day = slots_per_day
        self.tick = 0
        self.seen_valid = np.zeros(n)
        self.level = _EW(n, config.level_alpha)
        self.level_before = _Ring(n, config.shift_window)  # level after each recent tick
        self.on_level = _ErrorState(n, config)
        self.profile_num = np.zeros((n, slots_per_day or 0))
        self.profile_den = np.zeros((n, slots_per_day or 0))
        self.profile_seen = np.zeros(n)
        self.on_profile = _ErrorState(n, config)
        self.tails = [_TailState(n, config) for _ in range(3)]
        self.recent = _Ring(n, max(config.hold_rows, 1), -np.inf)  # recent surprises

    @property
    def n_series(self) -> int:
        return int(self.sign.size)


def update(
    state: DetectorState, new_values: npt.ArrayLike, slots: npt.ArrayLike | None = None
) -> FloatArray:
    """Score one new value per series (NaN: missing), advancing ``state``; scores in [0, 1].

    A state with a daily profile needs the time-of-day ``slots`` of the values (see
    :func:`daily_slots`): one per series, or one for all.
    """
    c, n, t = state.config, state.n_series, state.tick
    x = np.asarray(new_values, dtype=float).reshape(-1)
    if x.size != n:
        raise ValueError(f"{x.size} values for {n} series")
    x = np.where(np.isfinite(x), x, np.nan)
    ok = np.isfinite(x)

    level = state.level.mean()
    floor = c.spread_floor * np.abs(np.nan_to_num(level)) + _TINY
    state.level.push(x)
    # The shift compares the window with the level as it stood just before the window.
    chosen = state.on_level.step(t, x - level, x, state.level_before.oldest(t))
    state.level_before.push(t, state.level.mean())

    if state.slots_per_day is not None:
        if slots is None:
            raise ValueError("this state learns a daily profile: give each value's slot")
        slot, _ = _check_slots(slots, (n,), state.slots_per_day)
        rows = np.arange(n)
        num, den = state.profile_num[rows, slot], state.profile_den[rows, slot]
        with np.errstate(invalid="ignore", divide="ignore"):
            err = x - np.where(den > _EMPTY_SLOT, num / den, np.nan)
        decay = 1.0 - c.seasonal_alpha
        state.profile_num[rows, slot] = decay * num + np.where(ok, x, 0.0)
        state.profile_den[rows, slot] = decay * den + ok
        on_profile = state.on_profile.step(t, err, err, None)
        use = (
            (state.profile_seen >= c.seasonal_min_days * state.slots_per_day)
            & np.isfinite(on_profile.mad)
            & (on_profile.mad < c.seasonal_gain * chosen.mad)
        )
        state.profile_seen += np.isfinite(err)
        chosen = on_profile.where(use, chosen)

    surprise = np.zeros(n)
    for tail, (z, fitted) in zip(state.tails, _tests(chosen, state.sign, floor), strict=True):
        surprise = np.maximum(surprise, tail.surprise(z, c))
        tail.push(fitted, c)
    surprise = np.where(ok & (state.seen_valid >= c.warmup), surprise, 0.0)
    state.seen_valid += ok
    if c.hold_rows:
        beaten = surprise > state.recent.data.max(axis=1)
        state.recent.push(t, surprise)
        surprise = np.where(beaten, surprise, 0.0)
    state.tick += 1
    return _to_score(surprise, c)
