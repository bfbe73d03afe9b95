"""PrometheusBackend against a real Prometheus serving the demo workload."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from bot.metrics.base import (
    SUMMARY_COLUMNS,
    Endpoint,
    MetricsBackend,
    MetricsError,
    NoDataError,
    Window,
)
from bot.metrics.demo import DemoWorkload
from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import DEMO_END, Store, prometheus_backend_for
from tests.prometheus_server import PrometheusServer
from tests.victoria_server import VictoriaServer

WINDOW = Window(start=DEMO_END - timedelta(hours=6), end=DEMO_END, step=timedelta(minutes=5))


def test_is_a_metrics_backend(store_backend: PrometheusBackend) -> None:
    assert isinstance(store_backend, MetricsBackend)


def test_detects_the_opentelemetry_convention(store_backend: PrometheusBackend) -> None:
    http = store_backend.http_metrics()
    assert http.convention == "otel"
    assert (http.route_label, http.method_label, http.service_label) == (
        "http_route", "http_request_method", "job"
    )


def test_check_is_all_ok_and_says_what_it_found(store: Store, store_backend: PrometheusBackend
                                                ) -> None:
    checks = store_backend.check()
    assert all(check.ok for check in checks), checks
    names = [check.name for check in checks]
    assert names == ["prometheus", "metric names", "histogram", "saturation", "cost"]
    assert not any(check.warning for check in checks), checks
    if isinstance(store, VictoriaServer):  # Debian's build reports no version
        assert checks[0].detail.endswith("answers (VictoriaMetrics, version not reported)")
    else:
        assert "answers (version 2." in checks[0].detail
    assert checks[1].detail.startswith("otel (http_server_request_duration_seconds")
    assert checks[3].detail == ("cAdvisor and kube-state-metrics by container "
                                "(CPU, memory; limits for CPU, memory)")
    assert checks[4].detail == "priced from CPU and memory limits"


def test_discovers_the_demo_endpoints(
    store_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    assert set(store_backend.endpoints()) == set(demo_workload.endpoints)
    assert store_backend.services() == sorted(demo_workload.services)


def test_discovery_in_a_window_without_data_says_so(store_backend: PrometheusBackend) -> None:
    before = Window(start=DEMO_END - timedelta(days=30), end=DEMO_END - timedelta(days=20))
    with pytest.raises(NoDataError, match="no endpoints: http_server_request_duration_seconds"):
        store_backend.endpoints(before)


def test_endpoint_signals_have_the_right_shape_and_plausible_values(
    store_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    columns = sorted(e.column for e in demo_workload.endpoints)
    throughput = store_backend.throughput(WINDOW)
    latency = store_backend.latency(WINDOW, 0.95)
    errors = store_backend.error_ratio(WINDOW)
    expected_steps = int((WINDOW.end - WINDOW.start) / WINDOW.step) + 1
    for frame in (throughput, latency, errors):
        assert sorted(frame.columns) == columns
        assert len(frame.index) == expected_steps
        assert str(frame.index.tz) == "UTC"
        assert frame.index[0] == WINDOW.start and frame.index[-1] == WINDOW.end
    rates = throughput.to_numpy()
    assert (rates >= 0).all() and (rates.mean(axis=0) > 0).all()
    # Without requests in a step there is no latency and no ratio: NaN, exactly there.
    idle = rates == 0
    assert (latency.isna().to_numpy() == idle).all()
    assert (errors.isna().to_numpy() == idle).all()
    top = max(demo_workload.bucket_bounds)
    seconds, ratios = latency.to_numpy()[~idle], errors.to_numpy()[~idle]
    assert ((seconds > 0) & (seconds <= top)).all()
    assert ((ratios >= 0) & (ratios < 0.5)).all()


def test_a_window_off_the_step_grid_is_answered_on_its_own_instants(
    store_backend: PrometheusBackend,
) -> None:
    # VictoriaMetrics moves start and end onto multiples of the step when it may cache the
    # answer (more than 50 points): the bot asks it not to, or its instants would be lost.
    off = timedelta(minutes=2, seconds=7)
    window = Window(start=WINDOW.start - off, end=WINDOW.end - off, step=WINDOW.step)
    frame = store_backend.throughput(window)
    assert frame.index[0] == window.start and frame.index[-1] == window.end
    assert len(frame.index) == 73 and frame.notna().all().all()


def test_a_thousand_endpoints_are_read_though_the_query_would_be_too_long(
    store_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    # Named in one query, these make it over 100 KB: VictoriaMetrics refuses more than
    # 16 KB (-search.maxQueryLen) with HTTP 422, so the backend splits it by endpoints.
    absent = [Endpoint(service=f"nobody-{n:04d}", route=f"/api/unknown/resource-{n:04d}/details",
                       method="GET") for n in range(990)]
    endpoints = [*absent[:500], *demo_workload.endpoints, *absent[500:]]
    for read in (lambda chosen: store_backend.error_ratio(WINDOW, chosen),
                 lambda chosen: store_backend.latency(WINDOW, 0.95, chosen)):
        frame = read(endpoints)
        assert list(frame.columns) == [e.column for e in endpoints]
        alone = read(demo_workload.endpoints)
        np.testing.assert_allclose(frame[alone.columns].to_numpy(), alone.to_numpy())
        assert frame[[e.column for e in absent]].isna().all().all()


def test_filters_return_only_the_endpoints_asked_for(
    store_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    chosen = demo_workload.endpoints[:2]
    frame = store_backend.latency(WINDOW, 0.5, chosen)
    assert list(frame.columns) == [e.column for e in chosen]
    one = store_backend.latency(WINDOW, 0.5, chosen[:1])
    np.testing.assert_allclose(one[chosen[0].column], frame[chosen[0].column])


def test_higher_quantiles_are_never_lower(store_backend: PrometheusBackend) -> None:
    p50 = store_backend.latency(WINDOW, 0.5)
    p99 = store_backend.latency(WINDOW, 0.99)
    low, high = p50.to_numpy(), p99.to_numpy()
    seen = ~np.isnan(low)
    assert (seen == ~np.isnan(high)).all() and seen.any()
    assert (high[seen] >= low[seen]).all()


def test_saturation_per_service(
    store_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    cpu = store_backend.cpu(WINDOW)
    memory = store_backend.memory(WINDOW, demo_workload.services[:1])
    assert sorted(cpu.columns) == sorted(demo_workload.services)
    assert list(memory.columns) == demo_workload.services[:1]
    assert ((cpu.to_numpy() > 0) & (cpu.to_numpy() < 2)).all()
    assert ((memory.to_numpy() > 0) & (memory.to_numpy() < 1.5)).all()


def test_summary_has_a_row_per_endpoint(
    store_backend: PrometheusBackend, demo_workload: DemoWorkload
) -> None:
    summary = store_backend.summary(DEMO_END, timedelta(hours=1))
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert sorted(summary.index) == sorted(e.column for e in demo_workload.endpoints)
    assert (summary["p50"] <= summary["p95"]).all() and (summary["p95"] <= summary["p99"]).all()
    assert (summary["throughput"] > 0).all()
    services = {e.column: e.service for e in demo_workload.endpoints}
    assert summary["service"].to_dict() == services


def test_summary_quantiles_are_the_servers_histogram_quantile(
    store_backend: PrometheusBackend
) -> None:
    # The summary reads the buckets once and takes p50, p95 and p99 of them itself
    # (issue 13): each must be what the server's own histogram_quantile gives.
    for lookback in (timedelta(minutes=5), timedelta(hours=24)):
        summary = store_backend.summary(DEMO_END, lookback)
        figure = Window.figure(DEMO_END, lookback)
        for column, quantile in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            server = store_backend.latency(figure, quantile).iloc[-1]
            np.testing.assert_allclose(summary[column].astype(float),
                                       server.reindex(summary.index).astype(float),
                                       rtol=1e-12, err_msg=f"{column} over {lookback}")


def test_a_window_outside_the_data_is_no_data(store_backend: PrometheusBackend) -> None:
    future = Window(start=DEMO_END + timedelta(days=1), end=DEMO_END + timedelta(days=2))
    with pytest.raises(NoDataError, match="no throughput data for any endpoint between"):
        store_backend.throughput(future)
    unknown = Endpoint(service="nobody", route="/nowhere", method="GET")
    with pytest.raises(NoDataError, match="no latency data for the requested endpoints"):
        store_backend.latency(WINDOW, 0.95, [unknown])


def test_a_window_half_outside_the_data_has_gaps_not_errors(
    store_backend: PrometheusBackend,
) -> None:
    edge = Window(start=DEMO_END - timedelta(hours=1), end=DEMO_END + timedelta(hours=1))
    frame = store_backend.throughput(edge)
    inside = frame.index <= DEMO_END
    assert frame[inside].notna().all().all()
    # Prometheus looks back 5 minutes for the last sample, then the series ends.
    assert frame[frame.index > DEMO_END + timedelta(minutes=10)].isna().all().all()


def test_summary_refuses_a_naive_time_or_an_empty_lookback(
    store_backend: PrometheusBackend,
) -> None:
    with pytest.raises(MetricsError, match="timezone-aware"):
        store_backend.summary(DEMO_END.replace(tzinfo=None))
    with pytest.raises(MetricsError, match="expected a lookback of at least 1s"):
        store_backend.summary(DEMO_END, timedelta(0))


def test_unknown_services_are_no_data(store_backend: PrometheusBackend) -> None:
    with pytest.raises(NoDataError, match="no cpu data for the requested services"):
        store_backend.cpu(WINDOW, ["nobody"])


@pytest.mark.parametrize("step", [timedelta(minutes=1), timedelta(hours=1)], ids=["1m", "1h"])
def test_victoriametrics_gives_the_figures_prometheus_gives(
    prometheus_server: PrometheusServer, victoria_server: VictoriaServer, step: timedelta
) -> None:
    """The same samples, the same figures. Rates, quantiles and ratios agree to rounding:
    every sample sits on the minute grid and every window ends on one, so Prometheus has
    nothing to extrapolate and VictoriaMetrics's rate (from the last sample before the
    window) reads the same two counter values. ``avg_over_time`` does not: Prometheus 2.x
    counts the sample at the window's start too, VictoriaMetrics does not, so memory differs
    by a fraction of the gauge's move over one step (at most 1.5% measured on the demo at
    1m, 0.1% at 1h); 2% bounds it."""
    window = Window(start=DEMO_END - timedelta(hours=24), end=DEMO_END, step=step)
    prometheus = prometheus_backend_for(prometheus_server.url)
    victoria = prometheus_backend_for(victoria_server.url)
    figures = {
        "throughput": lambda b: b.throughput(window),
        "p95": lambda b: b.latency(window, 0.95),
        "p50": lambda b: b.latency(window, 0.5),
        "error ratio": lambda b: b.error_ratio(window),
        "cpu": lambda b: b.cpu(window),
    }
    for name, figure in figures.items():
        expected, got = figure(prometheus), figure(victoria)
        assert list(got.columns) == list(expected.columns), name
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9,
                                   err_msg=name)
    np.testing.assert_allclose(victoria.memory(window).to_numpy(),
                               prometheus.memory(window).to_numpy(), rtol=0.02)
    for lookback in (timedelta(minutes=5), timedelta(hours=24)):
        summary = victoria.summary(DEMO_END, lookback)
        expected_summary = prometheus.summary(DEMO_END, lookback).loc[summary.index]
        for column in ("p50", "p95", "p99", "throughput", "error_ratio"):
            np.testing.assert_allclose(summary[column].astype(float),
                                       expected_summary[column].astype(float), rtol=1e-9)
