"""The alert of a finding: every part present, within Slack's limits, names escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.alerts.explained import Explained
from bot.analytics.findings.model import Anomaly, Change, ChartData, Finding, SeriesKey, Severity
from bot.detection import explain, run_cycle
from bot.metrics.base import SeriesValue, Signal
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.playbooks.diagnostics import DiagnosticResult
from bot.playbooks.loading import load_playbooks
from bot.playbooks.matching import match_playbooks
from bot.render.alert import SECTION_LIMIT, alert_text, build_alert, diagnostic_lines

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PLAYBOOKS = load_playbooks(Path(__file__).parents[2] / "playbooks").playbooks


def test_the_demo_error_spike_alert_has_every_part() -> None:
    backend = DemoBackend(DemoWorkload.generate(end=AT, days=10, seed=7))
    report = run_cycle(backend, AT, timedelta(days=2), playbooks=PLAYBOOKS,
                       deploys=backend.workload.deploys)
    item = next(e for e in report.explained if e.finding.service == "payments")
    message = build_alert(item, UTC)
    titles = [s.title for s in message.sections]
    assert titles[:4] == ["What", "Where and since when", "Likely cause", "Evidence"]
    assert any(t.startswith("Playbook: ") for t in titles)
    assert "Diagnostics" in titles and "Other candidate playbooks" in titles
    assert "payments 2.31.0 was deployed" in message.sections[2].text
    assert [a.id for a in message.actions] == ["acknowledge", "snooze", "resolve", "escalate"]
    assert message.chart_png is not None and message.chart_png.startswith(b"\x89PNG")
    assert all(len(s.text) <= SECTION_LIMIT for s in message.sections)
    assert "[Acknowledge]" in alert_text(message)


def _hostile(n_anomalies: int) -> Explained:
    name = "<!channel> *pay*`ments` & co"
    anomalies = [
        Anomaly(key=SeriesKey(signal=Signal.LATENCY, service=name, endpoint=f"GET /{i}<x>"),
                change=Change.STEP, start=AT, fired_at=AT + timedelta(minutes=10),
                peak_at=AT, end=None, value=0.9, baseline=0.2, z=40, onset_score=0.8,
                severity=Severity.WARNING,
                chart=ChartData(times=[AT], values=[0.9], baseline=[0.2], low=[0.1],
                                high=[0.3]))
        for i in range(n_anomalies)
    ]
    finding = Finding(id="x", service=name, severity=Severity.WARNING, change=Change.STEP,
                      start=AT, end=None, anomalies=anomalies)
    backend = DemoBackend(DemoWorkload.generate(end=AT, days=2, seed=7))
    return explain(finding, backend, PLAYBOOKS)


def test_hostile_names_are_escaped_and_long_sections_are_cut() -> None:
    message = build_alert(_hostile(200), UTC, chart=False)
    text = alert_text(message)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "`ments`" not in text
    assert all(len(s.text) <= SECTION_LIMIT for s in message.sections)
    assert message.sections[0].text.endswith("…")


def test_diagnostic_results_show_top_series_with_units_and_group_what_has_no_numbers() -> None:
    by_route = DiagnosticResult(
        name="errors_by_route", description="", unit="per_second", query="q",
        values=[SeriesValue(labels={"http_route": f"/r{i}<x>", "__name__": "m"}, value=5.0 - i)
                for i in range(5)])
    ratio = DiagnosticResult(name="error_ratio", description="", unit="ratio", query="q",
                             values=[SeriesValue(labels={}, value=0.121)])
    empty = [DiagnosticResult(name=name, description="", unit="count", query="q",
                              note="no data") for name in ("restarts", "images")]
    lines = diagnostic_lines([by_route, ratio, *empty])
    assert lines[0] == ("• errors_by_route: 5/s {http_route=/r0&lt;x&gt;}; "
                        "4/s {http_route=/r1&lt;x&gt;}; 3/s {http_route=/r2&lt;x&gt;} (+2 more)")
    assert lines[1] == "• error_ratio: 12.1%"
    assert lines[2:] == ["• restarts, images: no data"]


def test_on_the_demo_the_alert_says_once_that_diagnostics_need_prometheus() -> None:
    backend = DemoBackend(DemoWorkload.generate(end=AT, days=10, seed=7))
    report = run_cycle(backend, AT, timedelta(days=2), playbooks=PLAYBOOKS,
                       deploys=backend.workload.deploys)
    item = next(e for e in report.explained if e.finding.service == "payments")
    assert item.results and all(r.note.startswith("failed: ") for r in item.results)
    evidence = next(s for s in build_alert(item, UTC, chart=False).sections
                    if s.title == "Evidence")
    assert evidence.text.count("need a real Prometheus") == 1
    assert "error_ratio, errors_by_route" in evidence.text


def test_the_alert_names_the_evidence_its_playbook_could_not_check() -> None:
    # No CPU metrics on the server: slow-db-query still leads, and says what it did not know.
    item = _hostile(1)  # a latency step
    evidence = {"latency_ratio": 4.0, "throughput_ratio": 1.0, "after_deploy": False,
                "change": "step"}
    situation = item.situation.model_copy(update={"evidence": evidence})
    blind = item.model_copy(update={"situation": situation,
                                    "matches": match_playbooks(PLAYBOOKS, situation)})
    message = build_alert(blind, UTC, chart=False)
    sections = {s.title: s.text for s in message.sections}
    assert "Playbook: Slow database query or missing index" in sections
    # Escaped for Slack like every other line of the alert.
    assert sections["Evidence"].splitlines()[-1] == "unknown (no data): cpu &lt;= 0.8"


def test_the_incident_chart_says_its_unit_on_the_y_axis() -> None:
    """The charts of the demo's alerts, read from the figure (not its pixels): the y-axis
    names the unit, and the line is drawn in it (a latency in ms, an error ratio in %)."""
    import matplotlib.pyplot as plt
    import pytest

    from bot.render.alert import alert_figure

    backend = DemoBackend(DemoWorkload.generate(end=AT, days=10, seed=7))
    report = run_cycle(backend, AT, timedelta(days=2), playbooks=PLAYBOOKS,
                       deploys=backend.workload.deploys)
    charts = [e.alert().chart for e in report.explained]
    labels: dict[Signal | None, str] = {}
    for chart in [c for c in charts if c is not None]:
        figure = alert_figure(chart, UTC)
        try:
            (axes,) = figure.axes
            labels[chart.signal] = axes.get_ylabel()
            drawn = next(line for line in axes.get_lines() if line.get_label() == chart.label)
            factor = {Signal.LATENCY: 1000, Signal.THROUGHPUT: 1}.get(chart.signal, 100)
            assert list(drawn.get_ydata()) == pytest.approx(
                [v * factor for v in chart.data.values], nan_ok=True)
        finally:
            plt.close(figure)
    assert labels[Signal.LATENCY] == "latency (ms)"
    assert labels[Signal.ERROR_RATIO] == "error ratio (%)"
    assert None not in labels  # each alert's chart knows what it plots
