"""Is a difference between two windows real? Pure: two samples in, a verdict out.

The samples are a series' per-step values in each window (the 5-minute p95s of yesterday
and of today, say). Mann–Whitney U asks whether one window's values tend to be larger than
the other's without assuming a distribution (latencies are skewed); its effect size, the
rank-biserial correlation (Cliff's delta), says by how much: the share of pairs where
"after" is larger minus the share where it is smaller, from −1 to 1.

Per-step values of one series are autocorrelated, so the p-value is optimistic; a
difference is only called real when it is also more than negligible (|delta| ≥ 0.147,
Romano et al. 2006's threshold), which a tiny shift over many points is not.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

ALPHA = 0.05
MIN_SAMPLES = 6  # per window; fewer points cannot show anything at ALPHA
# Cliff's delta magnitudes (Romano et al., 2006): below 0.147 negligible, 0.33 small,
# 0.474 medium, else large.
Magnitude = Literal["negligible", "small", "medium", "large"]
_MAGNITUDES: tuple[tuple[float, Magnitude], ...] = (
    (0.147, "negligible"), (0.33, "small"), (0.474, "medium"),
)


class Difference(BaseModel):
    """The verdict on ``after`` against ``before``."""

    model_config = ConfigDict(frozen=True)

    n_before: int
    n_after: int
    p_value: float  # two-sided Mann–Whitney U
    effect: float  # rank-biserial correlation: > 0 when "after" tends to be larger
    magnitude: Magnitude
    real: bool  # p < ALPHA and the effect is more than negligible

    @property
    def direction(self) -> Literal["higher", "lower", "same"]:
        if not self.real:
            return "same"
        return "higher" if self.effect > 0 else "lower"

    def p_text(self) -> str:
        """``p<0.001``, ``p=0.03``."""
        if self.p_value < 0.001:
            return "p<0.001"
        return f"p={self.p_value:.2g}" if self.p_value < 0.1 else f"p={self.p_value:.2f}"

    def describe(self) -> str:
        """One line for the notes: the test, the samples, the p-value and the effect size."""
        return (
            f"Mann–Whitney U on {self.n_before} vs {self.n_after} per-step values: "
            f"{self.p_text()}, effect size (rank-biserial) {self.effect:+.2f} ({self.magnitude})"
        )


def compare_samples(
    before: npt.ArrayLike, after: npt.ArrayLike, alpha: float = ALPHA
) -> Difference | None:
    """Mann–Whitney U of ``after`` against ``before`` (NaNs dropped).

    None when either window has fewer than ``MIN_SAMPLES`` values: too few to say anything.
    """
    x = _finite(after)
    y = _finite(before)
    if x.size < MIN_SAMPLES or y.size < MIN_SAMPLES:
        return None
    if np.all(x == x[0]) and np.all(y == x[0]):
        # Identical constants (no errors in either window): no difference, and scipy
        # would return a NaN p-value.
        return Difference(n_before=int(y.size), n_after=int(x.size), p_value=1.0, effect=0.0,
                          magnitude="negligible", real=False)
    from scipy import stats  # type: ignore[import-untyped]  # 1 s to import: only here

    result = stats.mannwhitneyu(x, y, alternative="two-sided", method="auto")
    u = float(result.statistic)  # pairs where after > before, ties counted as half
    p_value = float(result.pvalue)
    if not math.isfinite(p_value):
        p_value = 1.0
    effect = 2 * u / (x.size * y.size) - 1
    magnitude = effect_magnitude(effect)
    return Difference(
        n_before=int(y.size),
        n_after=int(x.size),
        p_value=p_value,
        effect=effect,
        magnitude=magnitude,
        real=p_value < alpha and magnitude != "negligible",
    )


def effect_magnitude(effect: float) -> Magnitude:
    size = abs(effect)
    for limit, name in _MAGNITUDES:
        if size < limit:
            return name
    return "large"


def _finite(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).ravel()
    finite: npt.NDArray[np.float64] = array[np.isfinite(array)]
    return finite
