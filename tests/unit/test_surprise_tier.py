"""decide's surprise tier: the anomaly scorer as one more way to fire, measured on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from bot.analytics.findings.decision import decide, surprise_scores
from bot.analytics.findings.model import DEFAULT_FINDINGS, SeriesBatch, SeriesKey
from bot.analytics.findings.sensitivity import thresholds
from bot.metrics.base import Signal

START = datetime(2026, 11, 1, tzinfo=UTC)
PER_DAY = 288  # 5-minute points
DAYS = 10
N = DAYS * PER_DAY
TIMES = pd.date_range(START, periods=N, freq="5min")
SPIKE = PER_DAY * 9 + 150  # day 9, 12:30
FIRST = PER_DAY * 8  # the cycles judge days 8 and 9
OFF = DEFAULT_FINDINGS.model_copy(update={"surprise_alarm": None})
ON = DEFAULT_FINDINGS.model_copy(update={"surprise_alarm": DEFAULT_FINDINGS.surprise_alarm or 0.8})


def latencies(n: int, seed: int) -> np.ndarray:
    """``n`` quiet p95 latencies: a daily rhythm, 5% noise, busy endpoints."""
    rng = np.random.default_rng(seed)
    shape = 1 + 0.2 * np.sin(np.arange(N) * 2 * np.pi / PER_DAY)
    return 0.2 * shape * (1 + 0.05 * rng.standard_normal((n, N)))


def batch_of(values: np.ndarray, end: int = N) -> SeriesBatch:
    keys = [SeriesKey(signal=Signal.LATENCY, service=f"svc{i}", endpoint="GET /r")
            for i in range(values.shape[0])]
    return SeriesBatch(keys=keys, times=TIMES[:end], values=values[:, :end],
                       requests=np.full((values.shape[0], end), 3000.0))


def test_a_record_spike_fires_through_the_tier_where_the_z_rule_waits_for_persistence() -> None:
    values = latencies(1, seed=5)
    values[0, SPIKE] *= 5  # one point: the z rule's persistence needs more
    batch = batch_of(values)
    z_only = decide(batch, OFF, FIRST)
    with_tier = decide(batch, ON, FIRST)
    assert not z_only.fire.any()
    assert with_tier.fire[0, SPIKE - FIRST]
    assert with_tier.surprise[0, SPIKE - FIRST] >= ON.surprise_alarm
    # Only the spike: the tier adds no other point.
    assert np.flatnonzero(with_tier.fire[0]).tolist() == [SPIKE - FIRST]


def test_a_spike_below_the_signals_minimum_change_does_not_fire() -> None:
    values = latencies(1, seed=5)
    values[0, SPIKE] *= 1.25  # 25%: far outside the noise, under latency's 30% guard
    assert not decide(batch_of(values), ON, FIRST).fire.any()


def test_quiet_series_never_fire_through_the_tier_over_many_seeds() -> None:
    for seed in range(5):
        d = decide(batch_of(latencies(40, seed=100 + seed)), ON, FIRST)
        assert not d.fire.any()
        assert d.surprise.max() < ON.surprise_alarm


def test_two_cycles_decide_as_one_call_over_both() -> None:
    """The scorer starts at the clock's multiple of ``surprise_context``, not at the read: a
    cycle per day and a half and one call over both (a replay) give the same decisions."""
    values = latencies(3, seed=7)
    values[1, SPIKE] *= 5
    first, cut = PER_DAY * 7, PER_DAY * 8 + PER_DAY // 2
    one = decide(batch_of(values), ON, first, days_from_start=True)
    cycle1 = decide(batch_of(values, cut), ON, first, days_from_start=True)
    cycle2 = decide(batch_of(values), ON, cut, days_from_start=True)
    np.testing.assert_array_equal(np.hstack([cycle1.fire, cycle2.fire]), one.fire)
    np.testing.assert_allclose(np.hstack([cycle1.surprise, cycle2.surprise]), one.surprise,
                               rtol=1e-9, atol=1e-12)
    assert one.fire[1, SPIKE - first]
    # The span starts the scorer at more than one anchor: the test crosses an anchor change.
    context = ON.surprise_context / timedelta(seconds=1)
    anchors = {int((t.timestamp() - context) // context) for t in TIMES[first:]}
    assert len(anchors) == 2


def test_the_scores_before_first_are_not_computed() -> None:
    scores = surprise_scores(batch_of(latencies(2, seed=1)), ON, FIRST)
    assert not scores[:, :FIRST].any() and scores[:, FIRST:].any()


def test_the_tiers_view_covers_every_series_of_a_mixed_batch() -> None:
    """Error ratios have a counting tier of their own: the surprise tier's view is still one
    row per series."""
    values = np.vstack([latencies(2, seed=3), np.full((1, N), 0.01)])
    keys = [SeriesKey(signal=Signal.LATENCY, service="a", endpoint="GET /a"),
            SeriesKey(signal=Signal.LATENCY, service="b", endpoint="GET /b"),
            SeriesKey(signal=Signal.ERROR_RATIO, service="a", endpoint="GET /a")]
    batch = SeriesBatch(keys=keys, times=TIMES, values=values, requests=np.full((3, N), 3000.0))
    d = decide(batch, ON, FIRST)
    assert d.surprise.shape == d.fire.shape == (3, N - FIRST)


def test_the_sensitivity_level_moves_the_surprise_alarm_as_it_moves_z() -> None:
    """Low asks for more surprise, high for less: the alarm's nats scale as z² does."""
    low, normal, high = (thresholds(lv, ON).surprise_alarm for lv in ("low", "normal", "high"))
    assert low is not None and normal is not None and high is not None
    assert high < normal < low < 1
    half = 7.0  # the scorer's score_half: a score of a is half * a / (1 - a) nats
    nats = {a: half * a / (1 - a) for a in (low, normal, high)}
    assert nats[low] / nats[normal] == pytest.approx(1.5**2)
    assert nats[high] / nats[normal] == pytest.approx(0.7**2)
