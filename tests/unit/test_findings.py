"""Findings on synthetic series: guards, persistence, step/trend, grouping, bad input, causality."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from bot.analytics.findings.anomalies import find_anomalies
from bot.analytics.findings.grouping import find
from bot.analytics.findings.model import (
    DEFAULT_FINDINGS,
    Change,
    SeriesBatch,
    SeriesKey,
    Severity,
)
from bot.detection import run_cycle
from bot.metrics.base import Signal
from bot.metrics.demo import DemoBackend, DemoWorkload

START = datetime(2026, 11, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
PER_DAY = 288
DAYS = 10
N = DAYS * PER_DAY
TIMES = pd.date_range(START, periods=N, freq="5min")
SINCE = START + timedelta(days=7)
CHANGE_AT = PER_DAY * 8 + 100  # day 8, 08:20


def daily(level: float, amplitude: float, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = 1 + amplitude * np.sin(np.arange(N) * 2 * np.pi / PER_DAY)
    return level * shape * (1 + noise * rng.standard_normal(N))


def batch(*series: tuple[SeriesKey, np.ndarray, np.ndarray | None]) -> SeriesBatch:
    values = np.array([s[1] for s in series])
    requests = np.array([s[2] if s[2] is not None else np.full(N, np.nan) for s in series])
    return SeriesBatch(keys=[s[0] for s in series], times=TIMES, values=values,
                       requests=requests)


LAT = SeriesKey(signal=Signal.LATENCY, service="orders", endpoint="GET /api/history")
ERR = SeriesKey(signal=Signal.ERROR_RATIO, service="orders", endpoint="GET /api/history")
CPU = SeriesKey(signal=Signal.CPU, service="orders")
MEM = SeriesKey(signal=Signal.MEMORY, service="orders")
BUSY = np.full(N, 3000.0)  # requests per point


def latency(step_factor: float = 1.0, at: int = CHANGE_AT, seed: int = 1) -> np.ndarray:
    x = daily(0.2, 0.2, 0.05, seed)
    x[at:] *= step_factor
    return x


def test_a_step_that_stays_is_one_step_finding_with_its_start() -> None:
    result = find(batch((LAT, latency(3.0), BUSY)), SINCE)
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert finding.change is Change.STEP
    assert finding.end is None  # it stayed
    assert abs(finding.start - TIMES[CHANGE_AT].to_pydatetime()) <= STEP
    assert finding.first_mover.fired_at > finding.start  # persistence takes a few points


def test_a_slow_leak_is_a_trend() -> None:
    x = daily(0.4, 0.05, 0.005, 2)
    leak_from = PER_DAY * 4
    x[leak_from:] += 0.05 * (np.arange(N - leak_from) / PER_DAY)
    result = find(batch((MEM, x, None)), SINCE)
    changes = [a.change for f in result.findings for a in f.anomalies]
    assert changes == [Change.TREND]


def test_three_requests_never_fire() -> None:
    result = find(batch((LAT, latency(5.0), np.full(N, 3.0))), SINCE)
    assert result.findings == []


def test_two_milliseconds_never_fire() -> None:
    x = np.full(N, 0.010) + 1e-5 * np.random.default_rng(3).standard_normal(N)
    x[CHANGE_AT:] += 0.002
    assert find(batch((LAT, x, BUSY)), SINCE).findings == []


def test_a_one_point_blip_fires_only_through_the_surprise_tier() -> None:
    """The z rule wants persistence; a 10× point is a record the anomaly scorer scores above
    ``surprise_alarm``, so the surprise tier (on by default) fires it as a spike."""
    x = latency()
    x[CHANGE_AT] *= 10
    z_only = DEFAULT_FINDINGS.model_copy(update={"surprise_alarm": None})
    assert find(batch((LAT, x, BUSY)), SINCE, config=z_only).findings == []
    findings = find(batch((LAT, x, BUSY)), SINCE).findings
    assert [f.change for f in findings] == [Change.SPIKE]
    assert findings[0].first_mover.fired_at == TIMES[CHANGE_AT].to_pydatetime()


def test_latency_errors_and_cpu_of_one_service_are_one_finding_with_the_first_mover() -> None:
    cpu = daily(0.3, 0.2, 0.02, 4)
    cpu[CHANGE_AT:] += 0.4
    errors = np.abs(0.002 + 0.0005 * np.random.default_rng(5).standard_normal(N))
    errors[CHANGE_AT + 3 :] = 0.08
    result = find(batch((LAT, latency(3.0, CHANGE_AT + 2), BUSY), (ERR, errors, BUSY),
                        (CPU, cpu, None)), SINCE)
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert finding.first_mover.key == CPU
    assert {a.key.signal for a in finding.anomalies} == {Signal.CPU, Signal.LATENCY,
                                                           Signal.ERROR_RATIO}
    assert finding.moved_first().startswith("cpu moved first, then ")


def test_error_budget_burn_pages() -> None:
    from bot.analytics.slo import SLO

    errors = np.abs(0.002 + 0.0005 * np.random.default_rng(5).standard_normal(N))
    errors[CHANGE_AT:] = 0.3
    result = find(batch((ERR, errors, BUSY)), SINCE, {ERR.column or "": SLO(error_ratio=0.01)})
    assert result.findings[0].severity is Severity.CRITICAL
    assert "14.4×" in result.findings[0].first_mover.slo
    assert result.findings[0].first_mover.burn_window == timedelta(hours=1)
    assert result.findings[0].first_mover.fast_burn


def test_bad_series_are_reported_and_never_stop_the_others() -> None:
    nan = np.full(N, np.nan)
    gappy = latency(3.0, seed=9)
    gappy[::3] = np.nan
    gappy[CHANGE_AT - 50 : CHANGE_AT - 10] = np.inf
    late = latency(seed=10)
    late[: N - 100] = np.nan  # appears 8 hours before the end
    reset = daily(100.0, 0.3, 0.02, 11)
    reset[CHANGE_AT] = 0.0  # a counter reset read as one empty point
    reset[CHANGE_AT + 1] = -5.0
    keys = [SeriesKey(signal=Signal.LATENCY, service=f"s{i}", endpoint=f"GET /{i}")
            for i in range(5)]
    thru = SeriesKey(signal=Signal.THROUGHPUT, service="s9", endpoint="GET /9")
    result = find(batch((keys[0], nan, nan), (keys[1], latency(seed=12), np.zeros(N)),
                        (keys[2], late, BUSY), (keys[3], gappy, BUSY), (thru, reset, reset * 300),
                        (keys[4], latency(3.0, seed=13), BUSY)), SINCE)
    messages = {p.key.service: p.message for p in result.problems}
    assert messages["s0"] == "no data at all: not checked"
    assert messages["s1"] == "no traffic: not checked"
    assert "needs 1d of history" in messages["s2"]
    assert {f.service for f in result.findings} == {"s3", "s4"}  # the reset does not fire


def test_a_decision_at_t_ignores_what_comes_after() -> None:
    x = latency(3.0)
    t = CHANGE_AT + 30
    later = x.copy()
    later[t + 1 :] = np.random.default_rng(20).uniform(0, 5, N - t - 1)

    def onset(values: np.ndarray) -> tuple[datetime, datetime]:
        found, _, _ = find_anomalies(batch((LAT, values, BUSY)), SINCE)
        return found[0].start, found[0].fired_at

    from bot.analytics.findings.decision import decide

    full = decide(batch((LAT, x, BUSY)), first=PER_DAY * 7)
    changed = decide(batch((LAT, later, BUSY)), first=PER_DAY * 7)
    upto_t = t + 1 - PER_DAY * 7
    assert np.array_equal(full.fire[:, :upto_t], changed.fire[:, :upto_t])
    assert full.fire.any()
    assert onset(x) == onset(later)  # onset and decision time sit before t


def test_uneven_grid_is_refused_clearly() -> None:
    times = pd.DatetimeIndex([START, START + STEP, START + 3 * STEP])
    with pytest.raises(ValueError, match="regular, increasing grid"):
        SeriesBatch([LAT], times, np.zeros((1, 3)), np.zeros((1, 3)))


# ---- the demo workload ----------------------------------------------------------------------

DEMO_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# Longest acceptable time from an incident's start to the decision, per kind.
MAX_DELAY = {"latency_step": timedelta(minutes=30), "error_spike": timedelta(minutes=30),
             "cpu_saturation": timedelta(minutes=30), "memory_leak": timedelta(days=2)}


@pytest.fixture(scope="module")
def month() -> DemoBackend:
    return DemoBackend(DemoWorkload.generate(end=DEMO_AT, days=30, seed=7))


def test_the_cycle_finds_each_demo_incident_quickly(month: DemoBackend) -> None:
    report = run_cycle(month, DEMO_AT, timedelta(days=7))
    anomalies = [a for f in report.result.findings for a in f.anomalies]
    for scenario in month.workload.scenarios:
        hits = [a for a in anomalies if a.key.service == scenario.service
                and a.key.signal is scenario.signal and a.fired_at >= scenario.start]
        assert hits, scenario.title
        delay = min(a.fired_at for a in hits) - scenario.start
        assert delay <= MAX_DELAY[scenario.kind], (scenario.title, delay)
    assert len(report.result.findings) == len(month.workload.scenarios)


def test_a_quiet_week_of_the_demo_has_no_findings(month: DemoBackend) -> None:
    quiet_end = DEMO_AT - timedelta(days=8)  # the incidents are all in the last 7 days
    report = run_cycle(month, quiet_end, timedelta(days=7))
    assert report.result.series_checked > 40
    assert report.result.findings == []


# ---- the seasonal baseline ------------------------------------------------------------------


@pytest.mark.parametrize(("days", "weeks", "first"), [(7, 3, 0), (7, 3, 12 * 9 + 7),
                                                      (3, 1, 5), (1, 0, 0), (4, 0, 100)])
def test_the_seasonal_baseline_is_the_nan_median_of_its_lags(
    days: int, weeks: int, first: int,
) -> None:
    from bot.analytics.findings.baseline import seasonal_baseline

    per_day = 12  # a coarse day keeps the three weeks short
    rng = np.random.default_rng(30)
    x = rng.gamma(2.0, 1.0, (7, per_day * 24))
    x[rng.random(x.shape) < 0.05] = np.nan  # scattered gaps
    x[2, : per_day * 5] = np.nan  # a series that starts late
    x[3] = np.round(x[3])  # ties
    lags = [d * per_day for d in range(1, days + 1)] + [w * 7 * per_day
                                                         for w in range(1, weeks + 1)]
    stack = np.full((*x.shape, len(lags)), np.nan)
    for i, lag in enumerate(lags):
        stack[:, lag:, i] = x[:, :-lag]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN, as wanted
        expected = np.nanmedian(stack, axis=-1)[:, first:]
    got = seasonal_baseline(x, per_day, days, weeks, first)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    assert np.isfinite(got).mean() > 0.5


def test_cycles_sharing_a_baseline_cache_decide_as_fresh_ones() -> None:
    from bot.analytics.findings.baseline import BaselineCache
    from bot.analytics.findings.decision import decide
    from bot.analytics.findings.model import FindingsConfig

    config = FindingsConfig(baseline_days=2, baseline_weeks=0)  # short lags for short data
    cpu = daily(0.3, 0.2, 0.02, 4)
    cpu[CHANGE_AT:] += 0.4
    gappy = latency(3.0, seed=9)
    gappy[::7] = np.nan
    full = batch((LAT, latency(3.0), BUSY), (CPU, cpu, None), (ERR, gappy, BUSY))
    cache = BaselineCache()
    sizes: list[int] = []
    fired: list[bool] = []
    for end in (N - 400, N - 399, N - 150, N - 1, N):  # cycles minutes and hours apart
        start = end - PER_DAY * 6
        part = SeriesBatch(full.keys, full.times[start:end], full.values[:, start:end],
                           full.requests[:, start:end])
        first = len(part.times) - 24
        fresh, cached = decide(part, config, first), decide(part, config, first, cache)
        for name in ("exceed", "fire", "trend", "surge", "baseline", "spread"):
            assert np.array_equal(getattr(fresh, name), getattr(cached, name),
                                  equal_nan=True), (end, name)
        sizes.append(len(cache))
        fired.append(bool(fresh.fire.any()))
    assert sizes[0] > 0 and any(fired)
    assert max(sizes) <= 3 * 4  # three series, the few whole days in reach: old ones dropped
