"""The metrics port: what the core may ask of any metrics source, and the errors it may get.

Every series method returns a DataFrame indexed by UTC timestamps (the end of each step)
with one column per endpoint or per service name. An endpoint's column is its
``Endpoint.column`` (``"payments POST /api/checkout"``), unique per service, method and route,
so two services that serve the same route never share one; ``Endpoint.key``
(``"POST /api/checkout"``) is only the name shown to people. A value at
time ``t`` summarises the interval ``(t - rate_window, t]``, the way PromQL's ``rate(x[w])``
does, so the demo and Prometheus backends answer alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:
    import pandas as pd  # only in annotations: the settings import this module

    from bot.metrics.conventions import HttpMetrics
    from bot.metrics.settings import SaturationMetrics


class Signal(StrEnum):
    LATENCY = "latency"
    THROUGHPUT = "throughput"
    ERROR_RATIO = "error_ratio"
    CPU = "cpu"
    MEMORY = "memory"


ENDPOINT_SIGNALS = (Signal.LATENCY, Signal.THROUGHPUT, Signal.ERROR_RATIO)
SERVICE_SIGNALS = (Signal.CPU, Signal.MEMORY)


class Resource(StrEnum):
    """An absolute amount a service holds or uses, for cost (not a ratio like ``Signal.CPU``)."""

    CPU_CORES = "cpu_cores"  # CPU in use
    CPU_LIMIT_CORES = "cpu_limit_cores"
    MEMORY_BYTES = "memory_bytes"  # working set
    MEMORY_LIMIT_BYTES = "memory_limit_bytes"


class Endpoint(BaseModel):
    """One HTTP route of one service, as the metrics name it."""

    model_config = ConfigDict(frozen=True)

    service: str
    route: str
    method: str = ""

    @property
    def key(self) -> str:
        """The name shown to people: ``"POST /api/checkout"``. Two services may share one."""
        return f"{self.method} {self.route}" if self.method else self.route

    @property
    def column(self) -> str:
        """The endpoint's frame column (or summary index label), unique per service, method and
        route: ``"payments POST /api/checkout"``."""
        return endpoint_column(self.service, self.key)


def endpoint_column(service: str, key: str) -> str:
    """The frame column of the endpoint ``key`` of ``service`` (see ``Endpoint.column``)."""
    # Without a service label the key alone is all there is to tell endpoints apart.
    return f"{service} {key}" if service else key


class Window(BaseModel):
    """A range query from ``start`` to ``end`` every ``step``; a point covers ``lookback``."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    step: timedelta = timedelta(minutes=5)
    rate_window: timedelta | None = None
    # Only the point at ``end`` is wanted (a whole-window figure, ``Window.figure``): a
    # backend may evaluate that instant alone, reading the lookback once instead of twice.
    last_only: bool = False

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
    def figure(cls, at: datetime, lookback: timedelta) -> Window:
        """The figure over the ``lookback`` before ``at``: a window of two points a minute
        apart (a range query needs two), of which only the last is read."""
        return cls(start=at - timedelta(minutes=1), end=at, step=timedelta(minutes=1),
                   rate_window=lookback, last_only=True)

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
    warning: bool = False  # ok, but something optional is missing (check-config: ⚠, exit 0)


class MetricsError(Exception):
    """Any failure to get metrics; the message is written for a person: the operator, who
    may read the server's URL and what it answered (logs, the CLI). ``public`` says the same
    for a chat channel, without them (default: the message, when it holds neither)."""

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message)
        self.public = public if public is not None else message


class UnreachableError(MetricsError):
    """The metrics server did not answer (refused, timed out, or stopped)."""


class TooSlowError(UnreachableError):
    """The metrics server did not finish answering within the call's deadline."""


class TooLargeError(MetricsError):
    """The answer was larger than perfbot reads (``max_response_mb``)."""


class QueryRejectedError(MetricsError):
    """The server answered with an error (bad PromQL, HTTP 4xx/5xx)."""


class UnreadableAnswerError(QueryRejectedError):
    """The server answered, but not in the API's form (a login page, a wrong shape)."""


class NoDataError(MetricsError):
    """The query ran but returned no usable samples."""


class NoBucketError(MetricsError):
    """The latency histogram has no bucket bound at the threshold asked for."""


class SeriesValue(BaseModel):
    """One series of an instant query's answer: its labels and its value then."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str]
    value: float


@runtime_checkable
class InstantQueries(Protocol):
    """A backend that runs arbitrary PromQL at one instant (playbook diagnostics)."""

    def instant(self, query: str, at: datetime) -> list[SeriesValue]:
        """The query's answer at ``at``: a vector's series, or a scalar as one series
        without labels. Raises ``MetricsError`` (``QueryRejectedError`` for bad PromQL)."""
        ...


@runtime_checkable
class NamedMetrics(Protocol):
    """A backend that knows its servers' metric and label names (playbook diagnostics
    write their PromQL with them)."""

    saturation: SaturationMetrics

    def http_metrics(self) -> HttpMetrics:
        """The HTTP histogram and its labels as found on the server; ``MetricsError`` when
        they cannot be found."""
        ...


@runtime_checkable
class Resolution(Protocol):
    """A backend that can say how finely its data is sampled."""

    def resolution(self, at: datetime) -> timedelta | None:
        """The finest step whose rates its data before ``at`` carries (two samples in each
        step; whole minutes); None when it cannot tell."""
        ...


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
        """Latency quantile in seconds per endpoint (all endpoints when ``endpoints`` is None).

        One column per endpoint, named by ``Endpoint.column``; the same for every endpoint
        signal below (throughput, error ratio, busy time, latency within).
        """
        ...

    def pooled_latency(
        self, window: Window, quantile: float, groups: Mapping[str, Sequence[Endpoint]]
    ) -> pd.DataFrame:
        """The latency quantile of all the requests of each group (a service's endpoints):
        their buckets summed by ``le``, then ``histogram_quantile``; one column per group.
        Not the slowest member's quantile, which overstates a service's."""
        ...

    def data_steps(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.Series:
        """How many HTTP histogram series (of ``endpoints``; None: all) have samples in each
        step of ``window`` (the ``(t - step, t]`` before each step end ``t``); 0 where none.
        One cheap query: it says how much of a window the data covers, and since when it is
        silent."""
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

    def busy_time(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        """Seconds spent answering requests per second, per endpoint (the histogram's ``_sum``)."""
        ...

    def latency_within(
        self, window: Window, threshold: float, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        """Share of requests answered within ``threshold`` seconds, 0..1, per endpoint.

        Exact: read from the histogram's bucket whose bound is ``threshold``. Raises
        ``NoBucketError`` when no bucket has that bound (nothing is interpolated).
        """
        ...

    def resource(
        self, window: Window, resource: Resource, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """An absolute amount per service: cores or bytes, summed over its containers.

        CPU in use is averaged over each point's lookback (a rate); limits and memory are
        their value at each point, summed over the containers alive then, so containers that
        come and go count for the time they live. Unlike the signals, a service without data
        is a column of NaN; NoDataError only when none of them has any.
        """
        ...

    def opencost_hourly(
        self, window: Window, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Money per hour per service from OpenCost's allocation metrics and node prices.

        NaN columns for services OpenCost does not report; NoDataError when it reports none
        (no OpenCost metrics at all), so callers can fall back to a price table.
        """
        ...

    def summary(
        self,
        at: datetime,
        lookback: timedelta = timedelta(hours=1),
        endpoints: Sequence[Endpoint] | None = None,
    ) -> pd.DataFrame:
        """Instant figures per endpoint over ``(at - lookback, at]``.

        Index: ``Endpoint.column`` (``"payments POST /api/checkout"``). Columns: ``service``,
        ``p50``, ``p95``, ``p99`` (seconds), ``throughput`` (req/s) and ``error_ratio``.
        """
        ...


SUMMARY_COLUMNS = ["service", "p50", "p95", "p99", "throughput", "error_ratio"]


def check_summary_arguments(at: datetime, lookback: timedelta) -> None:
    """What every backend's ``summary`` refuses, with the same words."""
    if at.tzinfo is None:
        raise MetricsError("the summary time must be timezone-aware")
    if lookback < timedelta(seconds=1):
        raise MetricsError(f"expected a lookback of at least 1s, got {lookback}")


def format_utc(moment: datetime) -> str:
    """A moment in the backends' messages: ``2026-11-23 12:00 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def latency_quantiles(
    backend: MetricsBackend,
    window: Window,
    quantiles: Sequence[float],
    endpoints: Sequence[Endpoint] | None = None,
) -> dict[float, pd.DataFrame]:
    """Several latency quantiles at once, keyed by quantile."""
    return {q: backend.latency(window, q, endpoints) for q in quantiles}
