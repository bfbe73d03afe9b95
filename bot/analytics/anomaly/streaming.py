"""The streaming form: one new value per series per tick, scored as the batch form would."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.analytics.anomaly.config import DEFAULT_CONFIG, DetectorConfig, Direction
from bot.analytics.anomaly.slots import EMPTY_SLOT, check_slots
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
    ) -> Errors:
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
        self.smad_before.push(tick, self.smad.mean() * MAD_TO_SIGMA)
        return Errors(
            err=err,
            mad=mad * MAD_TO_SIGMA,
            diff=diff,
            dmad=dmad * MAD_TO_SIGMA,
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
        rate, mean_excess = tail_fit(self.seen, self.exceeded, self.excess, config)
        return tail_surprise(z, rate, mean_excess, config.tail_threshold)

    def push(self, z: FloatArray, config: DetectorConfig) -> None:
        above, log_excess = tail_excess(z, config.tail_threshold)
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
        self.sign = direction_signs(directions, n, config)
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
        self.high = np.full(n, np.nan)  # range of every value so far, for the novelty
        self.low = np.full(n, np.nan)
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
    floor = c.spread_floor * np.abs(np.nan_to_num(level)) + TINY
    state.level.push(x)
    # The shift compares the window with the level as it stood just before the window.
    chosen = state.on_level.step(t, x - level, x, state.level_before.oldest(t))
    state.level_before.push(t, state.level.mean())

    if state.slots_per_day is not None:
        if slots is None:
            raise ValueError("this state learns a daily profile: give each value's slot")
        slot, _ = check_slots(slots, (n,), state.slots_per_day)
        rows = np.arange(n)
        num, den = state.profile_num[rows, slot], state.profile_den[rows, slot]
        with np.errstate(invalid="ignore", divide="ignore"):
            err = x - np.where(den > EMPTY_SLOT, num / den, np.nan)
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
    for tail, (z, fitted) in zip(state.tails, three_tests(chosen, state.sign, floor), strict=True):
        surprise = np.maximum(surprise, tail.surprise(z, c))
        tail.push(fitted, c)
    if c.novelty_margin is not None:
        is_novel = novel(
            x, state.high, state.low, state.sign, c.novelty_margin, chosen.mad, c.novelty_sigmas
        )
        surprise = np.where(is_novel, surprise + c.novelty_nats, surprise)
        state.high, state.low = np.fmax(state.high, x), np.fmin(state.low, x)
    surprise = np.where(ok & (state.seen_valid >= c.warmup), surprise, 0.0)
    state.seen_valid += ok
    if c.hold_rows:
        beaten = surprise > state.recent.data.max(axis=1)
        state.recent.push(t, surprise)
        surprise = np.where(beaten, surprise, 0.0)
    state.tick += 1
    return to_score(surprise, c)
