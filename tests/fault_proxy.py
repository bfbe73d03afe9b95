"""A fault-injecting HTTP proxy in front of a real Prometheus: what a slow, broken or hostile
metrics server does to the bot, for real, over loopback.

Requests pass through to the upstream Prometheus unless a fault is set for their path (the
longest matching prefix wins): ``Trickle`` sends the real answer one byte at a time,
``Pad`` sends the real answer with thousands of extra series, ``Fixed`` sends a given
status and body (a wrong shape, a 500 with secrets in it). The proxy records whether the
client hung up before a faulty answer was all sent (``cut``) or got all of it
(``finished``): the evidence that a deadline or a size cap really stopped the transfer.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class Trickle:
    """The real answer, one byte every ``every`` seconds; after ``limit`` seconds (or
    ``release()``) the rest at once, so a client without a deadline does finish."""

    every: float = 0.5
    limit: float = 30.0


@dataclass(frozen=True)
class Pad:
    """The real answer with ``series`` extra series (each with a ``pad``-character label);
    ``declare_length=False`` sends no Content-Length (the end is the connection's close)."""

    series: int
    pad: int = 500
    declare_length: bool = True


@dataclass(frozen=True)
class Fixed:
    """``status`` and ``body`` instead of the upstream's answer."""

    status: int
    body: bytes
    content_type: str = "application/json"


Fault = Trickle | Pad | Fixed


class FaultProxy:
    """``with FaultProxy(prometheus.url) as proxy:`` → point the bot at ``proxy.url``."""

    def __init__(self, upstream: str, *, keep_alive: bool = False) -> None:
        """``keep_alive``: HTTP/1.1 with connections kept open between requests, as
        Prometheus does (else HTTP/1.0, a connection per request)."""
        self.upstream = upstream.rstrip("/")
        self.keep_alive = keep_alive
        self.trickling = threading.Event()  # set once a trickle started sending its body
        self.cut = threading.Event()  # the client hung up before a faulty answer was sent
        self.finished = threading.Event()  # a faulty answer was sent in full
        self.released = threading.Event()
        self.paths: list[str] = []
        self.clients: list[int] = []  # each request's client port: one per connection
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def set(self, prefix: str, fault: Fault) -> None:
        """Answer the paths starting with ``prefix`` (``/api/v1/query_range``) with ``fault``."""
        with self._lock:
            self._faults[prefix] = fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def release(self) -> None:
        """Every trickle, now and later, sends the rest of its answer at once."""
        self.released.set()

    def _fault(self, path: str) -> Fault | None:
        with self._lock:
            matching = [prefix for prefix in self._faults if path.startswith(prefix)]
            return self._faults[max(matching, key=len)] if matching else None

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if proxy.keep_alive else "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                with proxy._lock:
                    proxy.paths.append(path)
                    proxy.clients.append(self.client_address[1])
                fault = proxy._fault(path)
                if isinstance(fault, Fixed):
                    self._send(fault.status, fault.body, fault.content_type)
                    return
                upstream = httpx.get(proxy.upstream + self.path, timeout=60)
                if isinstance(fault, Trickle):
                    self._trickle(upstream, fault)
                elif isinstance(fault, Pad):
                    self._send(upstream.status_code, _padded(upstream.content, fault),
                               declare_length=fault.declare_length)
                else:
                    self._send(upstream.status_code, upstream.content, faulty=False)

            def _send(self, status: int, body: bytes, content_type: str = "application/json",
                      *, declare_length: bool = True, faulty: bool = True) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    if declare_length:
                        self.send_header("Content-Length", str(len(body)))
                    else:
                        self.send_header("Connection", "close")  # the end is the close
                        self.close_connection = True
                    self.end_headers()
                    for start in range(0, len(body), 64 * 1024):
                        self.wfile.write(body[start:start + 64 * 1024])
                except (BrokenPipeError, ConnectionResetError):
                    if faulty:
                        proxy.cut.set()
                    return
                if faulty:
                    proxy.finished.set()

            def _trickle(self, upstream: httpx.Response, fault: Trickle) -> None:
                body = upstream.content
                waited = 0.0
                try:
                    self.send_response(upstream.status_code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    proxy.trickling.set()
                    sent = 0
                    while sent < len(body):
                        if waited >= fault.limit or proxy.released.is_set():
                            self.wfile.write(body[sent:])
                            break
                        self.wfile.write(body[sent:sent + 1])
                        sent += 1
                        proxy.released.wait(fault.every)
                        waited += fault.every
                except (BrokenPipeError, ConnectionResetError):
                    proxy.cut.set()
                    return
                proxy.finished.set()

        return Handler


def _padded(content: bytes, pad: Pad) -> bytes:
    """A query answer with ``pad.series`` more series, like the real ones but for a label."""
    answer = json.loads(content)
    result = answer["data"]["result"]
    template = result[0] if result else {"metric": {}, "values": [[0, "1"]]}
    extra = [{**template, "metric": {**template["metric"], "pad": f"{n:06d}" + "x" * pad.pad}}
             for n in range(pad.series)]
    answer["data"]["result"] = [*result, *extra]
    return json.dumps(answer).encode()
