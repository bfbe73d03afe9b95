"""The seasonal robust baseline: a median of earlier days' and weeks' same time of day, cached."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.analytics.findings.model import DAY, SeriesKey

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def nan_median_last(stack: FloatArray) -> FloatArray:
    """Median over the last axis ignoring NaN, by sorting (faster than ``np.nanmedian``)."""
    ordered = np.sort(stack, axis=-1)  # NaN sort last
    count = np.isfinite(ordered).sum(axis=-1)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], -1)[..., 0]
    high = np.take_along_axis(ordered, np.maximum(count // 2, 0)[..., None], -1)[..., 0]
    return np.where(count > 0, (low + high) / 2, np.nan)


def _merge_network(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort for ``n`` inputs as compare-exchange pairs (i < j)."""
    size = 1 << max(0, (n - 1).bit_length())
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    # Missing inputs are +inf: they never move, so their comparators do nothing.
    return [(a, b) for a, b in pairs if b < n]


def _median_network(n: int) -> list[tuple[int, int, bool, bool]]:
    """The sorting network pruned to what the middle outputs need: (i, j, min?, max?)."""
    needed = {(n - 1) // 2, n // 2}
    kept = []
    for i, j in reversed(_merge_network(n)):
        want_min, want_max = i in needed, j in needed
        if want_min or want_max:
            kept.append((i, j, want_min, want_max))
            needed |= {i, j}
    return kept[::-1]


def seasonal_baseline(
    x: FloatArray, per_day: int, days: int, weeks: int, first: int = 0
) -> FloatArray:
    """Baseline of columns ``first:`` from earlier days' and weeks' same time of day.

    The median of the lagged values, NaN ignored. Where every lag has a value (nearly
    everywhere) a pruned sorting network of element-wise min/max finds it (~50 passes over
    cache-sized blocks instead of sorting millions of ten-value rows). The rest are sorted.
    """
    lags = [d * per_day for d in range(1, days + 1)]
    lags += [w * 7 * per_day for w in range(1, weeks + 1)]  # the same weekday again
    trim = max(0, first - max(lags))  # columns no lag reaches
    x, first = x[:, trim:], first - trim
    n, total = x.shape
    out = np.empty((n, total - first))
    missing = np.isnan(x)
    gaps: BoolArray = np.asarray(missing.any(axis=0))  # columns where a series has no value
    xi = np.where(missing, np.inf, x)  # NaN sorts last, as +inf
    # Column blocks small enough to stay in the CPU cache across the network's passes,
    # cut where a lag starts to reach back into the data (before it, it has no value).
    width = max(1, _BLOCK // max(1, n))
    edges = sorted({first, total} | {lag for lag in lags if first < lag < total})
    for start, stop in itertools.pairwise(edges):
        have = [lag for lag in lags if lag <= start]
        network = _median_network(len(have))
        for lo in range(start, stop, width):
            hi = min(stop, lo + width)
            part = out[:, lo - first : hi - first]
            if not have:
                part[:] = np.nan
                continue
            planes = [xi[:, lo - lag : hi - lag] for lag in have]
            part[:] = _network_median(planes, network)
            if any(gaps[lo - lag : hi - lag].any() for lag in have):
                rows = np.zeros(part.shape, dtype=bool)
                for lag in have:
                    rows |= missing[:, lo - lag : hi - lag]
                stack = np.stack([x[:, lo - lag : hi - lag][rows] for lag in have], axis=-1)
                part[rows] = nan_median_last(stack)
    return out


_BLOCK = 1 << 15  # values per plane in one block


def _network_median(
    planes: Sequence[FloatArray], network: Sequence[tuple[int, int, bool, bool]]
) -> FloatArray:
    """The element-wise median of equally shaped planes without NaN, by the network."""
    work = list(planes)
    for i, j, want_min, want_max in network:
        low = np.minimum(work[i], work[j]) if want_min else work[i]
        high = np.maximum(work[i], work[j]) if want_max else work[j]
        work[i], work[j] = low, high
    count = len(work)
    median: FloatArray = (work[(count - 1) // 2] + work[count // 2]) / 2
    return median


class BaselineCache:
    """Seasonal baselines of whole days, kept between cycles: a day's baseline depends only
    on earlier days, so a cycle every few minutes computes the current day's once.

    Keyed by series and UTC day. Only days whose every lag lay inside the batch are kept,
    so a cached day equals a fresh one. Assumes the earlier days' data do not change
    afterwards (late or backfilled samples for them are not seen until ``clear``). Days
    older than the oldest a cycle asked for are dropped.
    """

    def __init__(self) -> None:
        self._days: dict[tuple[SeriesKey, int], FloatArray] = {}
        self._shape: tuple[int, int, int] | None = None  # per_day, days, weeks

    def __len__(self) -> int:
        return len(self._days)

    def clear(self) -> None:
        self._days.clear()

    def baseline(
        self, keys: Sequence[SeriesKey], times: pd.DatetimeIndex, x: FloatArray,
        per_day: int, days: int, weeks: int, first: int,
    ) -> FloatArray:
        """``seasonal_baseline(x, per_day, days, weeks, first)``, from the cache where it can."""
        ns = times.as_unit("ns").asi8
        day_ns = DAY // timedelta(microseconds=1) * 1000
        step_ns = int(ns[1] - ns[0]) if len(ns) >= 2 else 0
        if len(ns) < 2 or step_ns * per_day != day_ns or day_ns % step_ns or (
                ns[0] % step_ns != 0):  # the grid must tile UTC days
            return seasonal_baseline(x, per_day, days, weeks, first)
        if self._shape != (per_day, days, weeks):
            self._days.clear()
            self._shape = (per_day, days, weeks)
        n, total = x.shape
        out = np.empty((n, total - first))
        reach = max(days, 7 * weeks) * per_day
        day_first, day_last = int(ns[first] // day_ns), int(ns[-1] // day_ns)
        col0 = {day: int((day * day_ns - ns[0]) // step_ns)  # its midnight's column (maybe < 0)
                for day in range(day_first, day_last + 1)}
        # Days with a lag before the batch are not whole-day values: computed, not kept.
        whole = [day for day, c in col0.items() if c >= reach]
        cut = col0[whole[0]] if whole else total
        if cut > first:
            out[:, : cut - first] = seasonal_baseline(x[:, :cut], per_day, days, weeks, first)
        if not whole:
            return out
        todo = [day for day in whole if any((k, day) not in self._days for k in keys)]
        if todo:
            # One pass over the days to fill, each whole, ahead of the data too: their lags
            # all lie in the past.
            lo, hi = col0[todo[0]], col0[todo[-1]] + per_day
            src = x[:, lo - reach : min(total, hi)]
            if hi > total:
                src = np.concatenate((src, np.full((n, hi - total), np.nan)), axis=1)
            fresh = seasonal_baseline(src, per_day, days, weeks, reach)
            # A series with no baseline that day (no history yet: a new deployment's or
            # endpoint's first weeks) shares one read-only day of NaN.
            nan_day = np.full(per_day, np.nan)
            nan_day.flags.writeable = False
            for day in todo:
                part = fresh[:, col0[day] - lo : col0[day] - lo + per_day]
                known: BoolArray = np.asarray(~np.isnan(part).all(axis=1))
                rows = iter(part[known])  # own memory: the rows with a baseline only
                for i, key in enumerate(keys):
                    self._days[(key, day)] = next(rows) if known[i] else nan_day
        for day in whole:
            lo, hi = max(first, col0[day]), min(total, col0[day] + per_day)
            out[:, lo - first : hi - first] = np.array(
                [self._days[(k, day)][lo - col0[day] : hi - col0[day]] for k in keys])
        for key_day in [kd for kd in self._days if kd[1] < day_first]:
            del self._days[key_day]
        return out


