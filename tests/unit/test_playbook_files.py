"""The shipped playbooks: they load clean, they match the demo's incidents as an SRE would
expect, and ``perfbot playbooks lint|test`` exit as documented. Their PromQL, checked by
promtool and a real Prometheus, is in ``tests/integration/test_playbook_queries.py``."""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path
from typing import Any

import pytest

from bot.cli_playbooks import add_playbook_commands, scenario_situation
from bot.metrics.base import Signal
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.playbooks.loading import load_playbooks
from bot.playbooks.matching import Situation, match_playbooks
from bot.playbooks.rendering import render_steps
from bot.playbooks.schema import Playbook
from bot.playbooks.templates import PLACEHOLDERS
from tests.conftest import DEMO_END

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
    "cache-miss-storm", "traffic-surge", "disk-io-saturation", "generic", "traffic-drop",
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
        "traffic-drop": ["upstream", "nginx_ingress_controller_requests", "client release",
                         "dig +short", "429", "probe_success", "up{"],
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


def test_every_placeholder_in_the_shipped_steps_is_filled_for_the_demo(
    shipped: list[Playbook], demo_workload: DemoWorkload, demo_backend: DemoBackend
) -> None:
    situations = list(demo_situations(demo_workload, demo_backend).values())
    # A service-level alert too: no endpoint, so {endpoint} and {route} have no value.
    situations.append(situations[0].model_copy(update={"endpoint": None}))
    left = re.compile("|".join(re.escape("{" + name + "}") for name in PLACEHOLDERS))
    for situation in situations:
        for playbook in shipped:
            steps = render_steps(playbook, situation)
            assert not left.search(steps), (playbook.id, left.findall(steps))
    latency = demo_situations(demo_workload, demo_backend)["latency_step"]
    assert latency.endpoint is not None
    slow_db = next(p for p in shipped if p.id == "slow-db-query")
    assert f"p95 of {latency.endpoint.key} is back at its baseline" in render_steps(
        slow_db, latency)


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


def test_without_cpu_and_memory_metrics_the_incidents_keep_their_playbooks(
    shipped: list[Playbook], demo_workload: DemoWorkload, demo_backend: DemoBackend
) -> None:
    # A Prometheus without cAdvisor: no cpu or memory evidence. The missing index still
    # gets its playbook (its `cpu <= 0.8` is unknown, not false), not only the generic one.
    situation = demo_situations(demo_workload, demo_backend)["latency_step"]
    evidence = {k: v for k, v in situation.evidence.items()
                if k not in ("cpu", "memory", "memory_growth_per_day")}
    blind = situation.model_copy(update={"evidence": evidence})
    ranked = match_playbooks(shipped, blind)
    assert [m.playbook.id for m in ranked] == [
        "latency-regression-after-deploy", "slow-db-query", "generic"
    ]
    assert ranked[0].unknown == [] and ranked[1].unknown == ["cpu <= 0.8"]


def test_a_traffic_drop_gets_the_traffic_drop_playbook(shipped: list[Playbook]) -> None:
    situation = Situation(signal=Signal.THROUGHPUT, service="orders",
                          evidence={"throughput_ratio": 0.2, "change": "drop",
                                    "after_deploy": False})
    ranked = match_playbooks(shipped, situation)
    assert [m.playbook.id for m in ranked] == ["traffic-drop", "generic"]
    assert ranked[0].reasons[-1] == "`throughput_ratio <= 0.5` holds (throughput_ratio is 0.2)"


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


def test_lint_rejects_steps_with_a_placeholder_they_cannot_fill(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    good = (SHIPPED / "slow-db-query.yaml").read_text()
    bad = good.replace("p95 of {endpoint} is back", "p95 over {window} is back")
    assert bad != good
    (folder / "slow-db-query.yaml").write_text(bad)
    line = next(n for n, text in enumerate(bad.splitlines()) if "{window} is back" in text)
    code, text = run(["playbooks", "lint", str(folder)])
    assert code == 1
    assert text.splitlines()[0] == (
        f"{folder / 'slow-db-query.yaml'}:{line + 1}: steps: {{window}} cannot be filled in "
        "steps (it is for queries); steps can use {service}, {endpoint}, {route}, {method}, "
        "{namespace}, {instance}, {http_histogram}, {service_label}, {route_label}, "
        "{method_label}, {status_label}, {container_label}")


def test_lint_says_what_was_expected_and_what_it_got(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    good = (SHIPPED / "slow-db-query.yaml").read_text()
    bad = (good.replace("signals: [latency]", "signals: [latncy]", 1)
           .replace("unit: seconds", "unit: secs", 1).replace("title: ", "title: 3 #", 1))
    (folder / "slow-db-query.yaml").write_text(bad)
    lines = bad.splitlines()

    def at(text: str) -> int:
        return next(n for n, line in enumerate(lines) if text in line) + 1

    code, text = run(["playbooks", "lint", str(folder)])
    where = folder / "slow-db-query.yaml"
    assert code == 1
    assert text.splitlines()[:-1] == [
        f"{where}:{at('title: 3')}: title: expected a valid string, got 3",
        f"{where}:{at('[latncy]')}: match.signals[0]: expected one of 'latency', "
        "'throughput', 'error_ratio', 'cpu' or 'memory', got 'latncy' (did you mean "
        "'latency'?)",
        f"{where}:{at('unit: secs')}: diagnostics[0].unit: expected one of '', 'seconds', "
        "'ratio', 'bytes', 'per_second', 'count' or 'cores', got 'secs' (did you mean "
        "'seconds'?)",
    ]
    assert "Input should" not in text


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


@pytest.mark.usefixtures("small_demo")
def test_test_shows_the_conditions_it_could_not_check(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "generic.yaml").write_text((SHIPPED / "generic.yaml").read_text())
    (folder / "gc-too.yaml").write_text(
        "id: gc-too\ntitle: Slower, maybe GC\nsummary: s\nowner: sre\nsteps: s\n"
        "match:\n  signals: [latency]\n  conditions: [latency_ratio >= 1.5, gc_time_ratio < 0.5]\n")
    code, text = run(["playbooks", "test", str(folder), "--at", DEMO_END.isoformat()])
    assert code == 0
    # The latency step's incident: gc-too is first, its GC condition unknown on the demo.
    slower = next(b for b in text.split("■ ")[1:] if "  1. gc-too" in b)
    assert "✓ `latency_ratio >= 1.5` holds" in slower
    assert "? `gc_time_ratio < 0.5`: unknown, no evidence (ranked lower)" in slower
