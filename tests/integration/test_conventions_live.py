"""Auto-detection of each naming convention against a real Prometheus (and VictoriaMetrics)
holding only that naming."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.metrics.base import Endpoint, Window
from bot.metrics.settings import MetricNames
from tests.conftest import DEMO_END, STORES, prometheus_backend_for


@dataclass(frozen=True)
class Naming:
    convention: str
    histogram: str
    unit_per_second: float
    route: str
    method: str
    status: str
    service: str


NAMINGS = [
    Naming("otel_legacy", "http_server_duration_milliseconds", 1000.0,
           "http_route", "http_method", "http_status_code", "job"),
    Naming("prometheus", "http_request_duration_seconds", 1.0,
           "handler", "method", "status", "job"),
    # A client library with "route" and "code" labels, and OpenTelemetry's service_name.
    Naming("prometheus", "http_request_duration_seconds", 1.0, "route", "method", "code",
           "service_name"),
]

# Every request takes between 0.1 s and 0.2 s, so the median is 0.15 s in any unit.
BOUNDS_SECONDS = (0.1, 0.2, 0.4)


def openmetrics_for(naming: Naming, minutes: int = 30) -> str:
    name = naming.histogram
    bounds = [f"{b * naming.unit_per_second:g}" for b in BOUNDS_SECONDS]
    lines = [f"# TYPE {name} histogram"]
    first = int(DEMO_END.timestamp()) - minutes * 60
    for minute in range(minutes + 1):
        ts = first + minute * 60
        total = minute * 60 * 10  # 10 req/s
        labels = (f'{naming.service}="shop",{naming.route}="/api/items",'
                  f'{naming.method}="GET",{naming.status}="200"')
        for le, count in zip((*bounds, "+Inf"), (0, total, total, total), strict=True):
            lines.append(f'{name}_bucket{{{labels},le="{le}"}} {count} {ts}')
        lines.append(f"{name}_count{{{labels}}} {total} {ts}")
        lines.append(f"{name}_sum{{{labels}}} {total * 0.15 * naming.unit_per_second:g} {ts}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(params=list(STORES))
def store_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(params=NAMINGS, ids=lambda n: f"{n.histogram}:{n.route}:{n.service}")
def served(request: pytest.FixtureRequest, store_name: str, tmp_path: Path
           ) -> Iterator[tuple[Naming, str]]:
    """Each naming alone, on each store."""
    naming: Naming = request.param
    source = tmp_path / "metrics.om"
    source.write_text(openmetrics_for(naming), encoding="utf-8")
    with STORES[store_name](source, tmp_path / "server") as server:
        yield naming, server.url


def test_detects_names_labels_and_unit(served: tuple[Naming, str]) -> None:
    naming, url = served
    backend = prometheus_backend_for(url)
    http = backend.http_metrics()
    assert http.convention == naming.convention
    assert (http.route_label, http.status_label, http.service_label) == (
        naming.route, naming.status, naming.service,
    )
    endpoint = Endpoint(service="shop", route="/api/items", method="GET")
    assert backend.endpoints() == [endpoint]
    window = Window(start=DEMO_END - timedelta(minutes=10), end=DEMO_END,
                    step=timedelta(minutes=5))
    median = backend.latency(window, 0.5, [endpoint])[endpoint.column].dropna()
    # In seconds whatever the histogram's unit: halfway through the (0.1, 0.2] bucket.
    assert median.to_numpy() == pytest.approx(0.15, rel=1e-6)
    assert any(naming.histogram in check.detail for check in backend.check() if check.ok)


def test_configured_names_override_detection(served: tuple[Naming, str]) -> None:
    _naming, url = served
    backend = prometheus_backend_for(url)
    backend_names = MetricNames(histogram="no_such_histogram_seconds")
    configured = type(backend)(backend.settings, backend_names, backend.saturation,
                               clock=lambda: DEMO_END)
    failed = [check for check in configured.check() if not check.ok]
    assert any("no_such_histogram_seconds" in check.detail for check in failed)
