"""The Prometheus client's own cost per call (issue 13): it starts no thread per call (one
watchdog fires every deadline), and it reads the proxy settings once, when it is made (twice
per request cost CPU), honouring HTTP_PROXY and NO_PROXY as ``requests`` does.
A real forward proxy, a real Prometheus."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.prometheus_server import PrometheusServer


class _Forward(BaseHTTPRequestHandler):
    """A plain HTTP forward proxy for GET: the request line holds the absolute URL."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.netloc, timeout=10)
        try:
            upstream.request("GET", f"{target.path}?{target.query}")
            answer = upstream.getresponse()
            body = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Forward", (_Forward,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _ask(backend: PrometheusBackend) -> None:
    assert backend._client.query("vector(1)", DEMO_END).result, "an answer came back"


def test_http_proxy_carries_the_calls(
    prometheus_server: PrometheusServer, proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = proxy
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("http_proxy", url)
    backend = prometheus_backend_for(prometheus_server.url)
    _ask(backend)
    _ask(backend)
    assert len(seen) == 2 and all(p.startswith(prometheus_server.url) for p in seen), seen


def test_no_proxy_sends_the_calls_direct(
    prometheus_server: PrometheusServer, proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("http_proxy", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    _ask(prometheus_backend_for(prometheus_server.url))
    assert seen == []


def test_calls_start_no_thread_each(
    prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each call armed a threading.Timer of its own: a thread started and stopped per
    # request. The watchdog's one thread (started once per process) cuts them all.
    backend = prometheus_backend_for(prometheus_server.url)
    _ask(backend)
    started: list[str] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    for _ in range(20):
        _ask(backend)
    assert started == []
