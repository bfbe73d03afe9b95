"""The bounded WSGI server in process, on loopback, with limits small enough to reach: one
worker, one place in the queue, a two-second deadline for the whole request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from bot.web_server import BoundedWSGIServer, Limits, make_bounded_server


def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def server() -> Iterator[BoundedWSGIServer]:
    limits = Limits(workers=1, queue=1, queue_wait=0.2, read_seconds=2.0, write_seconds=2.0)
    with make_bounded_server(echo, "127.0.0.1", 0, limits) as served:
        thread = threading.Thread(target=served.serve_forever, daemon=True)
        thread.start()
        yield served
        served.shutdown()
        thread.join()


def half_request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    return sock


def answer_of(sock: socket.socket) -> bytes:
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    sock.close()
    return answer


def test_a_full_server_answers_503_and_cuts_slow_clients_at_their_deadline(
    server: BoundedWSGIServer,
) -> None:
    port = server.server_port
    threads = threading.active_count()
    slow = [half_request(port) for _ in range(2)]  # one in the worker, one in the queue
    third = socket.create_connection(("127.0.0.1", port), timeout=30)
    third.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    assert answer_of(third).startswith(b"HTTP/1.1 503 ")  # no room: at once, not a thread
    assert threading.active_count() == threads
    # The slow ones are cut at their deadline: the first while it reads (the app's read
    # times out: 500), the second when its turn comes, its time already up (closed).
    first, second = (answer_of(sock) for sock in slow)
    assert first.startswith(b"HTTP/1.0 500 ") and second == b""
    # Then it serves as before.
    whole = socket.create_connection(("127.0.0.1", port), timeout=30)
    whole.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    answer = answer_of(whole)
    assert answer.startswith(b"HTTP/1.0 200 ") and answer.endswith(b"\r\n\r\nhello")


def test_headers_dribbled_in_are_cut_at_the_deadline_too(server: BoundedWSGIServer) -> None:
    """A header line every half second would pass any per-read timeout; the deadline is
    for the whole request (two seconds), so the server hangs up long before 20 lines."""
    sock = socket.create_connection(("127.0.0.1", server.server_port), timeout=30)
    sent = 0
    with pytest.raises(OSError):  # the server closed the connection: a write fails
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        for sent in range(1, 21):  # noqa: B007
            time.sleep(0.5)
            sock.sendall(b"X-Slow: 1\r\n")
    sock.close()
    assert sent < 20
