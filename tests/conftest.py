"""Shared fixtures: the demo workload, and a real Prometheus backfilled with the same data."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.prometheus import PrometheusBackend
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics
from tests.postgres_server import PostgresServer
from tests.prometheus_server import PrometheusServer, find_binaries, write_demo_blocks
from tests.victoria_server import VictoriaServer, find_binary

# `perfbot run` always serves its operational port (server.listen, default 0.0.0.0:8080):
# in tests, a free loopback port, so runs side by side never collide.
os.environ.setdefault("PERFBOT_SERVER__LISTEN", "127.0.0.1:0")

# Fixed, so every run sees the same data; the tests pass this as "now".
DEMO_END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEMO_DAYS = 3
DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo_workload() -> DemoWorkload:
    return DemoWorkload.generate(end=DEMO_END, days=DEMO_DAYS, seed=DEMO_SEED)


@pytest.fixture(scope="session")
def demo_backend(demo_workload: DemoWorkload) -> DemoBackend:
    return DemoBackend(demo_workload)


@pytest.fixture(scope="session")
def prometheus_server(
    demo_workload: DemoWorkload, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """One Prometheus for the whole session, serving the demo workload's OpenMetrics."""
    binaries = find_binaries()
    workdir = tmp_path_factory.mktemp("prometheus")
    files = write_demo_blocks(demo_workload, workdir)
    with PrometheusServer(files, workdir, binaries, query_log=True) as server:
        yield server


def prometheus_backend_for(
    url: str,
    *,
    timeout: timedelta = timedelta(seconds=10),
    retries: int = 2,
    now: datetime = DEMO_END,
    backoff: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
    discovery_lookback: timedelta = timedelta(days=1),
) -> PrometheusBackend:
    """A backend with default metric names, whose clock stands still at ``now``."""
    settings = PrometheusSettings(url=url, timeout=timeout, retries=retries,
                                  discovery_lookback=discovery_lookback)
    return PrometheusBackend(
        settings, MetricNames(), SaturationMetrics(), clock=lambda: now, backoff=backoff,
        sleep=sleep,
    )


@pytest.fixture(scope="session")
def prometheus_backend(prometheus_server: PrometheusServer) -> PrometheusBackend:
    return prometheus_backend_for(prometheus_server.url)


@pytest.fixture(scope="session")
def victoria_server(
    demo_workload: DemoWorkload, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VictoriaServer]:
    """One VictoriaMetrics for the whole session, holding the same OpenMetrics files."""
    binary = find_binary()
    workdir = tmp_path_factory.mktemp("victoria")
    files = write_demo_blocks(demo_workload, workdir)
    with VictoriaServer(files, workdir, binary) as server:
        yield server


# The stores that speak Prometheus's query API which the suite proves perfbot on.
STORES = {"prometheus": PrometheusServer, "victoriametrics": VictoriaServer}
Store = PrometheusServer | VictoriaServer


@pytest.fixture(scope="session", params=list(STORES))
def store(request: pytest.FixtureRequest) -> Store:
    """Each store in turn, holding the demo workload: a test that takes it runs on both."""
    fixture = "prometheus_server" if request.param == "prometheus" else "victoria_server"
    server: Store = request.getfixturevalue(fixture)
    return server


@pytest.fixture(scope="session")
def store_backend(store: Store) -> PrometheusBackend:
    return prometheus_backend_for(store.url)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the whole session (Debian's postgresql)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database of the session's cluster: no test sees another's rows."""
    return postgres_server.create_database()
