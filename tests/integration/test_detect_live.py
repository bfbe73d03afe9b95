"""The detection cycle against a real Prometheus loaded with the demo finds what the demo does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.detection import run_cycle
from bot.metrics.demo import DemoBackend
from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import DEMO_END

pytestmark = pytest.mark.integration


def test_the_cycle_on_prometheus_matches_the_demo(
    prometheus_backend: PrometheusBackend, demo_backend: DemoBackend
) -> None:
    window = timedelta(days=2)
    live = run_cycle(prometheus_backend, DEMO_END, window, history=timedelta(days=3))
    demo = run_cycle(demo_backend, DEMO_END, window, history=timedelta(days=3))

    def summary(report: object) -> list[tuple[str, str, str]]:
        findings = report.result.findings  # type: ignore[attr-defined]
        return sorted((a.key.label, str(a.change), a.fired_at.isoformat())
                      for f in findings for a in f.anomalies)

    assert summary(demo)  # the 3-day fixture shows at least the checkout spike
    assert summary(live) == summary(demo)
