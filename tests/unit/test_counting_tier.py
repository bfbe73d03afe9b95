"""The error ratio's counting tier: a 10× burn at 400 requests a minute (the low end of daytime
traffic, where a minute's z is a Gaussian reading of ~20 errors) fires by its third minute,
while binomial errors at the baseline at the same traffic never fire; the tail is in counting
noise (overdispersion widens it, a baseline of 0 is not a certainty)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from bot.analytics.findings.decision import counting_tier
from bot.analytics.findings.grouping import find
from bot.analytics.findings.model import DEFAULT_FINDINGS, SeriesBatch, SeriesKey
from bot.analytics.findings.sensitivity import thresholds
from bot.analytics.slo import SLO
from bot.metrics.base import Signal
from tests.unit.test_findings_speed import CHANGE_AT, PER_DAY, TIMES, N

# The time grid of the per-minute detection tests: 9 days, the change on day 8 at 10:00.
RPM = 400
BASE = 0.005
GUARD = DEFAULT_FINDINGS.guards[Signal.ERROR_RATIO]
STEP = timedelta(minutes=1)


def keys(n: int) -> list[SeriesKey]:
    return [SeriesKey(signal=Signal.ERROR_RATIO, service=f"svc{i}", endpoint="POST /api/pay")
            for i in range(n)]


def binomial_errors(n: int, factor: float, seed: int) -> SeriesBatch:
    """``n`` endpoints at 400 requests a minute (Poisson), binomial errors at 0.5%, times
    ``factor`` from ``CHANGE_AT`` on."""
    rng = np.random.default_rng(seed)
    req = rng.poisson(RPM, size=(n, N)).astype(float)
    p = np.full((n, N), BASE)
    p[:, CHANGE_AT:] = BASE * factor
    x = rng.binomial(req.astype(np.int64), p) / req
    return SeriesBatch(keys=keys(n), times=TIMES, values=x, requests=req)


def slos(batch: SeriesBatch) -> dict[str, SLO]:
    return {k.column or "": SLO(error_ratio=0.01) for k in batch.keys}


def test_a_tenfold_burn_at_400_requests_a_minute_fires_by_its_third_minute() -> None:
    batch = binomial_errors(20, 10.0, seed=3)
    change = TIMES[CHANGE_AT].to_pydatetime()
    result = find(batch, TIMES[CHANGE_AT - 60].to_pydatetime(), slos(batch))
    fired: dict[str, datetime] = {}
    for f in result.findings:
        for a in f.anomalies:
            if a.fired_at >= change:
                fired[a.key.service] = min(fired.get(a.key.service, a.fired_at), a.fired_at)
    delays = {k.service: fired.get(k.service) for k in batch.keys}
    late = {s: t for s, t in delays.items() if t is None or t - change > 2 * STEP}
    assert not late, late  # every one by the third point (0, 1 or 2 minutes after)


def test_binomial_errors_at_the_baseline_never_fire() -> None:
    batch = binomial_errors(40, 1.0, seed=4)
    since = TIMES[PER_DAY * 7].to_pydatetime()  # the last two days, every minute
    assert find(batch, since, slos(batch)).findings == []


def tier(errors: list[float], expected: float, overdispersion: float = 1.0) -> np.ndarray:
    req = np.full((1, len(errors)), float(RPM))
    x = np.array([errors]) / RPM
    base = np.full_like(x, expected / RPM)
    fire, _ = counting_tier(x, req, base, np.full_like(x, overdispersion),
                            np.array([[GUARD.min_abs]]), np.array([[GUARD.min_rel]]), STEP,
                            DEFAULT_FINDINGS)
    return fire[0]


def test_the_tail_is_in_counting_noise() -> None:
    # 20 errors where 2 are expected: P ≈ 6e-14 in one minute (Chernoff bound 7e-13).
    # 11 (2.75%, over the guards) is P ≈ 1e-5: not far enough. 14 is not either (bound
    # 2e-7), but two minutes of 14 are: 28 where 4 are expected (bound 6e-14).
    assert tier([2, 20], 2.0).tolist() == [False, True]
    assert not tier([2, 11], 2.0).any()
    assert tier([2, 14, 14], 2.0).tolist() == [False, False, True]
    # Overdispersed errors (twice the counting noise): the same 20 are not far out.
    assert not tier([2, 20], 2.0, overdispersion=2.0).any()
    # A baseline of no errors is not a certainty: at least one error is expected.
    assert not tier([0, 12], 0.0).any()


def test_the_sensitivity_level_moves_the_tail_as_it_moves_z() -> None:
    low, high = thresholds("low"), thresholds("high")
    assert low.count_tail < DEFAULT_FINDINGS.count_tail < high.count_tail
    # A level scales z by s, so the surprise a tail needs (≈ z² / 2 nats) by s².
    nats = -math.log(DEFAULT_FINDINGS.count_tail)
    assert math.isclose(-math.log(high.count_tail), nats * 0.7**2)
    assert math.isclose(-math.log(low.count_tail), nats * 1.5**2)
