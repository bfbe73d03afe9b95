"""Many services in few queries, on a real Prometheus and a real VictoriaMetrics (issue 16).

A service's pooled latency ("top 5 slowest services") was one query per service; now the
groups share tagged queries, split to fit the query length. CPU, memory and cost queries
name every service in one regex: VictoriaMetrics refuses one over 16 KB
(``-search.maxQueryLen``) with HTTP 422, so they are split like the HTTP ones.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import requests

from bot.figures import whole_window
from bot.metrics.base import Endpoint, NoDataError, Resource, Window
from bot.metrics.demo import DemoWorkload
from bot.metrics.prometheus import PrometheusBackend
from bot.metrics.prometheus.backend import MAX_QUERY_BYTES
from bot.metrics.promql import escape_label_value
from tests.conftest import DEMO_END, Store, prometheus_backend_for

WINDOW = Window(start=DEMO_END - timedelta(hours=6), end=DEMO_END, step=timedelta(minutes=5))
WHOLE = whole_window(DEMO_END - timedelta(hours=24), DEMO_END)
# Names no series has, long enough that naming 1,500 of them passes 16 KB many times.
ABSENT = [f"nobody-of-the-catalog-{n:04d}" for n in range(1500)]


@pytest.fixture
def recorded(store: Store) -> tuple[PrometheusBackend, list[str]]:
    """A backend of its own and the URL of every request its session sends."""
    backend = prometheus_backend_for(store.url)
    sent: list[str] = []

    def record(response: requests.Response, *_: Any, **__: Any) -> None:
        sent.append(str(response.request.url))

    backend._client._session.hooks["response"].append(record)
    backend.http_metrics()  # discovery, before the requests counted
    sent.clear()
    return backend, sent


def _queries(sent: list[str]) -> list[str]:
    return [parse_qs(urlsplit(url).query)["query"][0] for url in sent
            if "/api/v1/query" in url]


def _exact_pooled(store: Store, backend: PrometheusBackend, window: Window, quantile: float,
                  members: list[Endpoint]) -> pd.Series:
    """The group's quantile as the test writes it: every endpoint's exact selector, joined
    with ``or`` (what the backend sent per group before), read straight from the server."""
    http = backend.http_metrics()
    w = f"{int(window.lookback.total_seconds())}s"
    rates = " or ".join(
        f'rate({http.histogram}_bucket{{{http.service_label}="{escape_label_value(e.service)}", '
        f'{http.route_label}="{escape_label_value(e.route)}", '
        f'{http.method_label}="{escape_label_value(e.method)}"}}[{w}])'
        for e in members)
    query = f"histogram_quantile({quantile!r}, sum by (le) ({rates}))"
    start, end = window.start.timestamp(), window.end.timestamp()
    if window.last_only:
        start = end
    answer = requests.get(f"{store.url}/api/v1/query_range", timeout=30, params={
        "query": query, "start": start, "end": end,
        "step": window.step.total_seconds(), "nocache": 1}).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    values = result[0]["values"] if result else []
    return pd.Series([float(v) for _, v in values], dtype=float,
                     index=pd.to_datetime([t for t, _ in values], unit="s", utc=True))


def groups_of(demo_workload: DemoWorkload) -> dict[str, list[Endpoint]]:
    """Each demo service's endpoints; a group of part of a service, across its methods (the
    cross product of its routes and methods would pick endpoints outside the group); a group
    across services; and hundreds of services without data, around them."""
    groups: dict[str, list[Endpoint]] = {}
    for n, name in enumerate(ABSENT[:300]):
        groups[name] = [Endpoint(service=name, route=f"/api/unknown/{n}", method="GET")]
    for service in demo_workload.services:
        groups[service] = [e for e in demo_workload.endpoints if e.service == service]
    orders = {(e.route, e.method): e for e in demo_workload.endpoints if e.service == "orders"}
    groups["orders, part"] = [orders["/api/orders", "POST"], orders["/api/orders/history", "GET"]]
    groups["web and menu"] = [e for e in demo_workload.endpoints if e.service in ("web", "menu")]
    for n, name in enumerate(ABSENT[300:600]):
        groups[name] = [Endpoint(service=name, route=f"/api/unknown/{n}", method="POST")]
    return groups


@pytest.mark.parametrize("window", [WINDOW, WHOLE], ids=["series", "figure"])
def test_pooled_latency_of_many_groups_is_each_groups_own_in_few_queries(
    store: Store, recorded: tuple[PrometheusBackend, list[str]], demo_workload: DemoWorkload,
    window: Window,
) -> None:
    backend, sent = recorded
    groups = groups_of(demo_workload)
    frame = backend.pooled_latency(window, 0.95, groups)
    queries = _queries(sent)
    # 611 groups: one query each before; now tagged unions, each within the length limit.
    assert 1 < len(queries) <= 16, len(queries)
    assert all(len(q.encode()) <= MAX_QUERY_BYTES for q in queries)
    assert list(frame.columns) == list(groups)
    assert frame[ABSENT[:600]].isna().all().all()
    for name in [*demo_workload.services, "orders, part", "web and menu"]:
        expected = _exact_pooled(store, backend, window, 0.95, groups[name])
        assert expected.notna().any(), name
        np.testing.assert_allclose(frame[name].to_numpy(),
                                   expected.reindex(frame.index).to_numpy(), rtol=1e-9,
                                   err_msg=name)
    # The part of orders is not all of orders: the test can tell a selector that over-picks.
    assert not np.allclose(frame["orders, part"], frame["orders"], equal_nan=True)


def test_saturation_of_hundreds_of_services_is_read(
    store_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    # 1,507 services in one regex make the query over 40 KB: VictoriaMetrics refused it.
    services = [*ABSENT[:750], *demo_workload.services, *ABSENT[750:]]
    reads = {
        "cpu": lambda chosen: store_backend.cpu(WINDOW, chosen),
        "memory": lambda chosen: store_backend.memory(WINDOW, chosen),
        "cpu cores": lambda chosen: store_backend.resource(WINDOW, Resource.CPU_CORES, chosen),
        "memory limit": lambda chosen: store_backend.resource(
            WINDOW, Resource.MEMORY_LIMIT_BYTES, chosen),
    }
    for what, read in reads.items():
        frame = read(services)
        assert list(frame.columns) == services, what
        alone = read(demo_workload.services)
        np.testing.assert_allclose(frame[alone.columns].to_numpy(), alone.to_numpy(),
                                   err_msg=what)
        assert frame[ABSENT].isna().all().all(), what


def test_cost_of_hundreds_of_services_without_opencost_says_so(
    store_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    # The demo has no OpenCost metrics: the answer is "no OpenCost data" (then the price
    # table), not the server's refusal of a query too long.
    services = [*ABSENT, *demo_workload.services]
    with pytest.raises(NoDataError, match="no OpenCost data"):
        store_backend.opencost_hourly(WINDOW, services)


def _many_endpoints(demo_workload: DemoWorkload) -> list[Endpoint]:
    """The demo's endpoints spread among 1,500 without data (named in one query, over 40 KB),
    those on the demo's routes and methods: a service's endpoints fall in several parts, and
    each part's alternations (services × routes × methods) pick series of the others."""
    demo = demo_workload.endpoints
    many = [Endpoint(service=name, route=demo[n % len(demo)].route, method=method)
            for n, name in enumerate(ABSENT) for method in [("GET", "POST")[n % 2]]]
    gap = len(many) // len(demo_workload.endpoints)
    for n, endpoint in enumerate(demo_workload.endpoints):
        many.insert(n * (gap + 1), endpoint)
    return many


@pytest.mark.parametrize("read", ["busy time", "latency within"])
def test_endpoint_figures_of_hundreds_of_endpoints_are_read(
    recorded: tuple[PrometheusBackend, list[str]], demo_workload: DemoWorkload, read: str
) -> None:
    # Busy time and the SLO's latency within a threshold named every endpoint in one query:
    # VictoriaMetrics refused it (HTTP 422).
    backend, sent = recorded
    reads = {
        "busy time": lambda chosen: backend.busy_time(WINDOW, chosen),
        "latency within": lambda chosen: backend.latency_within(WINDOW, 0.5, chosen),
    }
    many = _many_endpoints(demo_workload)
    frame = reads[read](many)
    assert all(len(q.encode()) <= MAX_QUERY_BYTES for q in _queries(sent))
    assert list(frame.columns) == [e.column for e in many]
    alone = reads[read](demo_workload.endpoints)
    assert alone.notna().any().all()
    np.testing.assert_allclose(frame[alone.columns].to_numpy(), alone.to_numpy(), rtol=1e-12)
    absent = [e.column for e in many if e not in set(demo_workload.endpoints)]
    assert frame[absent].isna().all().all()


def test_coverage_count_of_hundreds_of_endpoints_counts_each_series_once(
    recorded: tuple[PrometheusBackend, list[str]], demo_workload: DemoWorkload
) -> None:
    # The count is a sum over endpoints: the parts' series are counted once each.
    backend, sent = recorded
    window = Window(start=DEMO_END - timedelta(hours=6), end=DEMO_END,
                    step=timedelta(minutes=1))
    counts = backend.data_steps(window, _many_endpoints(demo_workload))
    queries = _queries(sent)
    assert len(queries) > 1 and all(len(q.encode()) <= MAX_QUERY_BYTES for q in queries)
    alone = backend.data_steps(window, demo_workload.endpoints)
    assert alone.max() > 0
    pd.testing.assert_series_equal(counts, alone)
    pd.testing.assert_series_equal(counts, backend.data_steps(window))


def test_summary_of_hundreds_of_endpoints_is_read(
    recorded: tuple[PrometheusBackend, list[str]], demo_workload: DemoWorkload
) -> None:
    # The overview (and the ``perfbot`` CLI) named every endpoint in one query.
    backend, sent = recorded
    many = _many_endpoints(demo_workload)
    frame = backend.summary(DEMO_END, timedelta(hours=1), many)
    assert all(len(q.encode()) <= MAX_QUERY_BYTES for q in _queries(sent))
    assert list(frame.index) == [e.column for e in many]
    assert list(frame["service"]) == [e.service for e in many]
    alone = backend.summary(DEMO_END, timedelta(hours=1), demo_workload.endpoints)
    pd.testing.assert_frame_equal(frame.loc[alone.index], alone, rtol=1e-12)
    absent = [e.column for e in many if e not in set(demo_workload.endpoints)]
    assert frame.loc[absent].drop(columns="service").isna().all().all()
