"""Slack's Socket Mode side of the stand-in: a WebSocket endpoint on loopback.

``apps.connections.open`` on the stand-in issues a one-use URL (Slack's are one-use too, so
a client that reconnects must ask again); a client opening it gets ``hello``, then whatever
envelopes the test pushes, and every ``{"envelope_id": ...}`` it sends back is recorded as
that envelope's ack. The WebSocket part is RFC 6455 as Slack uses it, written from the RFC
rather than from slack_sdk's client: masked client frames in, unmasked server frames out,
ping/pong and close; no extensions, no fragmented messages.

Like Slack, the server pings its clients; here often (``ping_interval``), because slack_sdk's
builtin client holds a lock through each blocking read (up to 3 s) that closing the
connection must take: a frame every 50 ms lets it close at once instead of within 3 s.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import itertools
import json
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
CONTINUATION, TEXT, CLOSE, PING, PONG = 0x0, 0x1, 0x8, 0x9, 0xA
GOING_AWAY, PROTOCOL_ERROR = 1001, 1002


class ProtocolError(Exception):
    """The client broke RFC 6455; the connection is closed with 1002."""


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for the client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A server frame: final, unmasked (servers must not mask)."""
    size = len(payload)
    if size < 126:
        length = bytes([size])
    elif size < 1 << 16:
        length = bytes([126]) + struct.pack("!H", size)
    else:
        length = bytes([127]) + struct.pack("!Q", size)
    return bytes([0x80 | opcode]) + length + payload


def read_frame(stream: io.BufferedIOBase) -> tuple[int, bytes] | None:
    """The client's next frame as (opcode, unmasked payload); None once it has gone."""
    head = _read(stream, 2)
    if head is None:
        return None
    final, opcode = head[0] & 0x80, head[0] & 0x0F
    masked, size = head[1] & 0x80, head[1] & 0x7F
    if not masked:
        raise ProtocolError("client frames must be masked")
    if not final or opcode == CONTINUATION:
        raise ProtocolError("fragmented messages are not supported by this stand-in")
    if size >= 126:
        extended = _read(stream, 2 if size == 126 else 8)
        if extended is None:
            return None
        size = int.from_bytes(extended, "big")
    mask = _read(stream, 4)
    data = _read(stream, size)
    if mask is None or data is None:
        return None
    return opcode, bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


def _read(stream: io.BufferedIOBase, size: int) -> bytes | None:
    data = stream.read(size) if size else b""
    return data if len(data) == size else None


class _Link:
    """One open WebSocket connection, written to by the reader thread and the test."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._sock: socket.socket = handler.connection
        self._lock = threading.Lock()
        self.closing = False  # a close frame went out: nothing more may follow it

    def send(self, opcode: int, payload: bytes) -> None:
        with self._lock:
            if self.closing:
                return
            self.closing = opcode == CLOSE
            self._sock.sendall(encode_frame(opcode, payload))

    def close(self, code: int, reason: str = "") -> None:
        self.send(CLOSE, struct.pack("!H", code) + reason.encode())

    def ping_until(self, done: threading.Event, interval: float) -> None:
        while not done.wait(interval):
            try:
                self.send(PING, b"standin")
            except OSError:
                return

    def cut(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure does."""
        with contextlib.suppress(OSError):  # already gone
            self._sock.shutdown(socket.SHUT_RDWR)


class SocketModeStandIn:
    """The WebSocket server, reached through ``SlackStandIn``'s port at ``/link/``."""

    def __init__(self, ping_interval: float = 0.05) -> None:
        self.ping_interval = ping_interval
        self.connections = 0  # successful handshakes so far
        self.refused = 0  # handshakes refused (unknown or reused URL, or ``refuse_all``)
        self.refuse_all = False  # a network in between that lets no WebSocket through
        self.received: list[dict[str, Any]] = []  # client messages that are not acks
        self._acks: dict[str, dict[str, Any]] = {}
        self._tickets: set[str] = set()
        self._numbers = itertools.count(1)
        self._link: _Link | None = None
        self._links: list[_Link] = []
        self._changed = threading.Condition()

    # --- what tests use -----------------------------------------------------------------

    def wait_for_connection(self, count: int = 1, timeout: float = 20.0,
                            unless: Callable[[], bool] = lambda: False) -> None:
        """Block until ``count`` connections were opened and one is open now; give up early
        when ``unless()`` turns true (checked whenever ``wake`` is called)."""
        with self._changed:
            self._changed.wait_for(
                lambda: (self.connections >= count and self._link is not None) or unless(),
                timeout)
            done = self.connections >= count and self._link is not None
        if not done:
            raise AssertionError(f"{count} Socket Mode connection(s) never came; "
                                 f"{self.connections} did, {self.refused} refused")

    def wake(self) -> None:
        """Have waiting tests look again (e.g. the client they wait for has exited)."""
        with self._changed:
            self._changed.notify_all()

    def push(self, kind: str, payload: dict[str, Any], *, envelope_id: str | None = None,
             accepts_response_payload: bool = False, retry_attempt: int = 0) -> str:
        """Send an envelope (``slash_commands``, ``events_api``, ``interactive``) to the
        open connection; returns its envelope id."""
        envelope_id = envelope_id or f"env-{next(self._numbers)}"
        self.send({"envelope_id": envelope_id, "type": kind, "payload": payload,
                   "accepts_response_payload": accepts_response_payload,
                   "retry_attempt": retry_attempt, "retry_reason": ""})
        return envelope_id

    def send(self, message: dict[str, Any]) -> None:
        """Any message to the open connection, e.g. ``{"type": "disconnect", ...}``."""
        self._current().send(TEXT, json.dumps(message).encode())

    def wait_for_ack(self, envelope_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The client's ack of ``envelope_id``, once it came (a deadline, not a measurement)."""
        with self._changed:
            done = self._changed.wait_for(lambda: envelope_id in self._acks, timeout)
            if not done:
                raise AssertionError(f"no ack for {envelope_id}; acks: {list(self._acks)}")
            return dict(self._acks[envelope_id])

    def drop(self, *, clean: bool = True) -> None:
        """End the open connection: a close frame (``clean``, as Slack does when it moves a
        client) or a cut TCP connection."""
        link = self._current()
        if clean:
            link.close(GOING_AWAY, "going away")
        else:
            link.cut()
        with self._changed:  # gone for push(), whatever the client does next
            if self._link is link:
                self._link = None

    def close(self) -> None:
        """Cut every connection, so no reader thread outlives the stand-in."""
        with self._changed:
            links = list(self._links)
        for link in links:
            link.cut()

    # --- what SlackStandIn calls --------------------------------------------------------

    def issue_url(self, base: str) -> str:
        """A one-use URL under ``base`` (``ws://host:port/link/``), as apps.connections.open
        gives."""
        ticket = f"ticket-{next(self._numbers)}"
        with self._changed:
            self._tickets.add(ticket)
        return f"{base}?ticket={ticket}"

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Upgrade ``handler``'s GET to a WebSocket and serve it until it closes."""
        handler.close_connection = True
        headers = handler.headers
        key = headers.get("Sec-WebSocket-Key", "").strip()
        if (headers.get("Upgrade", "").lower() != "websocket" or not key
                or headers.get("Sec-WebSocket-Version", "").strip() != "13"):
            _refuse(handler, "400 Bad Request")
            return
        ticket = parse_qs(urlsplit(handler.path).query).get("ticket", [""])[0]
        with self._changed:
            known = ticket in self._tickets and not self.refuse_all
            self._tickets.discard(ticket)
            if not known:
                self.refused += 1
        if not known:
            _refuse(handler, "401 Unauthorized")
            return
        handler.wfile.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode())
        link = _Link(handler)
        with self._changed:
            self._link = link
            self._links.append(link)
        done = threading.Event()
        pinger = threading.Thread(target=link.ping_until, args=(done, self.ping_interval),
                                  name="standin-ping", daemon=True)
        pinger.start()
        try:
            link.send(TEXT, json.dumps({
                "type": "hello", "num_connections": 1,
                "debug_info": {"host": "standin", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A1"}}).encode())
            with self._changed:  # counted once hello is out: the client may be sent envelopes
                self.connections += 1
                self._changed.notify_all()
            self._converse(link, handler.rfile)
        except OSError:
            pass  # the connection went away (cut, or the client closed it)
        finally:
            done.set()
            pinger.join()
            with self._changed:
                self._links.remove(link)
                if self._link is link:
                    self._link = None
                self._changed.notify_all()

    # --- the server ---------------------------------------------------------------------

    def _converse(self, link: _Link, stream: io.BufferedIOBase) -> None:
        while True:
            try:
                frame = read_frame(stream)
            except ProtocolError as exc:
                link.close(PROTOCOL_ERROR, str(exc))
                return
            if frame is None:
                return
            opcode, data = frame
            if opcode == PING:
                link.send(PONG, data)
            elif opcode == CLOSE:
                link.send(CLOSE, data[:2])  # echo the code, then the client closes TCP
                return
            elif opcode == TEXT:
                self._received(json.loads(data))

    def _received(self, message: dict[str, Any]) -> None:
        with self._changed:
            envelope_id = message.get("envelope_id")
            if envelope_id:
                self._acks[str(envelope_id)] = message
            else:
                self.received.append(message)
            self._changed.notify_all()

    def _current(self) -> _Link:
        with self._changed:
            if self._link is None:
                raise AssertionError("no Socket Mode connection is open")
            return self._link


def _refuse(handler: BaseHTTPRequestHandler, status: str) -> None:
    handler.wfile.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
