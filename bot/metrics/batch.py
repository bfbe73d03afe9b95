"""One answer's reads, batched: results reused within the answer, adjacent windows read as
one, independent reads run at the same time (issue 13, "Fast commands").

``one_answer()`` opens a scope (a context variable, so concurrent answers never share it).
Inside it a backend may keep what it read (``Scope.read``: the first caller of a key reads,
callers of the same key at the same time wait for that read) and be told that two series
windows will both be read with the same queries (``join``): a range query over one of them
is then sent over both, one request instead of two. Outside a scope nothing is kept.
``run_all`` runs calls on threads that carry the caller's context (and so its scope).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Any, TypeVar

from bot.metrics.base import Window

T = TypeVar("T")


class Scope:
    """What one answer has read, and which of its windows are read together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: dict[Any, Future[Any]] = {}
        self._joined: dict[Window, Window] = {}

    def join(self, earlier: Window, later: Window) -> None:
        """Both windows will be read with the same queries; read them as one when the later
        one's grid continues the earlier one's (same step and lookback, one step apart), or
        when both are whole-window figures over the same lookback (``last_only``: one query
        of two points, a step from the one end to the other), so every point is evaluated
        at the same instant over the same span as alone."""
        if earlier.last_only and later.last_only:
            if earlier.lookback != later.lookback or earlier.end >= later.end:
                return
            both = Window(start=earlier.end, end=later.end, step=later.end - earlier.end,
                          rate_window=later.lookback)
        elif (earlier.step != later.step or earlier.lookback != later.lookback
                or earlier.end + earlier.step != later.start):
            return
        else:
            both = Window(start=earlier.start, end=later.end, step=later.step,
                          rate_window=later.rate_window)
        with self._lock:
            self._joined[earlier] = self._joined[later] = both

    def joined(self, window: Window) -> Window:
        """The window to read for ``window``: itself, or the pair it was joined into."""
        with self._lock:
            return self._joined.get(window, window)

    def read(self, key: Any, action: Callable[[], T]) -> T:
        """``action()``'s result, read once per key within the answer (errors too)."""
        with self._lock:
            known = self._reads.get(key)
            future: Future[T] = Future() if known is None else known
            if known is None:
                self._reads[key] = future
        if known is None:
            try:
                future.set_result(action())
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()


_scope: ContextVar[Scope | None] = ContextVar("perfbot_answer_scope", default=None)


@contextmanager
def one_answer() -> Iterator[Scope]:
    """A scope for the reads of one answer; nested calls share the outer one."""
    outer = _scope.get()
    if outer is not None:
        yield outer
        return
    scope = Scope()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def current() -> Scope | None:
    return _scope.get()


def run_all(*calls: Callable[[], Any]) -> list[Any]:
    """Each call's result, in order; the calls after the first run on threads of their own
    (with this context), so independent reads wait for the server at the same time. The
    first error raised, in call order, is raised once all have finished."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls) - 1,
                            thread_name_prefix="perfbot-read") as pool:
        futures = [pool.submit(copy_context().run, call) for call in calls[1:]]
        try:
            first = calls[0]()
        except BaseException:
            for future in futures:
                future.exception()  # wait: nothing outlives the answer
            raise
        return [first, *(future.result() for future in futures)]
