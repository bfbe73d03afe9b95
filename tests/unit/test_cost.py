"""Cost figures on the demo backend, checked against sums over the workload's own arrays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.analytics.prices import CostSettings, ServiceCost
from bot.cost import CostFigures, endpoint_costs, service_costs
from bot.metrics.base import Endpoint, MetricsError, NoDataError, Resource, Window
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.demo.workload import MINUTE
from tests.conftest import DEMO_END

GIB = 2**30
PRICES = CostSettings(
    core_hour=0.04,
    gib_hour=0.005,
    per_million_requests=0.6,
    services={"payments": ServiceCost(fixed_monthly=146), "datadog": ServiceCost(fixed_monthly=73)},
)
CHECKOUT = Endpoint(service="payments", route="/api/checkout", method="POST")
REFUND = Endpoint(service="payments", route="/api/payments/refund", method="POST")
SEARCH = Endpoint(service="search", route="/api/search", method="GET")

# A day at a 5-minute step, and 54 hours (hourly step) ending six hours before the end.
WINDOWS = [
    (DEMO_END - timedelta(days=1), DEMO_END),
    (DEMO_END - timedelta(hours=60), DEMO_END - timedelta(hours=6)),
]


def minute_weights(workload: DemoWorkload, start: datetime, end: datetime) -> np.ndarray:
    """How much of each workload minute lies inside [start, end] (0..1)."""
    minute_start = np.array([workload.start + i * MINUTE for i in range(workload.minutes)])
    inside = [
        max(timedelta(0), min(m + MINUTE, end) - max(m, start)) / MINUTE for m in minute_start
    ]
    return np.asarray(inside, dtype=float)


def expected_service(
    workload: DemoWorkload, service: str, start: datetime, end: datetime
) -> tuple[float, float]:
    """(total, requests) from the workload's arrays: limits × hours, requests, fixed cost."""
    v = workload.services.index(service)
    hours = (end - start) / timedelta(hours=1)
    weights = minute_weights(workload, start, end)
    series = [s for s, e in enumerate(workload.series_endpoints()) if e.service == service]
    requests = float((workload.bucket_counts[series].sum(axis=(0, 2)) * weights).sum())
    total = (
        workload.cpu_limit[v] * hours * PRICES.core_hour
        + workload.memory_limit[v] / GIB * hours * PRICES.gib_hour
        + requests * PRICES.per_million_requests / 1e6
    )
    if service in PRICES.services:
        total += PRICES.services[service].fixed_monthly * hours / 730
    return total, requests


def expected_busy(
    workload: DemoWorkload, endpoints: Sequence[Endpoint], start: datetime, end: datetime
) -> dict[str, float]:
    weights = minute_weights(workload, start, end)
    owners = workload.series_endpoints()
    return {
        e.key: float(sum((workload.duration_sum[s] * weights).sum()
                         for s, owner in enumerate(owners) if owner == e))
        for e in endpoints
    }


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_service_costs_match_the_workload(
    demo_backend: DemoBackend, demo_workload: DemoWorkload, start: datetime, end: datetime
) -> None:
    figures = service_costs(demo_backend, PRICES, start, end)
    by_name = {f.subject: f for f in figures}
    assert set(by_name) == {*demo_workload.services, "datadog"}
    for service in demo_workload.services:
        total, requests = expected_service(demo_workload, service, start, end)
        assert by_name[service].requests == pytest.approx(requests, rel=1e-9)
        assert by_name[service].total == pytest.approx(total, rel=1e-9)
        assert by_name[service].note.startswith("price table: 0.04 USD/core-hour on CPU limits")
    # Every service, most expensive first; datadog has only its fixed cost.
    assert [f.total for f in figures] == sorted((f.total for f in figures), reverse=True)
    hours = (end - start) / timedelta(hours=1)
    assert by_name["datadog"].total == pytest.approx(73 * hours / 730)
    assert by_name["datadog"].requests == 0
    assert "no CPU or memory figures" in by_name["datadog"].note


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_endpoint_costs_share_the_service_by_busy_time(
    demo_backend: DemoBackend, demo_workload: DemoWorkload, start: datetime, end: datetime
) -> None:
    payments = [e for e in demo_workload.endpoints if e.service == "payments"]
    busy = expected_busy(demo_workload, payments, start, end)
    service_total, _ = expected_service(demo_workload, "payments", start, end)
    # Ask for one endpoint: the other still takes its share of the service.
    (checkout,) = endpoint_costs(demo_backend, PRICES, start, end, [CHECKOUT])
    weights = minute_weights(demo_workload, start, end)
    requests = sum(
        float((demo_workload.bucket_counts[s].sum(axis=1) * weights).sum())
        for s, e in enumerate(demo_workload.series_endpoints()) if e == CHECKOUT
    )
    per_request = PRICES.per_million_requests / 1e6
    all_requests = expected_service(demo_workload, "payments", start, end)[1]
    shared = service_total - all_requests * per_request
    share = busy[CHECKOUT.key] / sum(busy.values())
    assert checkout.requests == pytest.approx(requests, rel=1e-9)
    assert checkout.total == pytest.approx(shared * share + requests * per_request, rel=1e-9)
    assert f"shared by busy time: {share:.0%} of the payments service's" in checkout.note
    both = endpoint_costs(demo_backend, PRICES, start, end, [REFUND, CHECKOUT])
    assert [f.subject for f in both] == [REFUND.key, CHECKOUT.key]  # in the order asked
    assert sum(f.total for f in both) == pytest.approx(service_total, rel=1e-9)


def test_all_endpoints_add_up_to_all_services(demo_backend: DemoBackend) -> None:
    start, end = WINDOWS[0]
    endpoints = endpoint_costs(demo_backend, PRICES, start, end)
    services = service_costs(demo_backend, PRICES, start, end)
    assert [f.total for f in endpoints] == sorted((f.total for f in endpoints), reverse=True)
    assert len(endpoints) == len(demo_backend.endpoints())
    served = sum(f.total for f in services if f.subject != "datadog")
    assert sum(f.total for f in endpoints) == pytest.approx(served, rel=1e-9)
    assert sum(f.requests for f in endpoints) == pytest.approx(
        sum(f.requests for f in services), rel=1e-9
    )


def test_a_window_off_the_grid_is_weighed_by_its_part_of_each_step(
    demo_backend: DemoBackend, demo_workload: DemoWorkload
) -> None:
    start = DEMO_END - timedelta(hours=26, minutes=2, seconds=30)
    end = DEMO_END - timedelta(hours=1, minutes=7)
    (search,) = service_costs(demo_backend, PRICES, start, end, ["search"])
    total, requests = expected_service(demo_workload, "search", start, end)
    # Rates are taken as even within a 5-minute step at the window's edges.
    assert search.requests == pytest.approx(requests, rel=2e-4)
    assert search.total == pytest.approx(total, rel=2e-4)
    assert search.start == start and search.end == end


def test_rates_from_the_demo(demo_backend: DemoBackend) -> None:
    start, end = WINDOWS[0]
    (search,) = service_costs(demo_backend, PRICES, start, end, ["search"])
    assert search.per_day == pytest.approx(search.total)  # a one-day window
    per_1k = search.per_1k_requests
    assert per_1k is not None
    assert per_1k == pytest.approx(search.total / search.requests * 1000)
    assert search.projected_month(end, demo_backend.workload.tz) == pytest.approx(
        search.total * 30  # November
    )


def test_demo_busy_time_and_resources_follow_the_arrays(
    demo_backend: DemoBackend, demo_workload: DemoWorkload
) -> None:
    window = Window(start=DEMO_END - timedelta(hours=2), end=DEMO_END,
                    step=MINUTE, rate_window=MINUTE)
    rows = ((window.start - demo_workload.start) // MINUTE, (window.end - demo_workload.start)
            // MINUTE)
    minutes = slice(rows[0] - 1, rows[1])  # each point is the minute ending at it
    busy = demo_backend.busy_time(window, [SEARCH])
    series = [s for s, e in enumerate(demo_workload.series_endpoints()) if e == SEARCH]
    np.testing.assert_allclose(
        busy[SEARCH.column].to_numpy(), demo_workload.duration_sum[series, minutes].sum(axis=0) / 60
    )
    v = demo_workload.services.index("menu")
    cores = demo_backend.resource(window, Resource.CPU_CORES, ["menu"])["menu"]
    np.testing.assert_allclose(cores.to_numpy(), demo_workload.cpu_seconds[v, minutes] / 60)
    memory = demo_backend.resource(window, Resource.MEMORY_BYTES, ["menu"])["menu"]
    np.testing.assert_allclose(memory.to_numpy(), demo_workload.memory_bytes[v, minutes])
    limits = demo_backend.resource(window, Resource.CPU_LIMIT_CORES)
    assert list(limits.columns) == sorted(demo_workload.services)
    assert (limits["menu"] == demo_workload.cpu_limit[v]).all()
    ram = demo_backend.resource(window, Resource.MEMORY_LIMIT_BYTES, ["menu", "nope"])
    assert (ram["menu"] == demo_workload.memory_limit[v]).all()
    assert ram["nope"].isna().all()  # a service without data is a gap, as in PromQL


def test_demo_refuses_what_it_does_not_have(demo_backend: DemoBackend) -> None:
    window = Window(start=DEMO_END - timedelta(hours=1), end=DEMO_END)
    with pytest.raises(NoDataError, match="no service nope"):
        demo_backend.resource(window, Resource.CPU_CORES, ["nope"])
    with pytest.raises(NoDataError, match="no OpenCost metrics"):
        demo_backend.opencost_hourly(window)


def test_opencost_forced_without_opencost_says_how_to_fall_back(
    demo_backend: DemoBackend,
) -> None:
    start, end = WINDOWS[0]
    forced = PRICES.model_copy(update={"source": "opencost"})
    with pytest.raises(NoDataError, match=r"set cost\.source to auto or prices"):
        service_costs(demo_backend, forced, start, end, ["search"])
    auto = service_costs(demo_backend, PRICES, start, end, ["search"])
    prices = service_costs(demo_backend, PRICES.model_copy(update={"source": "prices"}),
                           start, end, ["search"])
    assert auto == prices


def test_unknown_services_and_bad_windows_get_clear_errors(demo_backend: DemoBackend) -> None:
    start, end = WINDOWS[0]
    with pytest.raises(NoDataError, match="no cost figures for service 'nope'"):
        service_costs(demo_backend, PRICES, start, end, ["search", "nope"])
    with pytest.raises(MetricsError, match="must end after it starts"):
        service_costs(demo_backend, PRICES, end, start)
    with pytest.raises(MetricsError, match="timezone-aware"):
        endpoint_costs(demo_backend, PRICES, start.replace(tzinfo=None), end)


def test_an_endpoint_without_traffic_gets_nothing_and_changes_nothing(
    demo_backend: DemoBackend,
) -> None:
    start, end = WINDOWS[0]
    nope = Endpoint(service="payments", route="/nope", method="GET")
    alone = endpoint_costs(demo_backend, PRICES, start, end, [CHECKOUT])
    with_nope = endpoint_costs(demo_backend, PRICES, start, end, [CHECKOUT, nope])
    assert with_nope[0] == alone[0]
    assert (with_nope[1].subject, with_nope[1].total, with_nope[1].requests) == (nope.key, 0, 0)
    assert "0% of the payments service's" in with_nope[1].note


def test_a_window_without_data_is_no_data_not_zero(demo_backend: DemoBackend) -> None:
    start = demo_backend.workload.start - timedelta(days=2)
    end = demo_backend.workload.start - timedelta(days=1)
    with pytest.raises(NoDataError, match="no cost figures for service 'search'"):
        service_costs(demo_backend, PRICES, start, end, ["search"])
    with pytest.raises(NoDataError, match="no cost figures for any service"):
        endpoint_costs(demo_backend, CostSettings(), start, end)
    # payments has a fixed cost, but no busy time to share it by: it stays with the service.
    idle = endpoint_costs(demo_backend, PRICES, start, end)
    assert {(f.service, f.total) for f in idle} == {("payments", 0)}
    assert all("never busy" in f.note for f in idle)
    # A fixed cost is known whatever the metrics say; unasked, the others are left out.
    everything = service_costs(demo_backend, PRICES, start, end)
    assert {f.subject for f in everything} == {"payments", "datadog"}
    (payments,) = service_costs(demo_backend, PRICES, start, end, ["payments"])
    assert isinstance(payments, CostFigures)
    assert payments.total == pytest.approx(146 * 24 / 730)
    assert payments.requests == 0
    assert payments.per_1k_requests is None


def test_a_local_day_across_a_clock_change_costs_its_elapsed_hours() -> None:
    # 29 March 2026 lasts 23 hours in Berlin: local midnight to midnight is 23 h of usage.
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    workload = DemoWorkload.generate(end=datetime(2026, 3, 31, tzinfo=berlin), days=3)
    backend = DemoBackend(workload)
    start, end = datetime(2026, 3, 29, tzinfo=berlin), datetime(2026, 3, 30, tzinfo=berlin)
    local = service_costs(backend, CostSettings(), start, end, ["search"])[0]
    utc = service_costs(
        backend, CostSettings(), start.astimezone(UTC), end.astimezone(UTC), ["search"]
    )[0]
    assert (end - start) == timedelta(hours=24)  # wall-clock difference, the trap
    assert local.total == pytest.approx(utc.total, rel=1e-9)
    assert local.end - local.start == timedelta(hours=23)
