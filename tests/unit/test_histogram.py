"""histogram_quantile against cases worked out by hand with Prometheus's rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.metrics.histogram import cumulative, histogram_quantile

BOUNDS = [1.0, 2.0, 4.0]
# 10 observations <= 1, 10 in (1, 2], 10 in (2, 4], 10 above 4.
BUCKETS = [10, 20, 30, 40]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.1, 0.4),  # rank 4 in the lowest bucket, interpolated from 0: 4/10 of 1
        (0.25, 1.0),  # rank 10 exactly fills the first bucket: its upper bound
        (0.5, 2.0),  # rank 20 fills the second
        (0.6, 2.8),  # rank 24: 4 of 10 into (2, 4]
        (0.0, 0.0),  # rank 0 at the start of a non-empty lowest bucket
        (0.75, 4.0),  # rank 30 ends the last finite bucket
        (0.9, 4.0),  # rank 36 is in +Inf: the highest finite bound
        (1.0, 4.0),
    ],
)
def test_hand_computed_quantiles(q: float, expected: float) -> None:
    assert histogram_quantile(q, BOUNDS, BUCKETS) == pytest.approx(expected)


def test_no_observations_is_nan() -> None:
    assert math.isnan(float(histogram_quantile(0.5, BOUNDS, [0, 0, 0, 0])))


def test_missing_counts_are_nan() -> None:
    assert math.isnan(float(histogram_quantile(0.5, BOUNDS, [1, np.nan, 3, 4])))


def test_everything_above_the_top_bound_gives_the_top_bound() -> None:
    assert histogram_quantile(0.01, BOUNDS, [0, 0, 0, 7]) == 4.0


def test_rank_zero_in_an_empty_lowest_bucket_is_nan_as_in_prometheus() -> None:
    # 0/0 inside the bucket: Prometheus answers NaN here, and so must we.
    assert math.isnan(float(histogram_quantile(0.0, BOUNDS, [0, 5, 5, 5])))


def test_out_of_range_quantiles_are_infinite_and_nan_stays_nan() -> None:
    assert histogram_quantile(-0.1, BOUNDS, BUCKETS) == -np.inf
    assert histogram_quantile(1.5, BOUNDS, BUCKETS) == np.inf
    assert math.isnan(float(histogram_quantile(math.nan, BOUNDS, BUCKETS)))


def test_non_monotonic_buckets_are_made_monotonic_first() -> None:
    # [10, 8, 30, 30] is read as [10, 10, 30, 30]: rank 15 is 5 of 20 into (2, 4].
    assert histogram_quantile(0.5, BOUNDS, [10, 8, 30, 30]) == pytest.approx(2.5)


def test_a_lowest_bound_at_or_below_zero_is_returned_as_is() -> None:
    assert histogram_quantile(0.2, [-1.0, 0.0, 1.0], [5, 5, 10, 10]) == -1.0


def test_only_an_inf_bucket_is_nan() -> None:
    assert math.isnan(float(histogram_quantile(0.5, [], [3])))


def test_rates_give_the_same_quantile_as_counts() -> None:
    rates = np.array(BUCKETS) / 300.0
    assert histogram_quantile(0.6, BOUNDS, rates) == pytest.approx(2.8)


def test_vectorised_over_leading_axes_matches_one_by_one() -> None:
    rng = np.random.default_rng(1)
    per_bucket = rng.integers(0, 20, size=(3, 5, 4))
    per_bucket[1, 2] = 0  # one empty histogram among them
    buckets = cumulative(per_bucket)
    result = histogram_quantile(0.9, BOUNDS, buckets)
    assert result.shape == (3, 5)
    for i in range(3):
        for j in range(5):
            one = histogram_quantile(0.9, BOUNDS, buckets[i, j])
            np.testing.assert_equal(result[i, j], one)
    assert math.isnan(result[1, 2])


def test_cumulative_sums_the_bucket_axis() -> None:
    np.testing.assert_array_equal(cumulative([[1, 2, 3], [0, 0, 4]]), [[1, 3, 6], [0, 0, 4]])


@pytest.mark.parametrize(
    ("bounds", "buckets", "message"),
    [
        ([1.0, 2.0], [1, 2, 3, 4], "expected 3 buckets"),
        ([2.0, 1.0], [1, 2, 3], "strictly increasing"),
        ([1.0, math.inf], [1, 2, 3], "finite"),
    ],
)
def test_bad_shapes_are_refused_clearly(
    bounds: list[float], buckets: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        histogram_quantile(0.5, bounds, buckets)
