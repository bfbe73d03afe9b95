"""Cost against a real Prometheus: the demo's figures again, and OpenCost's metrics when present."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pytest

from bot.analytics.prices import CostSettings, ServiceCost
from bot.cost import endpoint_costs, service_costs
from bot.metrics.base import Endpoint, Resource, Window
from bot.metrics.demo import DemoBackend
from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.prometheus_server import PrometheusServer, find_binaries

PRICES = CostSettings(
    per_million_requests=0.6, services={"payments": ServiceCost(fixed_monthly=146)}
)
# Inside the three backfilled days: a 5-minute grid, then an hourly one off the hour.
DEMO_WINDOWS = [
    (DEMO_END - timedelta(hours=36), DEMO_END - timedelta(hours=12)),
    (DEMO_END - timedelta(hours=62, minutes=20), DEMO_END - timedelta(minutes=20)),
]


def test_demo_series_for_cost_agree(
    demo_backend: DemoBackend, prometheus_backend: PrometheusBackend
) -> None:
    window = Window(start=DEMO_END - timedelta(hours=20), end=DEMO_END - timedelta(hours=16),
                    step=timedelta(minutes=5))
    demo, prom = demo_backend.busy_time(window), prometheus_backend.busy_time(window)
    assert sorted(prom.columns) == sorted(demo.columns)
    # The OpenMetrics writer rounds each _sum to the millisecond: /healthz's is tiny.
    np.testing.assert_allclose(prom[demo.columns], demo, rtol=1e-3, atol=1e-5)
    for resource in Resource:
        demo, prom = demo_backend.resource(window, resource), prometheus_backend.resource(
            window, resource
        )
        assert list(prom.columns) == list(demo.columns), resource
        np.testing.assert_allclose(prom, demo, rtol=1e-3, err_msg=str(resource))


@pytest.mark.parametrize(("start", "end"), DEMO_WINDOWS)
def test_prometheus_costs_agree_with_the_demo(
    demo_backend: DemoBackend,
    prometheus_backend: PrometheusBackend,
    start: datetime,
    end: datetime,
) -> None:
    for costs in (service_costs, endpoint_costs):
        demo = {(f.service, f.subject): f for f in costs(demo_backend, PRICES, start, end)}
        prom = {(f.service, f.subject): f for f in costs(prometheus_backend, PRICES, start, end)}
        assert set(prom) == set(demo)
        for key, expected in demo.items():
            assert prom[key].total == pytest.approx(expected.total, rel=2e-3), key
            assert prom[key].requests == pytest.approx(expected.requests, rel=2e-3), key
            assert prom[key].note == expected.note


# ---- OpenCost ---------------------------------------------------------------------------

OPENCOST_MINUTES = 180
# Two pods of "shop" on two nodes at different prices; "blog" has no OpenCost figures.
PODS = [
    # pod, node, cores, GiB
    ("shop-a", "n1", 1.0, 2.0),
    ("shop-b", "n2", 1.0, 2.0),
]
NODE_PRICES = {"n1": (0.03, 0.004), "n2": (0.05, 0.006)}  # per core-hour, per GiB-hour
SHOP_HOURLY = 1 * 0.03 + 2 * 0.004 + 1 * 0.05 + 2 * 0.006  # 0.10 an hour
# service, route, method, requests per second, mean seconds per request
ROUTES = [
    ("shop", "/api/items", "GET", 2.0, 0.1),  # busy 0.2 s/s
    ("shop", "/api/cart", "POST", 1.0, 0.6),  # busy 0.6 s/s
    ("blog", "/", "GET", 1.0, 0.2),
]
USAGE = {"shop": (0.5, 1.0), "blog": (0.25, 0.5)}  # cores, GiB in use; no limits exported
OPENCOST_PRICES = CostSettings(services={"shop": ServiceCost(fixed_monthly=73)})


def opencost_openmetrics(end: datetime, minutes: int = OPENCOST_MINUTES) -> str:
    """A few hours of an OpenCost-monitored cluster: HTTP histogram, cAdvisor, OpenCost."""
    first = int(end.timestamp()) - minutes * 60
    stamps = [first + m * 60 for m in range(minutes + 1)]
    hist = "http_server_request_duration_seconds"
    lines = [f"# TYPE {hist} histogram"]
    for service, route, method, rate, mean in ROUTES:
        labels = (f'job="{service}",http_route="{route}",http_request_method="{method}",'
                  'http_response_status_code="200"')
        for m, ts in enumerate(stamps):
            count = round(m * 60 * rate)
            lines.append(f'{hist}_bucket{{{labels},le="1.0"}} {count} {ts}')
            lines.append(f'{hist}_bucket{{{labels},le="+Inf"}} {count} {ts}')
            lines.append(f"{hist}_sum{{{labels}}} {count * mean:.3f} {ts}")
            lines.append(f"{hist}_count{{{labels}}} {count} {ts}")

    def gauge(name: str, series: list[tuple[str, float]]) -> None:
        lines.append(f"# TYPE {name} gauge")
        for labels, value in series:
            lines.extend(f"{name}{{{labels}}} {value!r} {ts}" for ts in stamps)

    lines.append("# TYPE container_cpu_usage_seconds counter")
    for service, (cores, _) in USAGE.items():
        lines.extend(f'container_cpu_usage_seconds_total{{container="{service}"}} '
                     f"{m * 60 * cores!r} {ts}" for m, ts in enumerate(stamps))
    gauge("container_memory_working_set_bytes",
          [(f'container="{s}"', gib * 2**30) for s, (_, gib) in USAGE.items()])
    # Two OpenCost replicas export the same allocation of shop-a: counted once.
    allocation = [
        (f'container="shop",namespace="default",pod="{pod}",node="{node}",'
         f'instance="opencost-{replica}"', cores, gib)
        for pod, node, cores, gib in PODS
        for replica in ((1, 2) if pod == "shop-a" else (1,))
    ]
    gauge("container_cpu_allocation", [(labels, cores) for labels, cores, _ in allocation])
    gauge("container_memory_allocation_bytes",
          [(labels, gib * 2**30) for labels, _, gib in allocation])
    gauge("node_cpu_hourly_cost", [(f'node="{n}",instance_type="e2-standard"', cpu)
                                   for n, (cpu, _) in NODE_PRICES.items()])
    gauge("node_ram_hourly_cost", [(f'node="{n}",instance_type="e2-standard"', ram)
                                   for n, (_, ram) in NODE_PRICES.items()])
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def opencost_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusBackend]:
    workdir = tmp_path_factory.mktemp("opencost")
    source = workdir / "opencost.om"
    source.write_text(opencost_openmetrics(DEMO_END), encoding="utf-8")
    with PrometheusServer(source, workdir / "server", find_binaries()) as server:
        yield prometheus_backend_for(server.url)


TWO_HOURS = (DEMO_END - timedelta(hours=2), DEMO_END)
ITEMS = Endpoint(service="shop", route="/api/items", method="GET")
CART = Endpoint(service="shop", route="/api/cart", method="POST")


def test_auto_uses_opencost_where_it_has_figures(opencost_backend: PrometheusBackend) -> None:
    shop, blog = service_costs(opencost_backend, OPENCOST_PRICES, *TWO_HOURS, ["shop", "blog"])
    fixed = 73 * 2 / 730
    assert shop.total == pytest.approx(SHOP_HOURLY * 2 + fixed, rel=1e-6)
    assert shop.requests == pytest.approx(3 * 7200, rel=1e-6)
    assert shop.note.startswith("OpenCost: CPU and memory allocation")
    assert "73 USD/month fixed" in shop.note
    # No OpenCost figures for blog: the price table on what it uses.
    cores, gib = USAGE["blog"]
    assert blog.total == pytest.approx((cores * 0.0316 + gib * 0.0042) * 2, rel=1e-6)
    assert blog.note == ("price table: 0.0316 USD/core-hour on CPU in use (no limits found), "
                         "0.0042 USD/GiB-hour on memory in use (no limits found)")


def test_opencost_is_shared_to_endpoints_by_busy_time(
    opencost_backend: PrometheusBackend,
) -> None:
    items, cart = endpoint_costs(opencost_backend, OPENCOST_PRICES, *TWO_HOURS, [ITEMS, CART])
    shop = SHOP_HOURLY * 2 + 73 * 2 / 730
    assert items.total == pytest.approx(shop * 0.25, rel=1e-4)
    assert cart.total == pytest.approx(shop * 0.75, rel=1e-4)
    assert items.requests == pytest.approx(2 * 7200, rel=1e-6)
    assert items.note.startswith("OpenCost")
    assert items.note.endswith("shared by busy time: 25% of the shop service's")


def test_prices_forced_ignore_opencost(opencost_backend: PrometheusBackend) -> None:
    prices = OPENCOST_PRICES.model_copy(update={"source": "prices"})
    (shop,) = service_costs(opencost_backend, prices, *TWO_HOURS, ["shop"])
    cores, gib = USAGE["shop"]
    assert shop.total == pytest.approx((cores * 0.0316 + gib * 0.0042) * 2 + 73 * 2 / 730,
                                       rel=1e-6)
    assert shop.note.startswith("price table:")
    assert "OpenCost" not in shop.note


def test_opencost_forced_leaves_services_without_it_unpriced(
    opencost_backend: PrometheusBackend,
) -> None:
    forced = OPENCOST_PRICES.model_copy(update={"source": "opencost"})
    shop, blog = service_costs(opencost_backend, forced, *TWO_HOURS, ["shop", "blog"])
    assert shop.note.startswith("OpenCost")
    assert blog.total == 0
    assert blog.requests == pytest.approx(7200, rel=1e-6)
    assert blog.note == "no CPU or memory figures for this service"

