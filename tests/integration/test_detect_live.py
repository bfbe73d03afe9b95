"""The detection cycle against a real Prometheus loaded with the demo: the same findings as the
demo, and alerts with the playbook's diagnostics answered by Prometheus."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot import detection
from bot.detection import read_batch, run_cycle, source_step
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
    # At one step: on their own each reads at its resolution (the demo's counters give a
    # rate per minute, Prometheus needs two scrapes in a rate's range: 2 minutes).
    live = run_cycle(store_backend, DEMO_END, window, history=timedelta(days=3),
                     step=timedelta(minutes=5))
    demo = run_cycle(demo_backend, DEMO_END, window, history=timedelta(days=3),
                     step=timedelta(minutes=5))

    def summary(report: object) -> list[tuple[str, str, str]]:
        findings = report.result.findings  # type: ignore[attr-defined]
        return sorted((a.key.label, str(a.change), a.fired_at.isoformat())
                      for f in findings for a in f.anomalies)

    assert summary(demo)  # the 3-day fixture shows at least the checkout spike
    assert summary(live) == summary(demo)


def test_the_read_is_at_the_sources_resolution(
    prometheus_backend: PrometheusBackend, demo_backend: DemoBackend
) -> None:
    # The demo's samples are a minute apart: a rate needs two, so Prometheus reads at 2m.
    assert source_step(prometheus_backend, DEMO_END) == timedelta(minutes=2)
    assert source_step(demo_backend, DEMO_END) == timedelta(minutes=1)
    batch, _, problems = read_batch(prometheus_backend, DEMO_END, timedelta(days=3))
    assert problems == []
    assert batch.step == timedelta(minutes=2)
    # Three days at 2 minutes is 2,161 points per series, read whole.
    assert len(batch.times) == 3 * 720 + 1
    assert np.isfinite(batch.values[:, -10:]).any(axis=1).sum() >= len(batch.keys) // 2


def test_a_long_read_in_parts_equals_one_read(
    prometheus_backend: PrometheusBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prometheus refuses more than 11,000 points per series (28 days at 1 minute are 40,321):
    # the read goes in parts; their seams must lose or repeat no point.
    whole, _, _ = read_batch(prometheus_backend, DEMO_END, timedelta(days=3))
    monkeypatch.setattr(detection, "MAX_POINTS", 700)  # 2,161 points: 4 parts
    parts, _, problems = read_batch(prometheus_backend, DEMO_END, timedelta(days=3))
    assert problems == []
    assert parts.keys == whole.keys
    assert parts.times.equals(whole.times)
    np.testing.assert_array_equal(parts.values, whole.values)


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
