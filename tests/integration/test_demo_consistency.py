"""The demo backend and a real Prometheus loaded with the same workload give the same answers.

The window is eight hours well inside the written span (three days ending at DEMO_END), at a
5m step with a 5m lookback, so PromQL's rate() has a full range of samples at every point. It
holds a lunch peak, the checkout error spike and a dinner peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from bot.metrics.base import Window
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import DEMO_END

WINDOW = Window(
    start=DEMO_END - timedelta(hours=24),
    end=DEMO_END - timedelta(hours=16),
    step=timedelta(minutes=5),
    rate_window=timedelta(minutes=5),
)


def aligned(demo: pd.DataFrame, prom: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Both frames on the same index and columns, which must agree already."""
    assert list(prom.index) == list(demo.index)
    assert sorted(prom.columns) == sorted(demo.columns)
    prom = prom[demo.columns]
    assert (prom.isna() == demo.isna()).all().all(), "gaps differ"
    return demo.to_numpy(dtype=float), prom.to_numpy(dtype=float)


def test_throughput_agrees(
    demo_backend: DemoBackend, prometheus_backend: PrometheusBackend
) -> None:
    demo, prom = aligned(demo_backend.throughput(WINDOW), prometheus_backend.throughput(WINDOW))
    np.testing.assert_allclose(prom, demo, rtol=0.03, equal_nan=True)


def test_error_ratio_agrees(
    demo_backend: DemoBackend, prometheus_backend: PrometheusBackend
) -> None:
    demo, prom = aligned(demo_backend.error_ratio(WINDOW), prometheus_backend.error_ratio(WINDOW))
    np.testing.assert_allclose(prom, demo, atol=0.002, rtol=0, equal_nan=True)
    assert np.nanmax(prom) > 0.05  # the window holds the checkout spike: not just zeros


def assert_within_a_bucket(prom: np.ndarray, demo: np.ndarray, bounds: Sequence[float]) -> None:
    """Each of Prometheus's quantiles is within the width of the bucket holding the demo's."""
    edges = np.array([0.0, *bounds])
    # The bucket holding the figure; above the top bound, the top finite bucket.
    upper = np.searchsorted(edges, demo, side="left").clip(1, len(edges) - 1)
    width = edges[upper] - edges[upper - 1]
    seen = ~np.isnan(demo)
    assert seen.sum() > 0
    difference = np.abs(prom - demo)[seen]
    assert (difference <= width[seen]).all(), np.max(difference / width[seen])


@pytest.mark.parametrize("quantile", [0.5, 0.95, 0.99])
def test_latency_agrees_within_a_bucket(
    demo_backend: DemoBackend,
    prometheus_backend: PrometheusBackend,
    demo_workload: DemoWorkload,
    quantile: float,
) -> None:
    demo, prom = aligned(
        demo_backend.latency(WINDOW, quantile), prometheus_backend.latency(WINDOW, quantile)
    )
    assert_within_a_bucket(prom, demo, demo_workload.bucket_bounds)


def test_cpu_agrees(demo_backend: DemoBackend, prometheus_backend: PrometheusBackend) -> None:
    demo, prom = aligned(demo_backend.cpu(WINDOW), prometheus_backend.cpu(WINDOW))
    np.testing.assert_allclose(prom, demo, rtol=0.03)


def test_memory_agrees(demo_backend: DemoBackend, prometheus_backend: PrometheusBackend) -> None:
    demo, prom = aligned(demo_backend.memory(WINDOW), prometheus_backend.memory(WINDOW))
    np.testing.assert_allclose(prom, demo, rtol=0.02)


def test_summary_agrees(
    demo_backend: DemoBackend, prometheus_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    at, lookback = WINDOW.end, timedelta(hours=1)
    demo = demo_backend.summary(at, lookback)
    prom = prometheus_backend.summary(at, lookback)
    assert sorted(prom.index) == sorted(demo.index)
    prom = prom.loc[demo.index]
    assert (prom["service"] == demo["service"]).all()
    np.testing.assert_allclose(prom["throughput"], demo["throughput"], rtol=0.03)
    np.testing.assert_allclose(prom["error_ratio"], demo["error_ratio"], atol=0.002)
    for column in ("p50", "p95", "p99"):
        assert_within_a_bucket(prom[column].to_numpy(), demo[column].to_numpy(),
                               demo_workload.bucket_bounds)
