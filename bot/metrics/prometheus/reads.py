"""Reading the server: range and instant queries, each read once within an answer
(``batch``), and a window joined to another read with it. ``PrometheusBackend`` builds the
queries and the frames; this part sends them through ``client``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.metrics import batch
from bot.metrics.base import (
    MetricsError,
    QueryRejectedError,
    SeriesValue,
    UnreadableAnswerError,
    Window,
)
from bot.metrics.prometheus.client import PrometheusClient
from bot.metrics.prometheus.frames import _whole_seconds, _within
from bot.metrics.prometheus.shapes import Sample, Scalar, Series, Vector

log = logging.getLogger("bot.metrics.prometheus.backend")  # as before the move: same logger


class ServerReads:
    """The queries' reads, for ``PrometheusBackend`` (which sets ``_client`` and ``url``)."""

    _client: PrometheusClient
    url: str

    @property
    def safe_url(self) -> str:
        """The URL without any user:password part, for messages."""
        return self._client.safe_url

    def _query_range(self, query: str, window: Window) -> list[Series]:
        scope = batch.current()
        if scope is None:
            return self._send_range(query, window)
        # Within one answer: read once, and a window joined to another is read with it.
        read = scope.joined(window)
        result = scope.read(("range", self.url, query, read),
                            lambda: self._send_range(query, read))
        return result if read == window else _within(result, window)

    def _send_range(self, query: str, window: Window) -> list[Series]:
        log.debug("query_range %s [%s, %s] step %s", query, window.start, window.end, window.step)
        start, end = _whole_seconds(window.start), _whole_seconds(window.end)
        if window.last_only:
            # One instant: the point before it would read the whole lookback again.
            start = end
        step = f"{window.step.total_seconds():g}"
        return self._client.query_range(query, start, end, step)

    def instant(self, query: str, at: datetime) -> list[SeriesValue]:
        """Any PromQL at ``at`` (``InstantQueries``): a vector's series or a scalar."""
        if at.tzinfo is None:
            raise MetricsError("the query time must be timezone-aware")
        log.debug("query %s at %s", query, at)
        data = self._client.query(query, at)
        if isinstance(data, Vector):
            return [SeriesValue(labels=dict(sample["metric"]), value=sample["value"][1])
                    for sample in data.result]
        if isinstance(data, Scalar):
            return [SeriesValue(labels={}, value=data.result[1])]
        raise QueryRejectedError(
            f"{query!r} does not give a number per series at one instant (a range vector "
            "or a string?); a diagnostic needs an instant vector or a scalar"
        )

    def _figures(self, query: str, at: datetime, lookback: timedelta) -> list[Sample]:
        """The samples of an instant query over the ``lookback`` before ``at``; within an
        answer that joined this figure to another (``batch.Scope.join``), read with it."""
        scope = batch.current()
        figure = Window.figure(at, lookback)
        if scope is None or scope.joined(figure) == figure:
            return self._vector(query, at)
        return [Sample(metric=series["metric"], value=series["values"][-1])
                for series in self._query_range(query, figure)]

    def _vector(self, query: str, at: datetime) -> list[Sample]:
        """The samples of a query perfbot wrote to give an instant vector."""
        scope = batch.current()
        if scope is None:
            return self._send_vector(query, at)
        return scope.read(("instant", self.url, query, at), lambda: self._send_vector(query, at))

    def _send_vector(self, query: str, at: datetime) -> list[Sample]:
        log.debug("query %s at %s", query, at)
        data = self._client.query(query, at)
        if not isinstance(data, Vector):
            raise UnreadableAnswerError(
                f"Prometheus at {self.safe_url} answered {query!r} with a "
                f"{data.result_type} where an instant vector belongs",
                public="the metrics server answered in a form I can't read")
        return data.result
