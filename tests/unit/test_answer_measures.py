"""What the answers read from the demo backend, against the workload's own arrays."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from bot.ask.measures import read_endpoints
from bot.ask.query import Measure, Statistic
from bot.figures import whole_window
from bot.metrics.base import NoBucketError
from bot.metrics.demo import DemoBackend, DemoWorkload
from tests.answer_support import errors, requests, within
from tests.conftest import DEMO_END

START, END = DEMO_END - timedelta(hours=30), DEMO_END - timedelta(hours=6)


def test_share_within_a_bucket_bound_is_exact(
    demo_backend: DemoBackend, demo_workload: DemoWorkload
) -> None:
    endpoints = [e for e in demo_backend.endpoints() if e.route != "/healthz"]
    for bound in (0.25, 0.5):
        frame = demo_backend.latency_within(whole_window(START, END), bound, endpoints)
        for e in endpoints:
            expected = within(demo_workload, e.key, bound, START, END) / requests(
                demo_workload, e.key, START, END)
            assert frame[e.column].iloc[-1] == pytest.approx(expected, rel=1e-12)


def test_no_bucket_at_the_threshold_is_said_not_guessed(demo_backend: DemoBackend) -> None:
    with pytest.raises(NoBucketError, match=r"no bucket at 0\.3s .*0\.25, 0\.5"):
        demo_backend.latency_within(whole_window(START, END), 0.3)


def test_counts_are_rates_times_seconds(
    demo_backend: DemoBackend, demo_workload: DemoWorkload
) -> None:
    endpoints = [e for e in demo_backend.endpoints() if e.service == "payments"]
    reading = read_endpoints(demo_backend, Measure.ERROR_COUNT, None, endpoints, START, END)
    for e in endpoints:
        assert reading.values[e.column] == pytest.approx(errors(demo_workload, e.key, START, END))
        assert reading.traffic[e.column] == pytest.approx(
            requests(demo_workload, e.key, START, END))
    # The series is errors per second per step: summed over the steps, the same errors.
    step = (reading.series.index[1] - reading.series.index[0]).total_seconds()
    total = float(np.nansum(reading.series.to_numpy()) * step)
    expected = sum(errors(demo_workload, e.key, START, END) for e in endpoints)
    assert total == pytest.approx(expected, rel=0.01)


def test_peak_throughput_is_the_busiest_step(demo_backend: DemoBackend) -> None:
    endpoint = [e for e in demo_backend.endpoints() if e.key == "POST /api/checkout"]
    peak = read_endpoints(demo_backend, Measure.THROUGHPUT, Statistic.MAX, endpoint, START, END)
    mean = read_endpoints(demo_backend, Measure.THROUGHPUT, None, endpoint, START, END)
    key = endpoint[0].column
    assert peak.values[key] == pytest.approx(float(np.nanmax(peak.series[key])))
    assert peak.values[key] > 1.5 * mean.values[key]  # dinner is busier than the day's mean
