"""Shared set-up of the benchmarks that answer questions against a real Prometheus.

``start_server`` loads the demo workload into Prometheus the way the tests do
(``tests/prometheus_server.py``); ``sources`` builds the bot's backend and catalog on it;
``timed``, ``p95``, ``queries_of`` and ``replay`` time answers and raw PromQL alike.
Imported by ``ask_latency.py`` and ``answer_ratio.py`` (run from the repository root).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/prometheus_server.py starts the server

from bot.analytics.prices import CostSettings  # noqa: E402
from bot.ask.answer import Sources  # noqa: E402
from bot.catalog import Catalog  # noqa: E402
from bot.catalog.settings import CatalogSettings  # noqa: E402
from bot.metrics.demo import DemoWorkload  # noqa: E402
from bot.metrics.prometheus import PrometheusBackend  # noqa: E402
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics  # noqa: E402
from tests.prometheus_server import PrometheusServer, find_binaries, write_demo_blocks  # noqa: E402

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def start_server(days: int, workdir: Path) -> PrometheusServer:
    workload = DemoWorkload.generate(end=END, days=days, seed=7)
    files = write_demo_blocks(workload, workdir)
    return PrometheusServer(files, workdir, find_binaries(), query_log=True).start()


def backend_on(server: PrometheusServer) -> PrometheusBackend:
    return PrometheusBackend(
        PrometheusSettings(url=server.url, timeout=timedelta(seconds=30), retries=0),
        MetricNames(), SaturationMetrics(), clock=lambda: END,
    )


def sources_on(backend: PrometheusBackend, cost: CostSettings | None = None) -> Sources:
    """What the answers read: ``backend``, its catalog, UTC, and ``cost``'s prices."""
    catalog = Catalog.build(backend.endpoints(), CatalogSettings())
    return Sources(backend=backend, catalog=catalog, tz=ZoneInfo("UTC"),
                   cost=cost or CostSettings())


def timed(action: Callable[[], Any], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def queries_of(log: Path, offset: int) -> list[dict[str, Any]]:
    with log.open("rb") as file:
        file.seek(offset)
        lines = file.read().decode("utf-8").splitlines()
    return [json.loads(line)["params"] for line in lines if line.strip()]


def replay(session: requests.Session, url: str, params: list[dict[str, Any]]) -> None:
    """Queries straight over HTTP, one after another."""
    for p in params:
        if p.get("step"):
            response = session.get(f"{url}/api/v1/query_range", params={
                "query": p["query"], "start": p["start"], "end": p["end"], "step": p["step"]})
        else:
            response = session.get(f"{url}/api/v1/query", params={
                "query": p["query"], "time": p["end"]})
        response.raise_for_status()
