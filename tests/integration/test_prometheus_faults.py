"""Failures against real processes: each gives its own error type and a message for a person."""

from __future__ import annotations

import base64
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType

import pytest

from bot.metrics.base import (
    Endpoint,
    MetricsError,
    NoDataError,
    QueryRejectedError,
    UnreachableError,
    Window,
)
from bot.metrics.prometheus import PrometheusBackend
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.loopback_server import LoopbackServer
from tests.prometheus_server import (
    TINY_ENDPOINTS,
    TRICKY_ROUTE,
    PrometheusServer,
    find_binaries,
    free_port,
    tiny_openmetrics,
)

WINDOW = Window(start=DEMO_END - timedelta(minutes=30), end=DEMO_END, step=timedelta(minutes=5))
ITEMS = Endpoint(service="shop", route="/api/items", method="GET")


class Sleeps(list[float]):
    """Records the backoff delays instead of waiting them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class TcpServer:
    """A loopback server thread that accepts connections and then either stays silent or
    resets them; counts the connections it accepted."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.accepted = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            if self.behaviour == "silent":
                self._held.append(conn)  # keep it open and never answer
            else:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)  # read the request, then abort: the client sees a reset
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()

    def __enter__(self) -> TcpServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()


class StandIn(LoopbackServer):
    """A loopback HTTP server that answers every request alike and records the headers:
    what perfbot meets when the URL points at something that is not (or not only) Prometheus."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.requests: list[dict[str, str]] = []
        self._answer = status, body, content_type
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorded, (status, body, content_type) = self.requests, self._answer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorded.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture(scope="module")
def tiny_openmetrics_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.om"
    path.write_text(tiny_openmetrics(DEMO_END), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_server(
    tiny_openmetrics_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    with PrometheusServer(tiny_openmetrics_file, tmp_path_factory.mktemp("tiny-prom"),
                          find_binaries()) as server:
        yield server


def test_endpoints_quiet_for_hours_are_still_known(tiny_server: PrometheusServer) -> None:
    # The tiny data ends at DEMO_END; five hours later nothing has been served since.
    later = DEMO_END + timedelta(hours=5)
    found = prometheus_backend_for(tiny_server.url, now=later).endpoints()
    assert {(e.service, e.route, e.method) for e in found} == {
        (service, route, method) for service, route, method, _ in TINY_ENDPOINTS}
    hour = prometheus_backend_for(tiny_server.url, now=later,
                                  discovery_lookback=timedelta(hours=1))
    with pytest.raises(NoDataError):  # an hour back there is nothing, not even the names
        hour.endpoints()


def test_nothing_listening_is_unreachable_after_backing_off() -> None:
    port = free_port()  # bound, then released: nothing listens there now
    sleeps = Sleeps()
    backend = prometheus_backend_for(f"http://127.0.0.1:{port}", retries=2, backoff=0.5,
                                     sleep=sleeps)
    with pytest.raises(UnreachableError) as caught:
        backend.throughput(WINDOW)
    assert str(caught.value) == (
        f"Prometheus at http://127.0.0.1:{port} is not reachable (connection refused) "
        "after 3 tries"
    )
    assert sleeps == [0.5, 1.0]


def test_a_server_that_never_answers_times_out_without_retrying() -> None:
    sleeps = Sleeps()
    with TcpServer("silent") as silent:
        backend = prometheus_backend_for(silent.url, timeout=timedelta(seconds=1), retries=2,
                                         sleep=sleeps)
        with pytest.raises(UnreachableError) as caught:
            backend.latency(WINDOW)
        accepted = silent.accepted
    assert str(caught.value) == f"Prometheus at {silent.url} did not answer within 1s"
    assert accepted == 1
    assert sleeps == []


def test_reset_connections_are_retried_then_reported() -> None:
    sleeps = Sleeps()
    with TcpServer("reset") as resetting:
        backend = prometheus_backend_for(resetting.url, retries=2, sleep=sleeps)
        with pytest.raises(UnreachableError) as caught:
            backend.endpoints()
        accepted = resetting.accepted
    message = str(caught.value)
    assert message.startswith(f"Prometheus at {resetting.url} is not reachable (")
    assert message.endswith("after 3 tries")
    assert "connection reset by the server" in message or "closed the connection" in message
    assert accepted == 3
    assert len(sleeps) == 2


def test_check_reports_an_unreachable_server_instead_of_raising() -> None:
    port = free_port()
    backend = prometheus_backend_for(f"http://127.0.0.1:{port}", retries=0)
    checks = backend.check()
    assert [(c.name, c.ok) for c in checks] == [("prometheus", False)]
    assert "connection refused" in checks[0].detail


def test_the_password_never_appears_in_messages() -> None:
    port = free_port()
    secret = "hunter2-s3cret"
    settings = PrometheusSettings(url=f"http://perfbot:{secret}@127.0.0.1:{port}", retries=0,
                                  username="perfbot")
    backend = PrometheusBackend(settings, MetricNames(), SaturationMetrics(), password=secret,
                                clock=lambda: DEMO_END)
    with pytest.raises(UnreachableError) as caught:
        backend.throughput(WINDOW)
    details = [c.detail for c in backend.check()]
    assert f"http://127.0.0.1:{port}" in str(caught.value)
    assert all(secret not in text for text in [str(caught.value), *details])


def test_invalid_promql_is_rejected_with_prometheus_own_words(
    tiny_server: PrometheusServer,
) -> None:
    sleeps = Sleeps()
    backend = prometheus_backend_for(tiny_server.url, sleep=sleeps)
    with pytest.raises(QueryRejectedError) as caught:
        backend._query_range("sum(rate(http_server_request_duration_seconds_count[5m])", WINDOW)
    # Prometheus's JSON error body: its errorType, then its error.
    assert "rejected the query (HTTP 400): bad_data: " in str(caught.value)
    assert "parse error: unclosed left parenthesis" in str(caught.value)
    assert sleeps == []  # a 4xx is never retried


def test_a_bad_configured_selector_is_rejected_by_prometheus(
    tiny_server: PrometheusServer,
) -> None:
    saturation = SaturationMetrics(cpu_limit='kube_pod_container_resource_limits{resource=~"("}')
    backend = PrometheusBackend(PrometheusSettings(url=tiny_server.url), MetricNames(), saturation,
                                clock=lambda: DEMO_END)
    with pytest.raises(QueryRejectedError, match="error parsing regexp: missing closing \\)"):
        backend.cpu(WINDOW)
    cpu_limit = next(c for c in backend.check() if c.name == "cpu limit")
    assert not cpu_limit.ok
    assert "error parsing regexp" in cpu_limit.detail


def test_an_unparseable_selector_in_the_settings_is_named(tiny_server: PrometheusServer) -> None:
    saturation = SaturationMetrics(memory_usage="container memory")
    backend = PrometheusBackend(PrometheusSettings(url=tiny_server.url), MetricNames(), saturation,
                                clock=lambda: DEMO_END)
    memory_usage = next(c for c in backend.check() if c.name == "memory usage")
    assert not memory_usage.ok
    assert "metrics.saturation.memory_usage" in memory_usage.detail
    with pytest.raises(MetricsError, match="cannot build the query: expected a metric name"):
        backend.memory(WINDOW)


def test_prometheus_stopped_mid_session(
    tiny_openmetrics_file: Path,
    tmp_path: Path,
    prometheus_backend: PrometheusBackend,
) -> None:
    second = PrometheusServer(tiny_openmetrics_file, tmp_path / "second", find_binaries())
    with second:
        backend = prometheus_backend_for(second.url, retries=1)
        before = backend.throughput(WINDOW, [ITEMS])
    assert not second.running
    with pytest.raises(UnreachableError, match="connection refused"):
        backend.throughput(WINDOW, [ITEMS])
    assert before[ITEMS.column].notna().all()
    # The shared server, and a backend pointed at it, are unaffected.
    assert not prometheus_backend.throughput(Window(start=DEMO_END - timedelta(hours=1),
                                                    end=DEMO_END)).empty


def test_tricky_label_values_are_matched_literally(tiny_server: PrometheusServer) -> None:
    backend = prometheus_backend_for(tiny_server.url)
    tricky = Endpoint(service="shop", route=TRICKY_ROUTE, method="GET")
    assert tricky in backend.endpoints()
    rates = {route: rate for _, route, method, rate in TINY_ENDPOINTS if method == "GET"}
    frame = backend.throughput(WINDOW, [tricky])
    assert list(frame.columns) == [tricky.column]
    assert frame[tricky.column].to_numpy() == pytest.approx(rates[TRICKY_ROUTE])
    both = backend.throughput(WINDOW, [tricky, ITEMS])
    assert both[ITEMS.column].to_numpy() == pytest.approx(rates["/api/items"])
    assert both[tricky.column].to_numpy() == pytest.approx(rates[TRICKY_ROUTE])


@pytest.mark.parametrize(
    "route",
    [
        "/api/.*",  # would match every route as a regex
        "/api/items|/api/a.b",
        '/api/items"} or vector(1)',
        '/api/items"} or vector(1) or {__name__=~".+',
        "/api/items\\",
        "/api/a.b|c",  # a prefix of the tricky route: a literal match needs the whole value
        "/api/items\n\t\x00",
        "/api/ítems ☕",
    ],
)
def test_hostile_values_match_nothing_else(tiny_server: PrometheusServer, route: str) -> None:
    backend = prometheus_backend_for(tiny_server.url)
    hostile = Endpoint(service="shop", route=route, method="GET")
    with pytest.raises(NoDataError, match="no throughput data"):
        backend.throughput(WINDOW, [hostile])
    with pytest.raises(NoDataError, match="no error ratio data"):
        backend.error_ratio(WINDOW, [hostile, Endpoint(service="x", route=route, method="GET")])
    # Next to a real endpoint it is an empty column: no other series leak into it.
    frame = backend.latency(WINDOW, 0.5, [ITEMS, hostile])
    assert list(frame.columns) == [ITEMS.column, hostile.column]
    assert frame[hostile.column].isna().all()
    assert frame[ITEMS.column].notna().all()


def test_refused_credentials_are_named_not_retried_and_not_echoed() -> None:
    secret = "hunter2-s3cret"
    body = b'{"status":"error","error":"unauthorized"}'
    with StandIn(401, body) as guarded:
        settings = PrometheusSettings(url=guarded.url, username="perfbot")
        backend = PrometheusBackend(settings, MetricNames(), SaturationMetrics(), password=secret,
                                    clock=lambda: DEMO_END)
        with pytest.raises(QueryRejectedError) as caught:
            backend.throughput(WINDOW)
        checks = backend.check()
    assert "refused perfbot's credentials (HTTP 401)" in str(caught.value)
    assert len(guarded.requests) == 2  # one for the query, one for check(): no retries
    expected = base64.b64encode(f"perfbot:{secret}".encode()).decode()
    assert guarded.requests[0]["Authorization"] == f"Basic {expected}"
    assert [(c.name, c.ok) for c in checks] == [("prometheus", False)]
    assert all(secret not in text for text in [str(caught.value), checks[0].detail])


def test_a_password_without_a_user_name_is_a_bearer_token() -> None:
    with StandIn(401, b"no") as guarded:
        backend = PrometheusBackend(PrometheusSettings(url=guarded.url), MetricNames(),
                                    SaturationMetrics(), password="t0ken", clock=lambda: DEMO_END)
        with pytest.raises(QueryRejectedError, match="credentials"):
            backend.endpoints()
    assert guarded.requests[0]["Authorization"] == "Bearer t0ken"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"<html>Grafana login</html>", "gave an answer perfbot cannot read"),
        (200, b'{"status":"success"}', "gave an answer perfbot cannot read"),
        (404, b"404 page not found", "has no such API (HTTP 404)"),
        (502, b"Bad Gateway", "rejected the query (HTTP 502): Bad Gateway"),
        (503, b'{"status":"error","errorType":"timeout","error":"query timed out"}',
         "rejected the query (HTTP 503): timeout: query timed out"),
    ],
)
def test_something_else_at_the_url_is_explained(status: int, body: bytes, message: str) -> None:
    with StandIn(status, body, "text/html") as other:
        backend = prometheus_backend_for(other.url)
        with pytest.raises(QueryRejectedError) as caught:
            backend.latency(WINDOW)
    assert str(caught.value).startswith(f"Prometheus at {other.url}")
    assert message in str(caught.value)
    assert len(other.requests) == 1


def test_a_bad_quantile_or_empty_filter_is_refused_before_querying(
    tiny_server: PrometheusServer,
) -> None:
    backend = prometheus_backend_for(tiny_server.url)
    with pytest.raises(MetricsError, match=r"expected a quantile between 0 and 1, got 1\.5$"):
        backend.latency(WINDOW, 1.5)
    with pytest.raises(MetricsError, match=r"expected at least one endpoint$"):
        backend.throughput(WINDOW, [])
