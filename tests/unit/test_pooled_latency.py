"""A service's latency quantile on the demo backend is that of all its requests: the
endpoints' histograms merged (what ``sum by (le)`` does in PromQL), not the slowest one's."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from bot.ask.answer import ask
from bot.figures import whole_window
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.histogram import histogram_quantile
from tests.answer_support import _minutes, sources_for
from tests.conftest import DEMO_END

START = DEMO_END - timedelta(hours=24)


def merged_p95(w: DemoWorkload, service: str) -> float:
    """The test's own merge: every series of the service, every minute of the window."""
    rows = [r for r, e in enumerate(w.series_endpoint) if w.endpoints[e].service == service]
    counts = w.bucket_counts[rows][:, _minutes(w, START, DEMO_END), :].sum(axis=(0, 1))
    return float(histogram_quantile(0.95, w.bucket_bounds, np.cumsum(counts)))


def busiest_service(w: DemoWorkload) -> str:
    return max(w.services, key=lambda s: sum(e.service == s for e in w.endpoints))


def test_demo_pools_a_services_histograms(
    demo_backend: DemoBackend, demo_workload: DemoWorkload
) -> None:
    service = busiest_service(demo_workload)
    members = [e for e in demo_backend.endpoints() if e.service == service]
    assert len(members) > 1
    frame = demo_backend.pooled_latency(whole_window(START, DEMO_END), 0.95, {service: members})
    assert frame[service].iloc[-1] == pytest.approx(merged_p95(demo_workload, service))


def test_a_services_p95_answer_is_not_its_slowest_endpoints(
    demo_backend: DemoBackend, demo_workload: DemoWorkload
) -> None:
    service = busiest_service(demo_workload)
    expected = merged_p95(demo_workload, service)
    members = [e for e in demo_backend.endpoints() if e.service == service]
    slowest = demo_backend.latency(whole_window(START, DEMO_END), 0.95, members).iloc[-1].max()
    assert slowest > expected * 1.05  # the two differ on this data, so the test can tell
    reply = ask(f"p95 of the {service} service last 24h", sources_for(demo_backend), DEMO_END)
    figure = reply.headline.split(": ", 1)[1].split(" across")[0]
    value = float(figure.split()[0]) / (1000 if figure.endswith("ms") else 1)
    assert value == pytest.approx(expected, rel=0.01), reply.headline
