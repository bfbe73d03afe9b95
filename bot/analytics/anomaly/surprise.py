"""Shared by the batch and streaming forms: the three tests, their tail calibration, the score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.analytics.anomaly.config import DetectorConfig, Direction

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Mean absolute deviation × this = standard deviation, for Gaussian noise.
MAD_TO_SIGMA = math.sqrt(math.pi / 2)
_MAX_TEST = 1e300  # a deviation from a constant series: huge, but finite
_MAX_SURPRISE = 1e6
TINY = 1e-300


def direction_signs(
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


def tail_fit(
    seen: FloatArray, exceeded: FloatArray, excess: FloatArray, config: DetectorConfig
) -> tuple[FloatArray, FloatArray]:
    """Exceedance rate and mean log-excess from EW counts, shrunk towards the prior."""
    prior_exceeded = config.tail_prior_rows * config.tail_prior_rate
    rate = (exceeded + prior_exceeded) / (seen + config.tail_prior_rows)
    mean_excess = (excess + prior_exceeded * config.tail_prior_log_excess) / (
        exceeded + prior_exceeded
    )
    return rate, mean_excess


def tail_surprise(z: FloatArray, rate: FloatArray, mean_excess: FloatArray, u: float) -> FloatArray:
    """``-ln P(test >= z)``: Pareto beyond the threshold ``u``, a smooth rise to it below."""
    tail = -np.log(rate)
    above = tail + np.log(np.maximum(z, u) / u) / mean_excess
    below = tail * (np.minimum(z, u) / u) ** 2
    s = np.where(z > u, above, below)
    return np.where(np.isfinite(z), np.minimum(s, _MAX_SURPRISE), 0.0)


def tail_excess(z: FloatArray, u: float) -> tuple[BoolArray, FloatArray]:
    """Which test values exceed ``u``, and their ln(z / u) (0 elsewhere)."""
    finite = np.isfinite(z)
    zz = np.where(finite, z, 0.0)
    above = zz > u
    return above, np.where(above, np.log(np.maximum(zz, u) / u), 0.0)


def novel(
    x: FloatArray,
    high: FloatArray,
    low: FloatArray,
    sign: FloatArray,
    margin: float,
    scale: FloatArray,
    sigmas: float,
) -> BoolArray:
    """Whether ``x`` lies beyond [low, high], the range of every earlier value, by more than
    ``margin`` × that range and ``sigmas`` × ``scale`` (rises only, falls only or both, by
    ``sign``); False where unknown."""
    beyond = np.where(x > high, x - high, np.where(x < low, x - low, 0.0))
    with np.errstate(invalid="ignore"):
        past = _directed(beyond, sign)
        return np.asarray((past > margin * (high - low)) & ~(past <= sigmas * scale))


def to_score(surprise: FloatArray, config: DetectorConfig) -> FloatArray:
    return surprise / (surprise + config.score_half)


@dataclass(frozen=True)
class Errors:
    """One baseline's errors, their changes and window means, each with its scale before."""

    err: FloatArray
    mad: FloatArray
    diff: FloatArray
    dmad: FloatArray
    shift: FloatArray
    smad: FloatArray

    def where(self, use: BoolArray, otherwise: Errors) -> Errors:
        """These errors where ``use`` holds, the ``otherwise`` ones elsewhere."""
        mine, theirs = vars(self), vars(otherwise)
        return Errors(**{key: np.where(use, mine[key], theirs[key]) for key in mine})


def three_tests(
    chosen: Errors, sign: FloatArray, floor: FloatArray
) -> tuple[tuple[FloatArray, FloatArray], ...]:
    """The three tests as (value to score, value to fit the tail on)."""
    point = _test(_directed(chosen.err, sign), chosen.mad, floor)
    shift = _test(_directed(chosen.shift, sign), chosen.smad, floor)
    # Changes of every kind shape the tail; only jumps away from the baseline are scored.
    change = _test(_directed(chosen.diff, sign), chosen.dmad, floor)
    jump = _test(_jump(chosen.err, chosen.diff, sign), chosen.dmad, floor)
    return (point, point), (jump, change), (shift, shift)


