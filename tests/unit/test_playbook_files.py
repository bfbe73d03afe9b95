"""The shipped playbooks: they load clean, their PromQL is valid, they match the demo's
incidents as an SRE would expect, and ``perfbot playbooks lint|test`` exit as documented."""

from __future__ import annotations

import argparse
import io
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.cli_playbooks import add_playbook_commands, scenario_situation
from bot.metrics.base import MetricsError, QueryRejectedError
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.prometheus import PrometheusBackend
from bot.playbooks.diagnostics import run_diagnostics
from bot.playbooks.loading import load_playbooks, parse_playbook
from bot.playbooks.matching import Situation, match_playbooks
from bot.playbooks.rendering import render_diagnostics
from bot.playbooks.schema import Playbook
from tests.conftest import DEMO_END
from tests.prometheus_server import PrometheusServer, find_binaries

SHIPPED = Path(__file__).resolve().parents[2] / "playbooks"

# What an experienced SRE would open first for each demo incident.
EXPECTED_FIRST = {
    "latency_step": "slow-db-query",
    "error_spike": "error-spike-after-deploy",
    "cpu_saturation": "cpu-saturation",
    "memory_leak": "memory-leak",
}

# The list: each must have a playbook.
REQUIRED = {
    "slow-db-query", "n-plus-one-queries", "connection-pool-exhaustion", "cpu-saturation",
    "memory-leak", "gc-pauses", "error-spike-after-deploy", "slow-downstream-dependency",
    "cache-miss-storm", "traffic-surge", "disk-io-saturation", "generic",
}


@pytest.fixture(scope="module")
def shipped() -> list[Playbook]:
    result = load_playbooks(SHIPPED)
    assert result.problems == [], "\n".join(str(p) for p in result.problems)
    return result.playbooks


def test_every_shipped_playbook_loads_clean(shipped: list[Playbook]) -> None:
    files = sorted(SHIPPED.glob("*.yaml"))
    assert len(shipped) == len(files) >= 12
    assert {p.id for p in shipped} >= REQUIRED
    for playbook in shipped:
        assert Path(playbook.source.rpartition(":")[0]).stem == playbook.id  # file named by id
        assert playbook.diagnostics and playbook.links, playbook.id
        assert all(link.url.text.startswith("https://") for link in playbook.links)
    assert [p.id for p in shipped if p.fallback] == ["generic"]


def test_steps_name_the_real_tools_and_metrics(shipped: list[Playbook]) -> None:
    text = {p.id: p.steps + " ".join(d.query.text for d in p.diagnostics) for p in shipped}
    expected = {
        "slow-db-query": ["pg_stat_statements", "mean_exec_time", "EXPLAIN (ANALYZE, BUFFERS)",
                          "CREATE INDEX CONCURRENTLY"],
        "cpu-saturation": ["py-spy top --pid", "py-spy record -o", "kubectl scale"],
        "error-spike-after-deploy": ["kubectl rollout undo deployment/{service}"],
        "gc-pauses": ["go_gc_duration_seconds", "jvm_gc_pause_seconds", "GOMEMLIMIT"],
        "memory-leak": ["process_resident_memory_bytes", "tracemalloc", "OOMKilled"],
        "disk-io-saturation": ["node_disk_io_time_seconds_total", "iostat -x"],
        "connection-pool-exhaustion": ["hikaricp_connections_pending", "SHOW POOLS",
                                       "pgbouncer_pools_client_waiting_connections"],
        "traffic-surge": ["maxReplicas", "kube_horizontalpodautoscaler"],
        "slow-downstream-dependency": ["timeout", "circuit breaker", "backoff"],
        "cache-miss-storm": ["redis_keyspace_misses_total", "jitter"],
    }
    for playbook_id, words in expected.items():
        for word in words:
            assert word.lower() in text[playbook_id].lower(), (playbook_id, word)


def demo_situations(workload: DemoWorkload, backend: Any) -> dict[str, Situation]:
    return {s.kind: scenario_situation(s, workload, backend) for s in workload.scenarios}


def test_each_demo_incident_gets_the_right_playbook_first(
    shipped: list[Playbook], demo_workload: DemoWorkload, demo_backend: DemoBackend
) -> None:
    situations = demo_situations(demo_workload, demo_backend)
    assert set(situations) == set(EXPECTED_FIRST)
    for kind, situation in situations.items():
        ranked = match_playbooks(shipped, situation)
        assert ranked[0].playbook.id == EXPECTED_FIRST[kind], (kind, situation.evidence, ranked)
        assert ranked[-1].playbook.fallback
        assert all(r.reasons for r in ranked)


def test_the_missing_index_also_suggests_the_deploy_and_says_why(
    shipped: list[Playbook], demo_workload: DemoWorkload, demo_backend: DemoBackend
) -> None:
    situation = demo_situations(demo_workload, demo_backend)["latency_step"]
    ranked = match_playbooks(shipped, situation)
    assert [m.playbook.id for m in ranked] == [
        "slow-db-query", "latency-regression-after-deploy", "generic"
    ]
    assert ranked[0].score > ranked[1].score
    reasons = " | ".join(ranked[0].reasons)
    assert "`latency_ratio >= 1.5` holds" in reasons and "`cpu <= 0.8` holds" in reasons
    assert situation.evidence["after_deploy"] is True  # the migration ran 7 minutes before


# ---- the PromQL of every shipped diagnostic -----------------------------------------------


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
    """Prometheus's own /api/v1/query, as ``run_diagnostics`` expects it."""

    def query(promql: str, at: datetime) -> Sequence[Any]:
        try:
            reply = httpx.get(f"{url}/api/v1/query",
                              params={"query": promql, "time": at.timestamp()}, timeout=10)
        except httpx.HTTPError as exc:
            raise MetricsError(str(exc)) from exc
        body = reply.json()
        if body.get("status") != "success":
            raise QueryRejectedError(str(body.get("error")))
        result: Sequence[Any] = body["data"]["result"]
        return result

    return query


@pytest.mark.integration
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


@pytest.mark.integration
def test_a_query_prometheus_rejects_is_reported_not_raised(
    prometheus_server: PrometheusServer,
) -> None:
    playbook, problems = parse_playbook(
        "id: x\ntitle: x\nsummary: x\nowner: x\nfallback: true\nsteps: x\ndiagnostics:\n"
        "  - {name: broken, query: 'sum(rate(m[5m]) by)'}\n"
        "  - {name: fine, query: 'vector(2)'}\n", Path("x.yaml"))
    assert playbook is not None, problems
    situation = Situation.model_validate({"signal": "cpu", "service": "payments"})
    broken, fine = run_diagnostics(playbook, situation, instant_query(prometheus_server.url),
                                   DEMO_END)
    assert broken.note.startswith("failed: ") and "parse error" in broken.note
    assert [v.value for v in fine.values] == [2.0]


@pytest.mark.integration
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


# ---- the commands -------------------------------------------------------------------------


def run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="perfbot")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    common.add_argument("--at")
    add_playbook_commands(parser.add_subparsers(required=True), common)
    args = parser.parse_args(argv)
    out = io.StringIO()
    code: int = args.func(args, out)
    return code, out.getvalue()


@pytest.fixture(autouse=True)
def no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)


def test_lint_passes_on_the_shipped_playbooks() -> None:
    code, text = run(["playbooks", "lint", str(SHIPPED)])
    count = len(list(SHIPPED.glob("*.yaml")))
    assert (code, text) == (0, f"✓ {count} playbooks in {SHIPPED}: no problems\n")


def test_lint_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    good = (SHIPPED / "memory-leak.yaml").read_text()
    (folder / "good.yaml").write_text(good)
    bad = good.replace("id: memory-leak", "id: bad").replace(
        "memory_growth_per_day >= 0.02", "memory_growth >= 0.02")
    (folder / "bad.yaml").write_text(bad)
    (folder / "twin.yaml").write_text(good)
    line = next(n for n, text in enumerate(bad.splitlines()) if "- memory_growth >=" in text)
    code, text = run(["playbooks", "lint", str(folder)])
    lines = text.splitlines()
    assert code == 1
    assert lines[0].startswith(f"{folder / 'bad.yaml'}:{line + 1}: match.conditions[0]: "
                               "unknown evidence 'memory_growth' in 'memory_growth >= 0.02' "
                               "(did you mean 'memory_growth_per_day'?)")
    assert lines[1] == (f"{folder / 'twin.yaml'}:1: duplicate id 'memory-leak': "
                        f"{folder / 'good.yaml'}:1 has it already")
    assert lines[2] == "✗ 2 problems in 2 files; 1 playbook valid"


def test_lint_uses_the_configured_folder_and_exits_2_without_it(tmp_path: Path) -> None:
    (tmp_path / "perfbot.yaml").write_text(f"playbooks_dir: {SHIPPED}\n")
    assert run(["playbooks", "lint"])[0] == 0
    code, text = run(["playbooks", "lint", str(tmp_path / "missing")])
    assert code == 2 and "no such folder of playbooks" in text
    (tmp_path / "empty").mkdir()
    assert run(["playbooks", "lint", str(tmp_path / "empty")]) == (
        1, f"✗ no playbooks (*.yaml) in {tmp_path / 'empty'}\n")


def first_matches(text: str) -> dict[str, str]:
    """Incident title → the id of its first playbook, from the output of ``test``."""
    firsts, title = {}, ""
    for line in text.splitlines():
        if line.startswith("■ "):
            title = line[2:]
        elif line.startswith("  1. ") and title:
            firsts[title] = line[5:].split(" — ")[0]
    return firsts


@pytest.fixture
def small_demo(tmp_path: Path) -> None:
    """Three days of demo (the session fixture's), not thirty: the same incidents, faster."""
    (tmp_path / "perfbot.yaml").write_text("metrics:\n  demo_days: 3\n")


@pytest.mark.usefixtures("small_demo")
def test_test_shows_the_first_playbook_of_each_incident(demo_workload: DemoWorkload) -> None:
    code, text = run(["playbooks", "test", str(SHIPPED), "--at", DEMO_END.isoformat()])
    assert code == 0
    titles = {s.kind: s.title for s in demo_workload.scenarios}
    assert first_matches(text) == {titles[k]: EXPECTED_FIRST[k] for k in EXPECTED_FIRST}
    assert "✓ `latency_ratio >= 1.5` holds" in text


@pytest.mark.usefixtures("small_demo")
def test_test_verbose_says_why_the_others_did_not_match() -> None:
    code, text = run(["playbooks", "test", str(SHIPPED), "-v", "--at", DEMO_END.isoformat()])
    assert code == 0
    assert "gc-pauses: signal memory is not one of: latency, cpu; `gc_time_ratio >= 0.05`: " \
           "no gc_time_ratio evidence for this alert" in text
    assert 'working_set_by_pod: max by (pod) (container_memory_working_set_bytes' \
           '{container="menu"})' in text


@pytest.mark.usefixtures("small_demo")
def test_test_still_runs_with_a_broken_playbook_and_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "cpu.yaml").write_text((SHIPPED / "cpu-saturation.yaml").read_text())
    (folder / "broken.yaml").write_text("id: [\n")
    code, text = run(["playbooks", "test", str(folder), "--at", DEMO_END.isoformat()])
    assert code == 1
    assert text.startswith(f"{folder / 'broken.yaml'}:2: not valid YAML")
    assert "search CPU saturation at dinner" in first_matches(text)


def test_test_refuses_a_bad_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(["playbooks", "test", str(SHIPPED), "--at", "yesterday"])
    assert code == 2 and "--at: expected a time like" in capsys.readouterr().err
