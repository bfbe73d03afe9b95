"""A detection cycle judges its series a part at a time (``detection.PART``): the same
findings as one batch of them all, in a fraction of the memory."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from bot import detection
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.model import FindingsResult, SeriesKey
from bot.analytics.findings.sensitivity import Level, find_sensitive
from bot.detection import HISTORY, WINDOW, ReadCache, read_batch, run_cycle
from bot.metrics.base import Signal
from bot.metrics.demo import DemoBackend, DemoWorkload
from tests.conftest import DEMO_END
from tests.workloads import scaled


def same(a: FindingsResult, b: FindingsResult) -> bool:
    """Equal, NaN equal to NaN (the charts' gaps; ``==`` on them is False)."""
    return repr(a) == repr(b)


@pytest.fixture(scope="module")
def month() -> DemoBackend:
    return DemoBackend(DemoWorkload.generate(end=DEMO_END, days=30, seed=7))


@pytest.mark.parametrize("levels", [None, {"search": "high", "payments": "low"}])
def test_parts_find_what_one_batch_finds(
    month: DemoBackend, monkeypatch: pytest.MonkeyPatch, levels: dict[str, Level] | None,
) -> None:
    batch, slos, _ = read_batch(month, DEMO_END, HISTORY)
    whole = find_sensitive(batch, DEMO_END - WINDOW, slos, levels=levels)
    # Parts of 7 series, which cut services and signals apart.
    monkeypatch.setattr(detection, "PART", 7 * len(batch.times))
    parts = run_cycle(month, DEMO_END, WINDOW, levels=levels).result
    assert whole.findings  # the demo's incidents, so there is something to compare
    assert same(parts, whole)


def test_all_silent_is_critical_across_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every endpoint's traffic stopped: critical, although no part holds them all."""
    backend = DemoBackend(DemoWorkload.generate(end=DEMO_END, days=3, seed=7))
    at = DEMO_END + timedelta(hours=1)  # an hour after the data ends
    whole = run_cycle(backend, at, timedelta(days=1), history=timedelta(days=2)).result
    monkeypatch.setattr(detection, "PART", 5 * 2 * 1440)  # 5 series of 2 days at 1 minute
    parts = run_cycle(backend, at, timedelta(days=1), history=timedelta(days=2)).result
    silent = [a for f in parts.findings for a in f.anomalies if a.change == "silent"]
    assert silent and all(a.severity == "critical" for a in silent)
    assert same(parts, whole)


def test_a_cycle_over_many_endpoints_never_holds_all_their_series_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """104 endpoints with a day of data, on the 28-day grid at 1 minute (as a deployment's
    first weeks are): a tick with its reads held (``ReadCache``, so the backend's own cost
    is out of it) adds less than one (series × grid) array of float64 to what is
    held, where laying every series out at once added several (values, requests, copies)."""
    backend = DemoBackend(scaled(DemoWorkload.generate(end=DEMO_END, days=1, seed=7), 104))
    batch, _, _ = read_batch(backend, DEMO_END, HISTORY)
    one_array, checked = batch.values.nbytes, len(batch.keys)
    monkeypatch.setattr(detection, "PART", 10 * len(batch.times))  # 10 series a part
    assert len(batch.keys) > 40
    del batch
    reads = ReadCache()
    run_cycle(backend, DEMO_END, WINDOW, reads=reads)  # the first tick reads it all
    tracemalloc.start()
    try:
        held, _ = tracemalloc.get_traced_memory()
        report = run_cycle(backend, DEMO_END, WINDOW, reads=reads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.result.series_checked == checked  # every series judged
    added = peak - held
    assert added < one_array, f"added {added >> 20} MB, one array {one_array >> 20} MB"


def test_the_baseline_cache_holds_no_days_of_series_without_history() -> None:
    """200 series, one with 28 days of data, the rest only with today's: the cache keeps
    that one's days, not 199 days of NaN each (a new deployment's first weeks)."""
    per_day, days = 720, 28  # 2-minute steps
    times = pd.date_range(DEMO_END - timedelta(days=days), periods=days * per_day,
                          freq="2min", tz="UTC")
    x = np.full((200, len(times)), np.nan)
    x[0] = 1.0 + 0.1 * np.sin(np.arange(len(times)) * 2 * np.pi / per_day)
    x[1:, -per_day:] = 2.0
    keys = [SeriesKey(signal=Signal.LATENCY, service=f"s{i}", endpoint="GET /") for i in
            range(200)]
    cache = BaselineCache()
    first = len(times) - 7 * per_day
    tracemalloc.start()
    try:
        out = cache.baseline(keys, times, x, per_day, 7, 3, first)
        del out
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    every_day = 200 * 7 * per_day * 8  # 8 MB: what holding each series' days took
    assert len(cache) == 200 * 7  # every day of every series is still answered
    assert held < every_day / 4, f"held {held >> 10} kB"
    again = cache.baseline(keys, times, x, per_day, 7, 3, first)
    assert np.isnan(again[1:]).all() and np.isfinite(again[0]).all()
