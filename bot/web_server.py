"""A WSGI server with bounds, for any HTTP endpoint the bot exposes (Slack's today).

wsgiref's threading server gives every connection a thread and waits on it forever, so
clients that send half a request hold threads (and memory) for as long as they like. Here:

- a fixed pool of ``workers`` threads handles connections, one request each;
- accepted connections wait for a worker in a queue of at most ``queue``; when it stays
  full for ``queue_wait`` seconds the next connection gets a quick 503 (the ones behind
  it wait in the kernel's listen backlog, ``backlog``);
- the whole request (line, headers and body) must arrive within ``read_seconds`` of the
  connection being accepted, whatever the pace of its bytes; the answer must leave within
  ``write_seconds``;
- errors are logged as one line on this module's logger, never printed to stderr with a
  traceback (a client that disconnects or times out is not the bot's failure).

What the application may read (size, type) is its own business: it gets the request's
headers before any of the body is read, and reads ``wsgi.input`` itself.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nContent-Length: 17\r\nConnection: close\r\n\r\n"
         b'{"error": "busy"}')


@dataclass(frozen=True)
class Limits:
    workers: int = 32
    queue: int = 64
    queue_wait: float = 1.0  # seconds the accepting thread waits for room before a 503
    read_seconds: float = 10.0  # the whole request, from the connection's accept
    write_seconds: float = 10.0
    backlog: int = 1024  # the kernel caps it at net.core.somaxconn


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, each read given only the time left until ``deadline``
    (monotonic); the socket's timeout is ``after`` between reads (for the answer)."""

    def __init__(self, sock: socket.socket, deadline: float, after: float) -> None:
        super().__init__()
        self._sock, self._deadline, self._after = sock, deadline, after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(self._after)


class _Answering(ServerHandler):
    """wsgiref's per-request handler, logging an application's failure as one line with
    its traceback on our logger instead of printing it to stderr."""

    def log_exception(self, exc_info: tuple[Any, Any, Any]) -> None:
        kind, exc, _ = exc_info
        if isinstance(exc, OSError):  # the client went away or was too slow to read
            client = getattr(self, "environ", {}).get("REMOTE_ADDR", "?")
            log.info("could not answer %s: %s", client, exc or kind.__name__)
        else:
            log.error("the application failed", exc_info=exc_info)


class _Handler(WSGIRequestHandler):
    server: BoundedWSGIServer

    def setup(self) -> None:
        super().setup()
        limits = self.server.limits
        self.connection.settimeout(limits.write_seconds)
        self.rfile.close()  # socketserver's reader: ours replaces it (the socket stays open)
        self.rfile = io.BufferedReader(_DeadlineReader(
            self.connection, self.server.deadline(), limits.write_seconds))

    def handle(self) -> None:
        # wsgiref's handle(), with _Answering (no tracebacks on stderr).
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # it sent its error (400, 431…)
            return
        handler = _Answering(cast(IO[bytes], self.rfile), cast(IO[bytes], self.wfile),
                             self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self  # type: ignore[attr-defined]  # wsgiref logs through it
        app = self.server.get_app()
        assert app is not None
        handler.run(app)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class BoundedWSGIServer(WSGIServer):
    """``serve_forever`` accepts; ``limits.workers`` threads answer. ``server_close``
    stops the workers (those in a request finish it, within its deadline)."""

    def __init__(self, address: tuple[str, int], app: WSGIApp, limits: Limits) -> None:
        self.limits = limits
        self.request_queue_size = limits.backlog
        super().__init__(address, _Handler)
        self.set_app(app)
        self._waiting: queue.Queue[tuple[socket.socket, Any, float]] = queue.Queue(limits.queue)
        self._stopping = threading.Event()
        self._local = threading.local()
        self._workers = [threading.Thread(target=self._work, name=f"http-worker-{n}",
                                          daemon=True) for n in range(1, limits.workers + 1)]
        for worker in self._workers:
            worker.start()

    def deadline(self) -> float:
        """When the request the calling worker handles must have arrived (monotonic)."""
        return float(self._local.deadline)

    def process_request(self, request: Any, client_address: Any) -> None:
        accepted = time.monotonic()
        try:
            self._waiting.put((request, client_address, accepted),
                              timeout=self.limits.queue_wait)
        except queue.Full:
            log.warning("HTTP: %d connections already waiting for %d workers; answering "
                        "503", self.limits.queue, self.limits.workers)
            _refuse(request)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                request, address, accepted = self._waiting.get(timeout=0.5)
            except queue.Empty:
                continue
            self._local.deadline = accepted + self.limits.read_seconds
            try:
                if time.monotonic() < self._local.deadline:
                    self.finish_request(request, address)
                else:
                    log.info("HTTP: dropped a connection from %s that waited past its "
                             "deadline", address[0] if address else "?")
            except OSError as exc:  # a timeout, a reset: the client's doing
                log.info("HTTP: connection from %s cut: %s", address[0] if address else "?",
                         exc or type(exc).__name__)
            except Exception:
                log.exception("HTTP: handling a request failed")
            finally:
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("HTTP: handling a request from %s failed", client_address)

    def server_close(self) -> None:
        super().server_close()
        self._stopping.set()
        while True:  # accepted, never started: close them
            try:
                self._waiting.get_nowait()[0].close()
            except queue.Empty:
                break
        end = time.monotonic() + 2.0
        for worker in self._workers:
            worker.join(timeout=max(0.0, end - time.monotonic()))

    def __enter__(self) -> BoundedWSGIServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server_close()


class Refused(Exception):
    """A request refused before (or instead of) reading its body: ``status`` and why."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def content_length(environ: dict[str, Any], max_body: int) -> int:
    """The body's length, once the headers say it may be read: a Content-Length (no
    Transfer-Encoding), a byte count, at most ``max_body`` (411/400/413 otherwise)."""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        raise Refused("411 Length Required", "a Content-Length is required, not a "
                      "Transfer-Encoding")
    length = environ.get("CONTENT_LENGTH", "")
    if not length:
        raise Refused("411 Length Required", "a Content-Length is required")
    if not (length.isascii() and length.isdigit() and len(length) <= 12):
        raise Refused("400 Bad Request", "Content-Length is not a byte count")
    if int(length) > max_body:
        raise Refused("413 Content Too Large", f"bodies above {max_body} bytes are refused")
    return int(length)


def read_body(environ: dict[str, Any], length: int) -> bytes:
    """Exactly ``length`` bytes of the body, within the request's deadline."""
    try:
        raw = environ["wsgi.input"].read(length)
    except TimeoutError:
        raise Refused("408 Request Timeout", "the body did not arrive in time") from None
    if len(raw) != length:
        raise Refused("400 Bad Request", "the body is shorter than its Content-Length")
    return bytes(raw)


def _refuse(sock: socket.socket) -> None:
    """A quick 503 that never blocks the accepting thread."""
    try:
        sock.setblocking(False)
        sock.send(_BUSY)
    except OSError:
        pass
    finally:
        sock.close()


def by_path(apps: dict[str, WSGIApp]) -> WSGIApp:
    """One port, several endpoints: each path to its application, anything else a 404
    naming the paths served."""
    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        app = apps.get(environ.get("PATH_INFO", ""))
        if app is not None:
            return app(environ, start_response)
        body = json.dumps({"error": "nothing here; this port serves "
                                    + " and ".join(sorted(apps))}).encode()
        start_response("404 Not Found", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    return application


def make_bounded_server(app: WSGIApp, host: str, port: int,
                        limits: Limits | None = None) -> BoundedWSGIServer:
    """``app`` on ``host:port`` (0: a free port, see ``server_port``), within ``limits``."""
    return BoundedWSGIServer((host, port), app, limits or Limits())
