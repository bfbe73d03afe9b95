"""Saturation and cost without Kubernetes, against a real Prometheus: OpenTelemetry-named HTTP
metrics with only the client libraries' ``process_*`` metrics (and node_exporter, or nothing
at all), no cAdvisor and no kube-state-metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.analytics.prices import CostSettings
from bot.cost import endpoint_costs, service_costs
from bot.digests.capacity import capacity_forecasts
from bot.metrics.base import Endpoint, NoDataError, Resource, Signal, Window
from bot.metrics.prometheus import PrometheusBackend
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics
from bot.playbooks.diagnostics import gather_evidence
from bot.playbooks.loading import load_playbooks
from bot.playbooks.matching import Situation, match_playbooks
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.prometheus_server import PrometheusServer, find_binaries

MINUTES = 180
GIB = 2**30
HIST = "http_server_request_duration_seconds"
# service, route, method, requests per second, mean seconds per request (before, after STEP)
ROUTES = [
    ("shop", "/api/items", "GET", 2.0, (0.1, 0.5)),  # a latency step: a slow query
    ("shop", "/api/cart", "POST", 1.0, (0.6, 0.6)),
    ("blog", "/", "GET", 1.0, (0.2, 0.2)),
]
STEP_MINUTE = MINUTES - 40  # 40 minutes before the end, on the 5-minute grid
# Requests under 0.1 s land in the (0, 0.25] bucket, those of 0.5 s in (0.25, 1.0].
FAST_P95, SLOW_P95 = 0.25 * 0.95, 0.25 + 0.75 * 0.95
# job, instance, cores in use, GiB resident: shop runs on two hosts
PROCESSES = [
    ("shop", "app1:8000", 0.5, 1.0),
    ("shop", "app2:8000", 0.25, 0.5),
    ("blog", "app3:8000", 0.1, 0.25),
]
# node_exporter on app1 only: 2 CPUs idle 60% of the time, 6 of 8 GiB available.
NODE_IDLE, NODE_CPUS, NODE_TOTAL_GIB, NODE_AVAILABLE_GIB = 0.6, 2, 8.0, 6.0
PRICES = CostSettings()  # the default price table, no per-request or fixed prices
TWO_HOURS = (DEMO_END - timedelta(hours=2), DEMO_END)
ITEMS = Endpoint(service="shop", route="/api/items", method="GET")
CART = Endpoint(service="shop", route="/api/cart", method="POST")
WINDOW = Window(start=DEMO_END - timedelta(minutes=30), end=DEMO_END,
                step=timedelta(minutes=5))


def openmetrics(end: datetime, *, process: bool, node: bool) -> str:
    first = int(end.timestamp()) - MINUTES * 60
    stamps = [first + m * 60 for m in range(MINUTES + 1)]
    lines = [f"# TYPE {HIST} histogram"]
    for service, route, method, rate, (before, after) in ROUTES:
        labels = (f'job="{service}",http_route="{route}",http_request_method="{method}",'
                  'http_response_status_code="200"')
        for m, ts in enumerate(stamps):
            count = round(m * 60 * rate)
            early = round(min(m, STEP_MINUTE) * 60 * rate)  # served before the step
            fast = early if before <= 0.25 else 0
            fast += count - early if after <= 0.25 else 0
            seconds = early * before + (count - early) * after
            lines.append(f'{HIST}_bucket{{{labels},le="0.25"}} {fast} {ts}')
            lines.append(f'{HIST}_bucket{{{labels},le="1.0"}} {count} {ts}')
            lines.append(f'{HIST}_bucket{{{labels},le="+Inf"}} {count} {ts}')
            lines.append(f"{HIST}_sum{{{labels}}} {seconds:.3f} {ts}")
            lines.append(f"{HIST}_count{{{labels}}} {count} {ts}")
    if process:
        lines.append("# TYPE process_cpu_seconds counter")
        for job, instance, cores, _ in PROCESSES:
            lines.extend(f'process_cpu_seconds_total{{job="{job}",instance="{instance}"}} '
                         f"{m * 60 * cores!r} {ts}" for m, ts in enumerate(stamps))
        lines.append("# TYPE process_resident_memory_bytes gauge")
        for job, instance, _, gib in PROCESSES:
            lines.extend(f'process_resident_memory_bytes{{job="{job}",instance="{instance}"}} '
                         f"{gib * GIB!r} {ts}" for ts in stamps)
    if node:
        node_labels = 'instance="app1:9100",job="node"'
        lines.append("# TYPE node_cpu_seconds counter")
        for cpu in range(NODE_CPUS):
            for mode, share in (("idle", NODE_IDLE), ("user", 1 - NODE_IDLE)):
                lines.extend(f'node_cpu_seconds_total{{{node_labels},cpu="{cpu}",mode="{mode}"}} '
                             f"{m * 60 * share!r} {ts}" for m, ts in enumerate(stamps))
        for name, gib in (("node_memory_MemTotal_bytes", NODE_TOTAL_GIB),
                          ("node_memory_MemAvailable_bytes", NODE_AVAILABLE_GIB)):
            lines.append(f"# TYPE {name} gauge")
            lines.extend(f"{name}{{{node_labels}}} {gib * GIB!r} {ts}" for ts in stamps)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def serve(factory: pytest.TempPathFactory, name: str, *, process: bool,
          node: bool) -> Iterator[PrometheusServer]:
    workdir = factory.mktemp(name)
    source = workdir / "metrics.om"
    source.write_text(openmetrics(DEMO_END, process=process, node=node), encoding="utf-8")
    with PrometheusServer(source, workdir / "server", find_binaries()) as server:
        yield server


@pytest.fixture(scope="module")
def process_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    yield from serve(tmp_path_factory, "process", process=True, node=False)


@pytest.fixture(scope="module")
def node_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    yield from serve(tmp_path_factory, "node", process=True, node=True)


@pytest.fixture(scope="module")
def http_only_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    yield from serve(tmp_path_factory, "http-only", process=False, node=False)


def perfbot(url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``perfbot <args>`` as a real process, on a settings file pointing at ``url``."""
    config = workdir / "perfbot.yaml"
    config.write_text(f"metrics:\n  backend: prometheus\n  prometheus:\n    url: {url}\n"
                      "    timeout: 5s\n    retries: 0\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PERFBOT_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--config", str(config), "--at",
         DEMO_END.isoformat()],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=120, check=False,
    )


def by_hand(job: str) -> float:
    """The service's CPU and memory over the two hours at the price table, from the samples."""
    cores = sum(c for j, _, c, _ in PROCESSES if j == job)
    gib = sum(g for j, _, _, g in PROCESSES if j == job)
    return (cores * PRICES.core_hour + gib * PRICES.gib_hour) * 2


# ---- process_* metrics only ---------------------------------------------------------------


def test_cost_is_priced_from_process_metrics(process_server: PrometheusServer) -> None:
    backend = prometheus_backend_for(process_server.url)
    shop, blog = service_costs(backend, PRICES, *TWO_HOURS)
    assert (shop.subject, blog.subject) == ("shop", "blog")
    assert shop.total == pytest.approx(by_hand("shop"), rel=1e-6)
    assert blog.total == pytest.approx(by_hand("blog"), rel=1e-6)
    assert shop.note == ("price table: 0.0316 USD/core-hour on CPU in use (no limits found), "
                         "0.0042 USD/GiB-hour on memory in use (no limits found)")
    # Shared out to the endpoints by busy time, as with cAdvisor: over the two hours, items
    # served 80 minutes at 0.1 s and 40 at 0.5 s, cart 120 minutes at 0.6 s.
    items, cart = endpoint_costs(backend, PRICES, *TWO_HOURS, [ITEMS, CART])
    items_busy, cart_busy = 2 * (80 * 0.1 + 40 * 0.5), 1 * 120 * 0.6
    share = items_busy / (items_busy + cart_busy)
    assert items.total == pytest.approx(by_hand("shop") * share, rel=1e-4)
    assert cart.total == pytest.approx(by_hand("shop") * (1 - share), rel=1e-4)


def test_process_metrics_are_found_by_the_service_label_of_the_http_metrics(
    process_server: PrometheusServer,
) -> None:
    backend = prometheus_backend_for(process_server.url)
    found = backend.saturation_found()
    assert found.source == "process"
    assert found.metrics.service_label == "job"
    assert (found.metrics.cpu_limit, found.metrics.memory_limit) == (None, None)
    cores = backend.resource(WINDOW, Resource.CPU_CORES)
    assert cores["shop"].to_numpy() == pytest.approx(0.75)
    assert cores["blog"].to_numpy() == pytest.approx(0.1)


def backend_with(url: str, saturation: SaturationMetrics) -> PrometheusBackend:
    return PrometheusBackend(PrometheusSettings(url=url), MetricNames(), saturation,
                             clock=lambda: DEMO_END)


def test_the_defaults_spelled_out_in_the_settings_still_detect(
    process_server: PrometheusServer,
) -> None:
    # As a copy of perfbot.example.yaml writes them: the same as leaving them out.
    defaults = SaturationMetrics()
    spelled = SaturationMetrics(**defaults.model_dump())
    found = backend_with(process_server.url, spelled).saturation_found()
    assert (found.source, found.metrics.service_label) == ("process", "job")


def test_metrics_set_in_the_settings_are_used_as_written(
    process_server: PrometheusServer,
) -> None:
    own = SaturationMetrics(service_label="instance", cpu_usage="process_cpu_seconds_total",
                            memory_usage="process_resident_memory_bytes")
    backend = backend_with(process_server.url, own)
    found = backend.saturation_found()
    assert found.source == "configured"
    # The default limits it kept have no series: warnings naming the settings, not failures.
    assert [(c.name, c.ok, c.warning) for c in found.problems] == [
        ("cpu limit", True, True), ("memory limit", True, True),
    ]
    assert "from metrics.saturation.cpu_limit in the settings" in found.problems[0].detail
    cores = backend.resource(WINDOW, Resource.CPU_CORES)
    assert sorted(cores.columns) == ["app1:8000", "app2:8000", "app3:8000"]
    assert cores["app2:8000"].to_numpy() == pytest.approx(0.25)


def test_without_limits_there_is_no_saturation_figure(process_server: PrometheusServer) -> None:
    backend = prometheus_backend_for(process_server.url)
    with pytest.raises(NoDataError, match=r"no CPU saturation figure: process_\* metrics by "
                                          r"job has CPU in use but no CPU limits"):
        backend.cpu(WINDOW, ["shop"])
    with pytest.raises(NoDataError, match="no memory saturation figure"):
        backend.memory(WINDOW)
    with pytest.raises(NoDataError, match="no cpu limit cores data"):
        backend.resource(WINDOW, Resource.CPU_LIMIT_CORES)


def test_a_latency_step_without_cpu_data_still_gets_its_playbook(
    process_server: PrometheusServer,
) -> None:
    # The issue: every alert got only the generic playbook, slow-db-query wanting `cpu <= 0.8`.
    backend = prometheus_backend_for(process_server.url)
    step = DEMO_END - timedelta(minutes=MINUTES - STEP_MINUTE)
    evidence = gather_evidence(backend, service="shop", endpoint=ITEMS, at=DEMO_END,
                               baseline_at=step - timedelta(minutes=20), since=step)
    assert "cpu" not in evidence and "memory" not in evidence
    assert evidence["latency_ratio"] == pytest.approx(SLOW_P95 / FAST_P95, rel=1e-6)
    assert evidence["throughput_ratio"] == pytest.approx(1.0, rel=1e-6)
    situation = Situation(signal=Signal.LATENCY, service="shop", endpoint=ITEMS,
                          evidence=evidence | {"change": "step"}, at=DEMO_END)
    shipped = load_playbooks(Path(__file__).resolve().parents[2] / "playbooks").playbooks
    ranked = match_playbooks(shipped, situation)
    assert [m.playbook.id for m in ranked] == ["slow-db-query", "generic"]
    assert ranked[0].unknown == ["cpu <= 0.8"]


def test_the_digest_says_why_it_has_no_capacity_forecast(
    process_server: PrometheusServer,
) -> None:
    backend = prometheus_backend_for(process_server.url)
    with pytest.raises(NoDataError) as caught:
        capacity_forecasts(backend, ["shop", "blog"], DEMO_END, history=timedelta(hours=3))
    assert str(caught.value) == (
        "no CPU saturation figure: process_* metrics by job has CPU in use but no CPU limits, "
        "and there is no node_exporter; no memory saturation figure: process_* metrics by job "
        "has memory in use but no memory limits, and there is no node_exporter"
    )


def test_check_config_warns_names_the_source_and_exits_0(
    process_server: PrometheusServer, tmp_path: Path,
) -> None:
    done = perfbot(process_server.url, tmp_path, "check-config")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "✗" not in done.stdout
    assert ("⚠ saturation: process_* metrics by job (CPU, memory; no limits — no saturation %)"
            in lines)
    assert "✓ cost: priced from CPU and memory in use (no limits)" in lines
    assert "✓ catalog: 3 endpoints in 2 services" in lines


# ---- node_exporter next to process_* --------------------------------------------------------


def test_node_exporter_gives_a_host_level_saturation(node_server: PrometheusServer) -> None:
    backend = prometheus_backend_for(node_server.url)
    cpu = backend.cpu(WINDOW, ["shop", "blog"])
    # shop runs on app1 (node_exporter there) and app2 (none): app1's busy share.
    assert cpu["shop"].to_numpy() == pytest.approx(1 - NODE_IDLE)
    assert cpu["blog"].isna().all()  # app3 has no node_exporter: no figure, not a guess
    memory = backend.memory(WINDOW, ["shop"])
    assert memory["shop"].to_numpy() == pytest.approx(1 - NODE_AVAILABLE_GIB / NODE_TOTAL_GIB)
    # Cost still comes from the service's own usage, not the host's.
    shop, _ = service_costs(backend, PRICES, *TWO_HOURS)
    assert shop.total == pytest.approx(by_hand("shop"), rel=1e-6)


def test_check_config_names_node_exporter(node_server: PrometheusServer, tmp_path: Path) -> None:
    done = perfbot(node_server.url, tmp_path, "check-config")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("✓ saturation: process_* metrics by job (CPU, memory; no limits — host-level % "
            "from node_exporter)") in done.stdout.splitlines()


# ---- HTTP metrics only ----------------------------------------------------------------------


def test_without_resource_metrics_cost_says_so_instead_of_zero(
    http_only_server: PrometheusServer,
) -> None:
    backend = prometheus_backend_for(http_only_server.url)
    assert backend.saturation_found().source == "none"
    with pytest.raises(NoDataError, match=r"no resource data for services 'blog', 'shop' "
                                          r"between .*: no CPU or memory metrics to price"):
        service_costs(backend, PRICES, *TWO_HOURS)
    with pytest.raises(NoDataError, match="no resource data for service 'shop'"):
        service_costs(backend, PRICES, *TWO_HOURS, ["shop"])
    # A price on requests is something to price: that figure stands, with its note.
    (shop,) = service_costs(backend, CostSettings(per_million_requests=1.0), *TWO_HOURS,
                            ["shop"])
    assert shop.total == pytest.approx(3 * 7200 / 1e6, rel=1e-6)
    assert shop.note.startswith("no CPU or memory figures for this service")


def test_a_cost_question_on_http_only_data_says_there_is_no_resource_data(
    http_only_server: PrometheusServer, tmp_path: Path,
) -> None:
    done = perfbot(http_only_server.url, tmp_path, "ask", "how much does shop cost per day?")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no resource data for service 'shop'" in done.stderr
    assert "0.00" not in done.stdout + done.stderr


def test_check_config_on_http_only_data_warns_and_exits_0(
    http_only_server: PrometheusServer, tmp_path: Path,
) -> None:
    done = perfbot(http_only_server.url, tmp_path, "check-config")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "✗" not in done.stdout
    assert any(line.startswith("✓ metric names: otel") for line in lines)
    assert any(line.startswith("⚠ saturation: no resource metrics found (looked for "
                               "container_cpu_usage_seconds_total, process_cpu_seconds_total")
               for line in lines)
    assert any(line.startswith("⚠ cost: no resource metrics") for line in lines)
