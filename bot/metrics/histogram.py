"""PromQL's ``histogram_quantile`` as a pure, vectorised function.

It follows Prometheus's classic-histogram rules (``promql/quantile.go``) exactly, so the demo
backend answers what a real Prometheus would answer on the same buckets:

* buckets are made monotonic first (a bucket never counts less than the one below it);
* no observations (or missing counts) give NaN;
* the rank ``q * total`` is found in the first bucket whose cumulative count reaches it, and
  the value is interpolated linearly inside that bucket; the lowest bucket starts at 0
  (unless its upper bound is <= 0, when that bound is returned);
* a rank that falls in the ``+Inf`` bucket gives the highest finite bound;
* ``q < 0`` gives -Inf, ``q > 1`` gives +Inf, NaN gives NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def histogram_quantile(
    q: float, bounds: Sequence[float] | npt.ArrayLike, buckets: npt.ArrayLike
) -> FloatArray:
    """The ``q`` quantile of each histogram in ``buckets``.

    ``bounds`` are the finite upper bounds (``le``), strictly increasing. ``buckets`` holds
    cumulative counts (or rates) with the bucket axis last: ``buckets[..., i]`` counts the
    observations ``<= bounds[i]`` and ``buckets[..., -1]`` is the ``+Inf`` bucket, so that
    axis has ``len(bounds) + 1`` entries. The result has the shape of ``buckets`` without its
    last axis.
    """
    upper = np.asarray(bounds, dtype=np.float64)
    counts = np.asarray(buckets, dtype=np.float64)
    if upper.ndim != 1 or not np.isfinite(upper).all():
        raise ValueError("expected the finite bucket bounds as a flat sequence")
    if upper.size > 1 and not (np.diff(upper) > 0).all():
        raise ValueError("expected strictly increasing bucket bounds")
    if counts.ndim == 0 or counts.shape[-1] != upper.size + 1:
        raise ValueError(
            f"expected {upper.size + 1} buckets (the bounds and +Inf) on the last axis, "
            f"got shape {counts.shape}"
        )
    shape = counts.shape[:-1]
    if math.isnan(q):
        return np.full(shape, np.nan)
    if q < 0:
        return np.full(shape, -np.inf)
    if q > 1:
        return np.full(shape, np.inf)
    if upper.size == 0:
        # Prometheus needs at least two buckets, one finite.
        return np.full(shape, np.nan)

    counts = np.maximum.accumulate(counts, axis=-1)  # NaN propagates to the total
    total = counts[..., -1]
    rank = q * total
    finite = counts[..., :-1]
    # Index of the first finite bucket whose count reaches the rank (len(bounds) if none).
    b = (finite < rank[..., None]).sum(axis=-1)
    in_inf = b == upper.size
    b_safe = np.minimum(b, upper.size - 1)

    bucket_end = upper[b_safe]
    bucket_start = np.where(b_safe > 0, upper[np.maximum(b_safe - 1, 0)], 0.0)
    count_here = np.take_along_axis(finite, b_safe[..., None], axis=-1)[..., 0]
    count_below = np.where(
        b_safe > 0,
        np.take_along_axis(finite, np.maximum(b_safe - 1, 0)[..., None], axis=-1)[..., 0],
        0.0,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        # 0/0 stays NaN, as in Prometheus (a rank of 0 in an empty lowest bucket).
        value = bucket_start + (bucket_end - bucket_start) * (
            (rank - count_below) / (count_here - count_below)
        )
    value = np.where(in_inf, upper[-1], value)
    value = np.where((b == 0) & (upper[0] <= 0), upper[0], value)
    result: FloatArray = np.where((total == 0) | np.isnan(total), np.nan, value)
    return result


def cumulative(per_bucket: npt.ArrayLike) -> npt.NDArray[np.int64] | FloatArray:
    """Per-bucket counts (bucket axis last) to the cumulative ``le`` form Prometheus stores."""
    array = np.asarray(per_bucket)
    out: npt.NDArray[np.int64] | FloatArray = np.cumsum(array, axis=-1)
    return out
