"""The shipped playbooks' PromQL against real processes: promtool parses every rendered
query, and a real Prometheus serving the demo runs the diagnostics and gives the evidence
that picks the same playbooks as the demo backend does."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.prometheus import PrometheusBackend
from bot.playbooks.diagnostics import run_diagnostics
from bot.playbooks.loading import load_playbooks, parse_playbook
from bot.playbooks.matching import Situation, match_playbooks
from bot.playbooks.rendering import render_diagnostics
from bot.playbooks.schema import Playbook
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.prometheus_server import PrometheusServer, find_binaries
from tests.unit.test_playbook_files import EXPECTED_FIRST, SHIPPED, demo_situations


@pytest.fixture(scope="module")
def shipped() -> list[Playbook]:
    result = load_playbooks(SHIPPED)
    assert result.problems == [], "\n".join(str(p) for p in result.problems)
    return result.playbooks


def hostile_situation() -> Situation:
    service = 'a"} or vector(1) # \\'
    return Situation.model_validate({
        "signal": "latency", "service": service, "labels": {"namespace": "x\ny"},
        "endpoint": {"service": service, "route": "/a.*{id}|b", "method": "GET"},
    })


def test_every_rendered_query_is_valid_promql(shipped: list[Playbook], tmp_path: Path) -> None:
    """promtool parses each query, rendered with hostile values, as a recording rule."""
    binaries = find_binaries()
    rules = []
    for playbook in shipped:
        for diagnostic in render_diagnostics(playbook, hostile_situation()):
            assert diagnostic.query is not None, (playbook.id, diagnostic.note)
            rules.append({"record": f"check:{playbook.id.replace('-', '_')}:{diagnostic.name}",
                          "expr": diagnostic.query})
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "playbooks", "rules": rules}]}))
    done = subprocess.run([str(binaries.promtool), "check", "rules", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def instant_query(url: str) -> Any:
    """The bot's own instant query, as detection hands it to ``run_diagnostics``."""
    return prometheus_backend_for(url).instant


def test_diagnostics_run_against_real_prometheus(
    shipped: list[Playbook], prometheus_server: PrometheusServer, demo_workload: DemoWorkload,
    demo_backend: DemoBackend,
) -> None:
    query = instant_query(prometheus_server.url)
    situation = Situation.model_validate({"signal": "error_ratio", "service": "payments"})
    generic = next(p for p in shipped if p.id == "generic")
    results = {r.name: r for r in run_diagnostics(generic, situation, query, DEMO_END)}
    # The demo has the HTTP histogram, cAdvisor and kube-state-metrics series: real answers.
    for name in ("request_rate", "error_ratio", "p95", "cpu_of_limit", "memory_of_limit"):
        assert len(results[name].values) == 1 and results[name].note == "", results[name]
    summary = demo_backend.summary(DEMO_END, timedelta(minutes=5))
    payments = summary[summary["service"] == "payments"]["throughput"].sum()
    assert results["request_rate"].values[0].value == pytest.approx(payments, rel=0.05)
    assert "5.." in (results["error_ratio"].query or "")

    # Every shipped diagnostic is accepted by Prometheus, even with hostile values in it.
    for playbook in shipped:
        for result in run_diagnostics(playbook, hostile_situation(), query, DEMO_END):
            assert not result.note.startswith("failed"), (playbook.id, result)
            assert result.values == [], (playbook.id, result)  # hostile text matches nothing


def test_a_query_prometheus_rejects_is_reported_not_raised(
    prometheus_server: PrometheusServer, caplog: pytest.LogCaptureFixture,
) -> None:
    playbook, problems = parse_playbook(
        "id: x\ntitle: x\nsummary: x\nowner: x\nfallback: true\nsteps: x\ndiagnostics:\n"
        "  - {name: broken, query: 'sum(rate(m[5m]) by)'}\n"
        "  - {name: fine, query: 'vector(2)'}\n", Path("x.yaml"))
    assert playbook is not None, problems
    situation = Situation.model_validate({"signal": "cpu", "service": "payments"})
    broken, fine = run_diagnostics(playbook, situation, instant_query(prometheus_server.url),
                                   DEMO_END)
    # The note reaches a channel: the status only; Prometheus's own words go to the log.
    assert broken.note == "failed: the metrics server rejected the query (HTTP 400)"
    assert "parse error" in caplog.text
    assert [v.value for v in fine.values] == [2.0]


def test_evidence_from_real_prometheus_picks_the_same_playbooks(
    shipped: list[Playbook], demo_workload: DemoWorkload, demo_backend: DemoBackend,
    prometheus_backend: PrometheusBackend,
) -> None:
    from_demo = demo_situations(demo_workload, demo_backend)
    from_prometheus = demo_situations(demo_workload, prometheus_backend)
    for kind, situation in from_prometheus.items():
        assert set(situation.evidence) == set(from_demo[kind].evidence), kind
        first = match_playbooks(shipped, situation)[0].playbook.id
        assert first == EXPECTED_FIRST[kind], (kind, situation.evidence)
