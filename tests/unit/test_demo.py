"""The demo workload and its backend: determinism, shape, peaks, the injected incidents, and
PromQL's semantics checked against the workload's own per-minute arrays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from bot.metrics.base import (
    SUMMARY_COLUMNS,
    Endpoint,
    MetricsBackend,
    MetricsError,
    NoDataError,
    Signal,
    Window,
)
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.demo.outline import DemoOutline
from bot.metrics.demo.platform import BUCKET_BOUNDS
from bot.metrics.demo.scenarios import Scenario
from bot.metrics.histogram import histogram_quantile

PARIS = ZoneInfo("Europe/Paris")
# Midnight in Paris, Saturday 2026-06-13: eight whole local days, Friday to Friday.
END = datetime(2026, 6, 12, 22, 0, tzinfo=UTC)
DAYS = 8

CHECKOUT = Endpoint(service="payments", route="/api/checkout", method="POST")
HISTORY = Endpoint(service="orders", route="/api/orders/history", method="GET")
SEARCH = Endpoint(service="search", route="/api/search", method="GET")
REFUND = Endpoint(service="payments", route="/api/payments/refund", method="POST")
HEALTHZ = Endpoint(service="web", route="/healthz", method="GET")

EXPECTED_KEYS = {
    "GET /", "GET /api/search", "GET /api/restaurants", "GET /api/menu/{restaurant_id}",
    "POST /api/orders", "GET /api/orders/history", "GET /api/orders/{order_id}",
    "POST /api/checkout", "POST /api/payments/refund", "POST /api/login", "GET /api/users/me",
    "GET /api/delivery/track/{order_id}", "GET /healthz",
}


@pytest.fixture(scope="module")
def workload() -> DemoWorkload:
    return DemoWorkload.generate(end=END, days=DAYS, seed=7, tz=PARIS)


@pytest.fixture(scope="module")
def backend(workload: DemoWorkload) -> DemoBackend:
    return DemoBackend(workload)


def scenario(workload: DemoWorkload, kind: str) -> Scenario:
    return next(s for s in workload.scenarios if s.kind == kind)


def local_index(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.index = pd.DatetimeIndex(frame.index).tz_convert(PARIS)
    return out


def at_local(frame: pd.DataFrame, hour: int, minute: int = 0) -> pd.DataFrame:
    local = local_index(frame)
    index = pd.DatetimeIndex(local.index)
    return local[(index.hour == hour) & (index.minute == minute)]


def minutes_in(workload: DemoWorkload, t: datetime, lookback: timedelta) -> np.ndarray:
    """The minutes a point at ``t`` summarises, chosen from the workload's own timestamps."""
    times = workload.times
    return np.asarray((times > t - lookback) & (times <= t))


def endpoint_series(workload: DemoWorkload, endpoint: Endpoint) -> np.ndarray:
    return np.flatnonzero(
        workload.series_endpoint == workload.endpoints.index(endpoint)
    )


# ---- the workload ---------------------------------------------------------------------------


def test_same_arguments_give_the_same_data_and_another_seed_does_not() -> None:
    end = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    first = DemoWorkload.generate(end=end, days=1, seed=3)
    # The end is floored to the minute, so a few seconds later is the same workload.
    again = DemoWorkload.generate(end=end + timedelta(seconds=42), days=1, seed=3)
    other = DemoWorkload.generate(end=end, days=1, seed=4)
    for name in ("bucket_counts", "duration_sum", "cpu_seconds", "memory_bytes"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert first.end == again.end == end
    assert not np.array_equal(first.bucket_counts, other.bucket_counts)
    assert not np.array_equal(first.cpu_seconds, other.cpu_seconds)


def test_shapes_and_public_attributes(workload: DemoWorkload) -> None:
    minutes = DAYS * 24 * 60
    assert workload.start == END - timedelta(days=DAYS)
    assert workload.end == END
    assert workload.start.utcoffset() == timedelta(0) and workload.end.tzinfo is not None
    assert {e.key for e in workload.endpoints} == EXPECTED_KEYS
    assert set(workload.services) == {e.service for e in workload.endpoints}
    assert {"web", "search", "menu", "orders", "payments", "users"} <= set(workload.services)
    assert workload.bucket_bounds == BUCKET_BOUNDS
    series = len(workload.series_status)
    assert workload.bucket_counts.shape == (series, minutes, len(BUCKET_BOUNDS) + 1)
    assert workload.bucket_counts.dtype == np.int32
    assert (workload.bucket_counts >= 0).all()
    assert workload.duration_sum.shape == (series, minutes)
    assert workload.cpu_seconds.shape == workload.memory_bytes.shape
    assert workload.cpu_seconds.shape == (len(workload.services), minutes)
    assert len(workload.times) == minutes and workload.times[-1] == END


def test_every_endpoint_has_successes_and_only_order_lookups_have_404(
    workload: DemoWorkload,
) -> None:
    by_status: dict[str, set[str]] = {}
    for endpoint, status in zip(workload.series_endpoints(), workload.series_status,
                                strict=True):
        by_status.setdefault(status, set()).add(endpoint.key)
    assert by_status["200"] == EXPECTED_KEYS
    assert by_status["404"] == {"GET /api/orders/{order_id}"}
    assert "POST /api/checkout" in by_status["500"]
    assert set(by_status) == {"200", "404", "500"}


@pytest.mark.parametrize(
    ("end", "days", "message"),
    [
        (datetime(2026, 1, 1), 3, "timezone-aware"),
        (END, 0, "whole number of days"),
        (END, 91, "whole number of days"),
    ],
)
def test_generate_refuses_bad_arguments(end: datetime, days: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DemoWorkload.generate(end=end, days=days)
    with pytest.raises(ValueError, match=message):
        DemoOutline.ending(end=end, days=days)


@pytest.mark.parametrize("days", [1, DAYS])
def test_the_outline_tells_what_the_data_holds_without_making_it(
    workload: DemoWorkload, days: int
) -> None:
    # check-config reports the demo from its outline (issue 13): the same line, endpoints,
    # incidents and releases as the generated data, at any length (one day shows fewer).
    data = workload if days == DAYS else DemoWorkload.generate(end=END, days=days, tz=PARIS)
    outline = DemoOutline.ending(end=END + timedelta(seconds=42), days=days, seed=7, tz=PARIS)
    assert (outline.start, outline.end) == (data.start, data.end)
    assert [outline.check()] == DemoBackend(data).check()
    assert outline.endpoints == data.endpoints
    assert outline.services == data.services
    assert outline.scenarios == data.scenarios
    assert outline.deploys == data.deploys


# ---- traffic --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_traffic(workload: DemoWorkload, backend: DemoBackend) -> pd.Series:
    """Requests per second of all user-facing endpoints, every 15 minutes."""
    window = Window(start=workload.start + timedelta(minutes=15), end=workload.end,
                    step=timedelta(minutes=15))
    users = [e for e in backend.endpoints() if e != HEALTHZ]
    return backend.throughput(window, users).sum(axis=1)


def test_lunch_and_dinner_are_far_busier_than_four_in_the_morning(
    user_traffic: pd.Series,
) -> None:
    frame = user_traffic.to_frame("rps")
    night = at_local(frame, 4)["rps"]
    lunch = at_local(frame, 12, 45)["rps"]
    dinner = at_local(frame, 19, 45)["rps"]
    assert len(night) == len(lunch) == len(dinner) == DAYS
    assert (lunch.to_numpy() > 3 * night.to_numpy()).all()
    assert (dinner.to_numpy() > 3 * night.to_numpy()).all()
    assert (dinner.to_numpy() > lunch.to_numpy()).all()


def test_friday_and_saturday_dinners_are_busier_than_early_week_ones(
    user_traffic: pd.Series,
) -> None:
    dinner = at_local(user_traffic.to_frame("rps"), 19, 45)["rps"]
    weekday = pd.DatetimeIndex(dinner.index).day_of_week
    weekend = dinner[(weekday == 4) | (weekday == 5)].mean()
    early_week = dinner[weekday <= 2].mean()
    assert weekend > 1.15 * early_week


# ---- the injected incidents -----------------------------------------------------------------


def test_scenarios_are_listed_and_placed_in_the_last_week(workload: DemoWorkload) -> None:
    kinds = {s.kind for s in workload.scenarios}
    assert kinds == {"latency_step", "error_spike", "cpu_saturation", "memory_leak"}
    keys = {e.key for e in workload.endpoints}
    for s in workload.scenarios:
        assert END - timedelta(days=7) <= s.start <= END, s
        assert s.service in workload.services
        assert s.endpoint_key is None or s.endpoint_key in keys
        assert s.title and s.description
    assert any(s.start >= END - timedelta(hours=48) for s in workload.scenarios)
    assert scenario(workload, "latency_step").signal == Signal.LATENCY
    assert scenario(workload, "memory_leak").signal == Signal.MEMORY


@pytest.mark.parametrize("end_hour", [0, 23])
def test_scenarios_stay_in_the_last_week_whatever_the_time_of_day(end_hour: int) -> None:
    end = datetime(2026, 2, 3, end_hour, 59, tzinfo=UTC)
    workload = DemoWorkload.generate(end=end, days=8, seed=1)
    assert len(workload.scenarios) == 4
    assert all(end - timedelta(days=7) <= s.start <= end for s in workload.scenarios)
    assert any(s.start >= end - timedelta(hours=48) for s in workload.scenarios)


def test_short_workloads_list_only_the_incidents_they_show() -> None:
    workload = DemoWorkload.generate(end=END, days=1, tz=PARIS)
    # The spike happened yesterday; the step 3 days ago is outside one day of data.
    kinds = {s.kind for s in workload.scenarios}
    assert "latency_step" not in kinds
    assert {"error_spike", "memory_leak", "cpu_saturation"} <= kinds
    assert all(workload.start < d.time <= workload.end for d in workload.deploys)


def test_order_history_latency_steps_up(workload: DemoWorkload, backend: DemoBackend) -> None:
    step = scenario(workload, "latency_step").start
    hour = timedelta(hours=1)
    before = backend.latency(Window(start=step - timedelta(hours=24), end=step, step=hour,
                                    rate_window=hour), 0.95, [HISTORY])
    after = backend.latency(Window(start=step + hour, end=step + timedelta(hours=25),
                                   step=hour, rate_window=hour), 0.95, [HISTORY])
    ratio = after[HISTORY.column].median() / before[HISTORY.column].median()
    assert ratio >= 3, ratio


def test_checkout_errors_spike_after_the_deploy_and_recover_after_the_rollback(
    workload: DemoWorkload, backend: DemoBackend
) -> None:
    spike = scenario(workload, "error_spike")
    assert spike.end is not None
    deploys = {(d.service, d.time) for d in workload.deploys}
    assert ("payments", spike.start) in deploys and ("payments", spike.end) in deploys
    during = backend.summary(spike.end, spike.end - spike.start, [CHECKOUT])
    assert during.loc[CHECKOUT.column, "error_ratio"] >= 0.05
    six_hours = timedelta(hours=6)
    before = backend.summary(spike.start, six_hours, [CHECKOUT])
    after = backend.summary(spike.end + six_hours + timedelta(minutes=5), six_hours, [CHECKOUT])
    assert before.loc[CHECKOUT.column, "error_ratio"] < 0.01
    assert after.loc[CHECKOUT.column, "error_ratio"] < 0.01


def test_search_cpu_saturates_at_dinner_after_its_deploy_and_latency_follows(
    workload: DemoWorkload, backend: DemoBackend
) -> None:
    deploy = scenario(workload, "cpu_saturation").start
    window = Window(start=workload.start + timedelta(minutes=5), end=workload.end,
                    step=timedelta(minutes=5))
    cpu = local_index(backend.cpu(window, ["search"]))["search"]
    p95 = local_index(backend.latency(window, 0.95, [SEARCH]))[SEARCH.column]
    hours = pd.DatetimeIndex(cpu.index).hour
    at_dinner = (hours >= 19) & (hours < 21)
    dinner_cpu = cpu[at_dinner].groupby(pd.DatetimeIndex(cpu[at_dinner].index).date).max()
    dinner_p95 = p95[at_dinner].groupby(pd.DatetimeIndex(p95[at_dinner].index).date).median()
    deploy_day = deploy.astimezone(PARIS).date()
    after = [day for day in dinner_cpu.index if day >= deploy_day]
    before = [day for day in dinner_cpu.index if day < deploy_day]
    assert len(after) == 3 and len(before) >= 3
    assert (dinner_cpu[after] > 0.9).all(), dinner_cpu
    assert (dinner_cpu[before] < 0.9).all(), dinner_cpu
    assert dinner_p95[after].mean() > 1.5 * dinner_p95[before].mean()
    assert (cpu.dropna() <= 1.0 + 1e-9).all()


def test_menu_memory_keeps_rising_and_other_services_do_not(
    workload: DemoWorkload, backend: DemoBackend
) -> None:
    leak = scenario(workload, "memory_leak").start
    day = timedelta(days=1)
    window = Window(start=leak + day, end=workload.end, step=day, rate_window=day)
    memory = backend.memory(window, ["menu", "orders"])
    assert len(memory) >= 4
    assert (memory["menu"].diff().dropna() > 0.03).all(), memory
    assert memory["orders"].max() - memory["orders"].min() < 0.01
    assert ((memory > 0) & (memory < 1)).all().all()


# ---- backend semantics ------------------------------------------------------------------------


def test_is_a_metrics_backend_and_checks_out(backend: DemoBackend) -> None:
    assert isinstance(backend, MetricsBackend)
    [line] = backend.check()
    assert line.ok and "demo" in line.detail and f"{DAYS} days" in line.detail
    assert {e.key for e in backend.endpoints()} == EXPECTED_KEYS


def test_figures_do_not_depend_on_which_endpoints_were_asked_first(
    workload: DemoWorkload, backend: DemoBackend
) -> None:
    # The running sums are made per endpoint when first asked (issue 13): a fresh backend
    # asked about one endpoint, then about all, gives what one asked about all at once does.
    fresh = DemoBackend(workload)
    window = Window(start=workload.start + timedelta(hours=2), end=workload.end,
                    step=timedelta(hours=1))
    checkout = next(e for e in fresh.endpoints() if e.key == "POST /api/checkout")
    one = fresh.latency(window, 0.95, [checkout])
    pd.testing.assert_frame_equal(one, backend.latency(window, 0.95)[[checkout.column]])
    for ask in (DemoBackend.latency, DemoBackend.throughput, DemoBackend.error_ratio,
                DemoBackend.busy_time):
        pd.testing.assert_frame_equal(ask(fresh, window), ask(backend, window))
    pd.testing.assert_frame_equal(fresh.summary(workload.end), backend.summary(workload.end))


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=30)])
def test_figures_summarise_the_minutes_in_the_lookback(
    workload: DemoWorkload, backend: DemoBackend, offset: timedelta
) -> None:
    t = END - timedelta(hours=30) + offset
    lookback = timedelta(minutes=7)
    window = Window(start=t, end=t + timedelta(minutes=1), step=timedelta(minutes=5),
                    rate_window=lookback)
    minutes = minutes_in(workload, t, lookback)
    assert minutes.sum() == 7
    rows = endpoint_series(workload, CHECKOUT)
    counts = workload.bucket_counts[rows][:, minutes].sum(axis=(0, 1))
    requests = counts.sum()
    failed = sum(
        workload.bucket_counts[s][minutes].sum()
        for s in rows if workload.series_status[s] == "500"
    )
    expected_p95 = histogram_quantile(0.95, BUCKET_BOUNDS, np.cumsum(counts))
    v = workload.services.index("menu")
    menu_cpu = workload.cpu_seconds[v, minutes].sum() / 420 / workload.cpu_limit[v]
    menu_memory = workload.memory_bytes[v, minutes].mean() / workload.memory_limit[v]

    assert backend.throughput(window, [CHECKOUT]).iloc[0, 0] == pytest.approx(requests / 420)
    assert backend.error_ratio(window, [CHECKOUT]).iloc[0, 0] == pytest.approx(
        failed / requests)
    assert backend.latency(window, 0.95, [CHECKOUT]).iloc[0, 0] == pytest.approx(expected_p95)
    assert backend.cpu(window, ["menu"]).iloc[0, 0] == pytest.approx(menu_cpu)
    assert backend.memory(window, ["menu"]).iloc[0, 0] == pytest.approx(menu_memory)


def test_frames_are_indexed_by_step_ends_with_the_columns_asked_for(
    backend: DemoBackend,
) -> None:
    window = Window(start=END - timedelta(hours=2), end=END, step=timedelta(minutes=5))
    frame = backend.throughput(window, [CHECKOUT, HISTORY])
    expected = pd.date_range(END - timedelta(hours=2), END, freq="5min")
    assert list(frame.index) == list(expected) and len(frame) == 25
    assert str(pd.DatetimeIndex(frame.index).tz) == "UTC"
    assert list(frame.columns) == [CHECKOUT.column, HISTORY.column]
    assert list(backend.latency(window).columns) == [e.column for e in backend.endpoints()]
    assert list(backend.cpu(window, ["search"]).columns) == ["search"]
    assert list(backend.memory(window).columns) == backend.services()
    # Not aligned: points at start, start + step, ... up to the end.
    odd = Window(start=END - timedelta(minutes=61), end=END, step=timedelta(minutes=15))
    assert len(backend.cpu(odd)) == 5


def test_error_ratio_is_nan_without_requests_and_zero_without_errors(
    workload: DemoWorkload, backend: DemoBackend
) -> None:
    # Refunds are rare at night: short lookbacks with and without requests.
    night = datetime(2026, 6, 9, 1, 0, tzinfo=UTC)
    window = Window(start=night, end=night + timedelta(hours=3), step=timedelta(minutes=2))
    ratio = backend.error_ratio(window, [REFUND])[REFUND.column]
    rps = backend.throughput(window, [REFUND])[REFUND.column]
    assert ((rps == 0) == ratio.isna()).all()
    assert (rps == 0).any() and (ratio == 0).any()


def test_windows_outside_the_data_are_refused_with_the_span(backend: DemoBackend) -> None:
    early = Window(start=END - timedelta(days=30), end=END - timedelta(days=20))
    with pytest.raises(NoDataError, match="covers 2026-06-04 22:00 UTC to 2026-06-12 22:00 UTC"):
        backend.latency(early)
    late = Window(start=END + timedelta(hours=1), end=END + timedelta(hours=2))
    with pytest.raises(NoDataError, match="covers"):
        backend.cpu(late)
    with pytest.raises(NoDataError, match="covers"):
        backend.summary(END + timedelta(minutes=30))


def test_a_window_reaching_before_the_data_has_gaps_there(backend: DemoBackend) -> None:
    start = END - timedelta(days=DAYS, hours=1)
    window = Window(start=start, end=start + timedelta(hours=3), step=timedelta(minutes=10))
    frame = backend.throughput(window, [CHECKOUT])[CHECKOUT.column]
    assert frame.iloc[:7].isna().all()  # lookbacks that start before the data
    assert frame.iloc[7:].notna().all()


def test_unknown_endpoints_and_services_are_named(backend: DemoBackend) -> None:
    window = Window(start=END - timedelta(hours=1), end=END)
    ghost = Endpoint(service="payments", route="/api/bitcoin", method="POST")
    with pytest.raises(NoDataError, match="POST /api/bitcoin"):
        backend.throughput(window, [CHECKOUT, ghost])
    with pytest.raises(NoDataError, match="billing"):
        backend.memory(window, ["billing"])
    with pytest.raises(MetricsError, match="quantile"):
        backend.latency(window, 1.5)


def test_summary_has_the_agreed_columns_and_matches_the_series(
    backend: DemoBackend,
) -> None:
    at, lookback = END - timedelta(hours=3), timedelta(hours=1)
    summary = backend.summary(at, lookback)
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(summary.index) == [e.column for e in backend.endpoints()]
    assert summary.loc[CHECKOUT.column, "service"] == "payments"
    assert (summary["p50"] <= summary["p95"]).all() and (summary["p95"] <= summary["p99"]).all()
    point = Window(start=at, end=at + timedelta(minutes=1), rate_window=lookback)
    assert summary["throughput"].to_numpy() == pytest.approx(
        backend.throughput(point).iloc[0].to_numpy())
    assert summary["p95"].to_numpy() == pytest.approx(
        backend.latency(point, 0.95).iloc[0].to_numpy())
    only = backend.summary(at, lookback, [HISTORY])
    assert list(only.index) == [HISTORY.column]


@pytest.mark.parametrize(
    ("at", "lookback", "says"),
    [(END.replace(tzinfo=None), timedelta(hours=1), "timezone-aware"),
     (END, timedelta(0), "expected a lookback of at least 1s"),
     (END, timedelta(milliseconds=500), "expected a lookback of at least 1s")],
)
def test_summary_refuses_what_prometheus_refuses(
    backend: DemoBackend, at: datetime, lookback: timedelta, says: str
) -> None:
    with pytest.raises(MetricsError, match=says):
        backend.summary(at, lookback)
