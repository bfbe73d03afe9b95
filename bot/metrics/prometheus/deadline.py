"""A deadline for a whole HTTP call, not only for each socket read.

``requests``' timeout bounds each read, so a server that sends a byte every few seconds keeps
a call going for as long as it likes. ``Deadline`` arms a timer for the whole call; the
sockets the call uses (``DeadlineAdapter``'s connections register them with the deadline of
the thread's call) are shut down when it fires, which wakes a read blocked on them at once.
Sockets, not connections: ``http.client`` lets go of a connection's socket once a response
that ends with the connection's close has begun, and the response reads on.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection

_current = threading.local()  # the Deadline of the call this thread is making, if any


class Deadline:
    """``with Deadline(seconds) as deadline:`` the connections used inside are cut when
    ``seconds`` have passed; ``passed()`` says whether they have."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._fired = False
        self._done = False

    def remaining(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    def passed(self) -> bool:
        return self._fired or time.monotonic() >= self._ends

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._done:
                return
            if all(known is not sock for known in self._sockets):
                self._sockets.append(sock)
            fired = self._fired
        if fired:
            _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return  # the call ended just now: its connection may be back in the pool
            self._fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def __enter__(self) -> Deadline:
        _current.deadline = self
        _watchdog.arm(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._done = True
            self._sockets.clear()
        _current.deadline = None


class _Watchdog:
    """One daemon thread that fires every deadline when its time comes (a timer thread per
    call and the proxy reads were 0.6-1 ms of CPU per request, issue 13). A deadline whose
    call ended is skipped; the thread sleeps until the earliest one."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, Deadline]] = []  # a heap, by end
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline) -> None:
        with self._wake:
            heapq.heappush(self._due, (deadline._ends, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():  # first, or forked
                self._thread = threading.Thread(target=self._run, name="perfbot-deadlines",
                                                daemon=True)
                self._thread.start()
            elif self._due[0][2] is deadline:
                self._wake.notify()  # sooner than the one the thread waits for

    def _run(self) -> None:
        while True:
            with self._wake:
                due = self._next_due()
            due._fire()

    def _next_due(self) -> Deadline:
        """The next deadline to fire, once its time has come (called holding the lock)."""
        while True:
            # Calls that ended go as soon as they are at the front: the heap keeps few.
            while self._due and self._due[0][2]._done:
                heapq.heappop(self._due)
            if not self._due:
                self._wake.wait()
                continue
            ends = self._due[0][0]
            now = time.monotonic()
            if ends <= now:
                return heapq.heappop(self._due)[2]
            self._wake.wait(ends - now)


_watchdog = _Watchdog()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        # The plain socket's shutdown, also under TLS: it wakes a reader blocked in recv.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watched(connection: HTTPConnection) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and connection.sock is not None:
        deadline.watch(connection.sock)


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)  # a kept-alive connection is not connected again
        super().request(*args, **kwargs)


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """``requests``' adapter whose connections a ``Deadline`` can cut (direct, or through an
    HTTP proxy; a SOCKS proxy's are not, and only the check between chunks applies)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager
