"""Time to detect by severity, on synthetic per-minute series: far outside the baseline fires in
a couple of points, a mild step keeps the full persistence, quiet data never fires, the SRE
fast-burn page, and a finding's start is the change even when it began before the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from bot.analytics.findings.decision import fast_burn
from bot.analytics.findings.grouping import find
from bot.analytics.findings.model import DEFAULT_FINDINGS, SeriesBatch, SeriesKey
from bot.analytics.slo import SLO
from bot.metrics.base import Signal

START = datetime(2026, 11, 1, tzinfo=UTC)
PER_DAY = 1440
DAYS = 9
N = DAYS * PER_DAY
TIMES = pd.date_range(START, periods=N, freq="1min")
CHANGE_AT = PER_DAY * 8 + 600  # day 8, 10:00
SINCE = TIMES[CHANGE_AT - 60].to_pydatetime()

LAT = SeriesKey(signal=Signal.LATENCY, service="orders", endpoint="GET /api/history")
ERR = SeriesKey(signal=Signal.ERROR_RATIO, service="payments", endpoint="POST /api/checkout")
SLOS = {ERR.column or "": SLO(error_ratio=0.01)}


def traffic(seed: int) -> np.ndarray:
    """Requests per minute with a daily rhythm, 200 at night to 1,000 by day."""
    rng = np.random.default_rng(seed)
    shape = 0.6 + 0.4 * np.sin(np.arange(N) * 2 * np.pi / PER_DAY)
    return rng.poisson(1000 * shape).astype(float)


def latency(factor: float, seed: int) -> SeriesBatch:
    rng = np.random.default_rng(seed)
    x = 0.2 * (1 + 0.1 * np.sin(np.arange(N) * 2 * np.pi / PER_DAY))
    x = x * np.exp(0.06 * rng.standard_normal(N))
    x[CHANGE_AT:] *= factor
    return SeriesBatch(keys=[LAT], times=TIMES, values=x[None, :],
                       requests=traffic(seed)[None, :])


def errors(factor: float, seed: int, base: float = 0.005) -> SeriesBatch:
    rng = np.random.default_rng(seed)
    req = traffic(seed)
    ratio = np.full(N, base)
    ratio[CHANGE_AT:] = min(1.0, base * factor)
    x = rng.poisson(ratio * req) / req
    return SeriesBatch(keys=[ERR], times=TIMES, values=x[None, :], requests=req[None, :])


def delay(batch: SeriesBatch, since: datetime = SINCE) -> timedelta | None:
    """From the change to the decision that fired (None: nothing fired after the change)."""
    change = TIMES[CHANGE_AT].to_pydatetime()
    fired = [a.fired_at for f in find(batch, since, SLOS).findings for a in f.anomalies
             if a.fired_at >= change]
    return min(fired) - change if fired else None


def test_a_tenfold_error_burn_fires_within_three_minutes() -> None:
    for seed in range(3):
        took = delay(errors(10.0, seed))
        assert took is not None and took <= timedelta(minutes=2), (seed, took)  # 3rd point


def test_a_threefold_latency_step_fires_within_two_minutes() -> None:
    for seed in range(3):
        took = delay(latency(3.0, seed))
        assert took is not None and took <= timedelta(minutes=1), (seed, took)


def test_a_mild_step_still_needs_the_full_persistence() -> None:
    # 1.5×: outside the guards, but not far: 15 exceeding points of 20 (3 of 4 at 5 minutes).
    k, _ = DEFAULT_FINDINGS.persistence(timedelta(minutes=1))
    assert k == 15
    for seed in range(3):
        took = delay(latency(1.5, seed))
        assert took is not None, seed
        assert took >= timedelta(minutes=k - 1), (seed, took)


def test_quiet_per_minute_data_never_fires() -> None:
    for seed in range(4):
        since = TIMES[PER_DAY * 7].to_pydatetime()  # the last two days, every minute
        assert find(latency(1.0, seed), since, SLOS).findings == []
        assert find(errors(1.0, seed), since, SLOS).findings == []


def test_the_fast_burn_page_needs_both_windows() -> None:
    step = timedelta(minutes=1)
    req = np.full((1, 180), 1000.0)
    x = np.full((1, 180), 0.001)
    x[0, 120:] = 0.5  # 50% errors against a 1% budget: a burn of 50
    hit = fast_burn(x, req, np.array([0.01]), step, DEFAULT_FINDINGS)[0]
    # 1h at 14.4% needs 0.144 × 60 / 0.5 ≈ 17.3 minutes of it; 5m at once.
    assert not hit[:137].any()
    assert hit[137:].all()
    # No budget (no SLO): never.
    assert not fast_burn(x, req, np.array([np.nan]), step, DEFAULT_FINDINGS).any()


def test_a_step_that_began_before_the_window_starts_at_the_change() -> None:
    # A report over the last hour, three hours after the step: the start is the step's,
    # not the window's first point.
    since = TIMES[CHANGE_AT + 180].to_pydatetime()
    findings = find(latency(3.0, 0), since, SLOS).findings
    assert len(findings) == 1
    assert abs(findings[0].start - TIMES[CHANGE_AT].to_pydatetime()) <= timedelta(minutes=2)
