"""The detection cycle against a real Prometheus loaded with the demo: the same findings as the
demo, and alerts with the playbook's diagnostics answered by Prometheus."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import pytest

from bot.detection import run_cycle
from bot.metrics.base import MetricsError, QueryRejectedError, SeriesValue, Signal
from bot.metrics.demo import DemoBackend
from bot.metrics.prometheus import PrometheusBackend
from bot.playbooks.diagnostics import format_unit
from bot.playbooks.loading import load_playbooks
from bot.render.alert import build_alert
from tests.conftest import DEMO_END

PLAYBOOKS = load_playbooks(Path(__file__).parents[2] / "playbooks").playbooks

def test_the_cycle_on_prometheus_matches_the_demo(
    store_backend: PrometheusBackend, demo_backend: DemoBackend
) -> None:
    window = timedelta(days=2)
    live = run_cycle(store_backend, DEMO_END, window, history=timedelta(days=3))
    demo = run_cycle(demo_backend, DEMO_END, window, history=timedelta(days=3))

    def summary(report: object) -> list[tuple[str, str, str]]:
        findings = report.result.findings  # type: ignore[attr-defined]
        return sorted((a.key.label, str(a.change), a.fired_at.isoformat())
                      for f in findings for a in f.anomalies)

    assert summary(demo)  # the 3-day fixture shows at least the checkout spike
    assert summary(live) == summary(demo)


def test_the_checkout_error_spike_alert_shows_diagnostics_from_prometheus(
    store_backend: PrometheusBackend, demo_backend: DemoBackend,
) -> None:
    report = run_cycle(store_backend, DEMO_END, timedelta(days=2),
                       history=timedelta(days=3), playbooks=PLAYBOOKS,
                       deploys=demo_backend.workload.deploys)
    item = next(e for e in report.explained if e.finding.first_mover.key.endpoint ==
                "POST /api/checkout" and e.finding.first_mover.key.signal is Signal.ERROR_RATIO)
    assert item.matches[0].playbook.id == "error-spike-after-deploy"
    results = {r.name: r for r in item.results}
    assert [r.name for r in item.results] == [d.name for d in item.diagnostics]
    # The service's 5xx share at the peak, as Prometheus computes it, against the demo's own
    # count of requests and errors over the same 5 minutes.
    peak = item.finding.first_mover.peak_at
    ratio = results["error_ratio"].values[0].value
    summary = demo_backend.summary(peak, timedelta(minutes=5))
    payments = summary[summary["service"] == "payments"]
    expected = (payments["error_ratio"] * payments["throughput"]).sum() / payments[
        "throughput"].sum()
    assert ratio == pytest.approx(expected, rel=0.05) and ratio > 0.01
    routes = results["errors_by_route"].values
    assert routes and routes[0].labels["http_route"] == "/api/checkout"

    evidence = next(s for s in build_alert(item, UTC, chart=False).sections
                    if s.title == "Evidence")
    assert f"• error_ratio: {format_unit(ratio, 'ratio')}" in evidence.text
    assert "http_route=/api/checkout" in evidence.text


def test_the_demo_says_diagnostics_need_prometheus(demo_backend: DemoBackend) -> None:
    with pytest.raises(MetricsError, match="need a real Prometheus"):
        demo_backend.instant("vector(1)", DEMO_END)


def test_instant_answers_vectors_and_scalars_and_rejects_others(
    store_backend: PrometheusBackend,
) -> None:
    assert store_backend.instant("scalar(vector(2.5))", DEMO_END) == [
        SeriesValue(labels={}, value=2.5)]
    pods = store_backend.instant("count by (container) (container_cpu_usage_seconds_total)",
                                      DEMO_END)
    assert pods and all(set(p.labels) == {"container"} and p.value >= 1 for p in pods)
    with pytest.raises(QueryRejectedError, match="instant vector or a scalar"):
        store_backend.instant("container_cpu_usage_seconds_total[5m]", DEMO_END)
    with pytest.raises(QueryRejectedError):
        store_backend.instant("sum(", DEMO_END)
