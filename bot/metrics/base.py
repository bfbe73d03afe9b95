"""The metrics port: what the core may ask of any metrics source, and the errors it may get.

Every series method returns a DataFrame indexed by UTC timestamps (the end of each step)
with one column per endpoint key (``"POST /api/checkout"``) or per service name. A value at
time ``t`` summarises the interval ``(t - rate_window, t]``, the way PromQL's ``rate(x[w])``
does, so the demo and Prometheus backends answer alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator


class Signal(StrEnum):
    LATENCY = "latency"
    THROUGHPUT = "throughput"
    ERROR_RATIO = "error_ratio"
    CPU = "cpu"
    MEMORY = "memory"


ENDPOINT_SIGNALS = (Signal.LATENCY, Signal.THROUGHPUT, Signal.ERROR_RATIO)
SERVICE_SIGNALS = (Signal.CPU, Signal.MEMORY)


class Endpoint(BaseModel):
    """One HTTP route of one service, as the metrics name it."""

    model_config = ConfigDict(frozen=True)

    service: str
    route: str
    method: str = ""

    @property
    def key(self) -> str:
        """The name shown to people and used as a column name: ``"POST /api/checkout"``."""
        return f"{self.method} {self.route}" if self.method else self.route


class Window(BaseModel):
    """A range query from ``start`` to ``end`` every ``step``; a point covers ``lookback``."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    step: timedelta = timedelta(minutes=5)
    rate_window: timedelta | None = None

    @model_validator(mode="after")
    def _check(self) -> Window:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        if self.step <= timedelta(0):
            raise ValueError("window step must be positive")
        return self

    @property
    def lookback(self) -> timedelta:
        """How far back each point looks: the rate window, by default the step (at least 2m)."""
        return self.rate_window or max(self.step, timedelta(minutes=2))

    @classmethod
    def last(cls, span: timedelta, now: datetime, step: timedelta | None = None) -> Window:
        """The window of length ``span`` ending at ``now``, with a step that gives ~300 points."""
        if step is None:
            step = max(timedelta(minutes=1), _round_minutes(span / 300))
        return cls(start=now - span, end=now, step=step)


def _round_minutes(delta: timedelta) -> timedelta:
    return timedelta(minutes=round(delta.total_seconds() / 60))


class Check(BaseModel):
    """One line of a health check, as ``perfbot check-config`` prints it."""

    name: str
    ok: bool
    detail: str


class MetricsError(Exception):
    """Any failure to get metrics; the message is written for a person."""


class UnreachableError(MetricsError):
    """The metrics server did not answer (refused, timed out, or stopped)."""


class QueryRejectedError(MetricsError):
    """The server answered with an error (bad PromQL, HTTP 4xx/5xx)."""


class NoDataError(MetricsError):
    """The query ran but returned no usable samples."""


@runtime_checkable
class MetricsBackend(Protocol):
    """What the core needs from a metrics source."""

    def check(self) -> list[Check]:
        """Health lines for ``perfbot check-config``; failures are ``ok=False``, never raised."""
        ...

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint that has recent traffic."""
        ...

    def latency(
        self, window: Window, quantile: float = 0.95, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        """Latency quantile in seconds per endpoint (all endpoints when ``endpoints`` is None)."""
        ...

    def throughput(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        """Requests per second per endpoint."""
        ...

    def error_ratio(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        """Share of requests answered 5xx, 0..1, per endpoint."""
        ...

    def cpu(self, window: Window, services: Sequence[str] | None = None) -> pd.DataFrame:
        """CPU use as a share of the service's limit, 0..1 (may exceed 1 when throttled)."""
        ...

    def memory(self, window: Window, services: Sequence[str] | None = None) -> pd.DataFrame:
        """Memory working set as a share of the service's limit, 0..1."""
        ...

    def summary(
        self,
        at: datetime,
        lookback: timedelta = timedelta(hours=1),
        endpoints: Sequence[Endpoint] | None = None,
    ) -> pd.DataFrame:
        """Instant figures per endpoint over ``(at - lookback, at]``.

        Index: endpoint key. Columns: ``service``, ``p50``, ``p95``, ``p99`` (seconds),
        ``throughput`` (req/s) and ``error_ratio``.
        """
        ...


SUMMARY_COLUMNS = ["service", "p50", "p95", "p99", "throughput", "error_ratio"]


def latency_quantiles(
    backend: MetricsBackend,
    window: Window,
    quantiles: Sequence[float],
    endpoints: Sequence[Endpoint] | None = None,
) -> dict[float, pd.DataFrame]:
    """Several latency quantiles at once, keyed by quantile."""
    return {q: backend.latency(window, q, endpoints) for q in quantiles}
