"""The Prometheus adapter: PromQL over the HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics).

``PrometheusBackend`` answers the metrics port with queries built by ``promql``; it asks
``client`` for the HTTP calls (retries, errors in words), ``discovery`` for the histogram's
names and the endpoints, and ``buckets`` for the histogram's bucket bounds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.clock import Now
from bot.durations import format_duration
from bot.metrics import batch, promql
from bot.metrics.base import (
    SUMMARY_COLUMNS,
    Check,
    Endpoint,
    MetricsError,
    NoDataError,
    QueryRejectedError,
    Resource,
    SeriesValue,
    Signal,
    UnreadableAnswerError,
    Window,
    check_summary_arguments,
    format_utc,
)
from bot.metrics.conventions import HttpMetrics
from bot.metrics.prometheus.buckets import BucketBounds
from bot.metrics.prometheus.client import PrometheusClient
from bot.metrics.prometheus.discovery import (
    Discovery,
    SaturationFound,
    endpoint_of,
    endpoint_order,
)
from bot.metrics.prometheus.shapes import Point, Sample, Scalar, Series, Vector
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics

# pandas is imported where a frame is made: ``check-config`` and discovery need none, and
# its import is a third of a second of their start-up (issue 13, "Fast commands").
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# A query naming endpoints grows with them (a regex of services, one of routes):
# VictoriaMetrics refuses one over 16 KB (-search.maxQueryLen, its default), so a longer one
# is split by endpoints, with room left for a proxy's own limits.
MAX_QUERY_BYTES = 12_000
BUCKETS = "buckets"  # the summary's part that reads the bucket rates
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}  # the summary's quantiles


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PrometheusBackend:
    """``MetricsBackend`` over a Prometheus-compatible HTTP API."""

    def __init__(
        self,
        settings: PrometheusSettings,
        names: MetricNames,
        saturation: SaturationMetrics,
        password: str | None = None,
        *,
        clock: Now = _utc_now,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.names = names
        self.saturation = saturation
        self.url = settings.url.rstrip("/")
        self.clock = clock
        self.discovery_lookback = settings.discovery_lookback
        self._client = PrometheusClient(settings, password, backoff=backoff, sleep=sleep)
        self._discovery = Discovery(self._client, names, clock, self.discovery_lookback)
        self._buckets = BucketBounds(self._client, self._discovery.span)

    # ---- health and discovery -------------------------------------------------------------

    def ping(self) -> str:
        """The server's version, if it says: one quick call (``/readyz``); MetricsError
        when it does not answer."""
        return self._client.version(self.clock)

    def check(self) -> list[Check]:
        where = f"Prometheus at {self.safe_url}"
        try:
            version = self._client.version(self.clock)
        except MetricsError as exc:
            return [Check(name="prometheus", ok=False, detail=str(exc))]
        checks = [Check(name="prometheus", ok=True, detail=f"{where} answers ({version})")]
        try:
            http = self.http_metrics()
        except MetricsError as exc:
            checks.append(Check(name="metric names", ok=False, detail=str(exc)))
        else:
            checks.append(Check(name="metric names", ok=True, detail=http.describe()))
            checks.append(self._discovery.check_selector(
                "histogram", promql.histogram_selector(http), http.service_label
            ))
        try:
            checks += self._discovery.saturation(self.saturation).checks()
        except MetricsError as exc:
            checks.append(Check(name="saturation", ok=False, detail=str(exc)))
        return checks

    def saturation_found(self) -> SaturationFound:
        """Which resource metrics the server has (detected unless set in the settings)."""
        return self._discovery.saturation(self.saturation)

    def http_metrics(self) -> HttpMetrics:
        """The histogram's names: configured ones win, the rest detected once and cached."""
        return self._discovery.http_metrics()

    def endpoints(self, window: Window | None = None) -> list[Endpoint]:
        """Endpoints with series in ``window`` (default: ``discovery_lookback`` up to now)."""
        scope = batch.current()
        if scope is None:
            return self._discovery.endpoints(window)
        # Within one answer (its windows as asked, then as cut to their data): asked once.
        return list(scope.read(("endpoints", self.url, window, self.clock()),
                               lambda: self._discovery.endpoints(window)))

    def services(self, window: Window | None = None) -> list[str]:
        return sorted({e.service for e in self.endpoints(window)})

    # ---- signals ------------------------------------------------------------------------

    def latency(
        self, window: Window, quantile: float = 0.95, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        query = self._build(promql.latency_query, http, quantile, window.lookback, endpoints)
        if endpoints is not None and _too_long(query, endpoints):
            return _in_halves(lambda part: self.latency(window, quantile, part), endpoints)
        return self._endpoint_frame(Signal.LATENCY, query, window, endpoints, http)

    def pooled_latency(
        self, window: Window, quantile: float, groups: Mapping[str, Sequence[Endpoint]]
    ) -> pd.DataFrame:
        http = self.http_metrics()
        columns = {}
        for name, members in groups.items():
            query = self._build(
                promql.pooled_latency_query, http, quantile, window.lookback, members
            )
            result = self._query_range(query, window)
            columns[name] = result[0]["values"] if result else []
        return self._frame(Signal.LATENCY, window, columns, list(groups), "service")

    def resolution(self, at: datetime) -> timedelta | None:
        """The finest whole-minute step with two scrapes in it, from the samples of the last
        ten minutes (``Resolution``); None when there are none."""
        span = timedelta(minutes=10)
        query = self._build(promql.samples_query, self.http_metrics(), span)
        samples = self._vector(query, at)
        count = _number(samples[0]["value"][1]) if samples else math.nan
        if not count or not math.isfinite(count) or count < 1:
            return None
        interval = span / count
        return timedelta(minutes=max(1, math.ceil(2 * interval / timedelta(minutes=1))))

    def data_steps(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.Series:
        import pandas as pd

        http = self.http_metrics()
        query = self._build(promql.data_steps_query, http, window.step, endpoints)
        result = self._query_range(query, window)
        index = _grid(window)
        if not result:
            return pd.Series(0.0, index=index, dtype=float)
        values = result[0]["values"]
        found = pd.Series(
            [_number(v) for _, v in values],
            index=pd.to_datetime([float(t) for t, _ in values], unit="s", utc=True),
            dtype=float,
        )
        return found.reindex(index).fillna(0.0)

    def throughput(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        query = self._build(promql.throughput_query, http, window.lookback, endpoints)
        if endpoints is not None and _too_long(query, endpoints):
            return _in_halves(lambda part: self.throughput(window, part), endpoints)
        return self._endpoint_frame(Signal.THROUGHPUT, query, window, endpoints, http)

    def error_ratio(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        query = self._build(promql.error_ratio_query, http, window.lookback, endpoints)
        if endpoints is not None and _too_long(query, endpoints):
            return _in_halves(lambda part: self.error_ratio(window, part), endpoints)
        return self._endpoint_frame(Signal.ERROR_RATIO, query, window, endpoints, http)

    def cpu(self, window: Window, services: Sequence[str] | None = None) -> pd.DataFrame:
        return self._saturation_frame(Signal.CPU, window, services)

    def memory(self, window: Window, services: Sequence[str] | None = None) -> pd.DataFrame:
        return self._saturation_frame(Signal.MEMORY, window, services)

    def _saturation_frame(
        self, signal: Signal, window: Window, services: Sequence[str] | None
    ) -> pd.DataFrame:
        """Use over the limit; without limits, the host's share from node_exporter, else
        no figure at all (NoDataError: use without a limit is not a saturation)."""
        found = self.saturation_found()
        cpu = signal is Signal.CPU
        what = "CPU" if cpu else "memory"
        found.raise_if_broken(*(("cpu_usage", "cpu_limit") if cpu
                                else ("memory_usage", "memory_limit")))
        usage, limit = (found.metrics.cpu_usage, found.metrics.cpu_limit) if cpu else (
            found.metrics.memory_usage, found.metrics.memory_limit)
        if usage is None:
            raise NoDataError(f"no {what} saturation figure: no {what} usage metrics on the "
                              "server (perfbot check-config says which it looks for)")
        if limit is not None:
            builder = promql.cpu_query if cpu else promql.memory_query
            query = self._build(builder, found.metrics, window.lookback, services)
        elif found.node:
            query = self._build(promql.host_saturation_query, found.metrics, cpu,
                                window.lookback, services)
        else:
            raise NoDataError(f"no {what} saturation figure: {found.origin()} has {what} in "
                              f"use but no {what} limits, and there is no node_exporter")
        return self._service_frame(signal, query, window, services, found.metrics.service_label)

    def busy_time(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        query = self._build(promql.busy_time_query, http, window.lookback, endpoints)
        return self._endpoint_frame("busy time", query, window, endpoints, http)

    def latency_within(
        self, window: Window, threshold: float, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        le = self._buckets.le(http, threshold / http.seconds_per_unit)
        query = self._build(promql.latency_within_query, http, le, window.lookback, endpoints)
        return self._endpoint_frame("latency", query, window, endpoints, http)

    def resource(
        self, window: Window, resource: Resource, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        found = self.saturation_found()
        what = resource.value.replace("_", " ")
        found.raise_if_broken({
            Resource.CPU_CORES: "cpu_usage", Resource.CPU_LIMIT_CORES: "cpu_limit",
            Resource.MEMORY_BYTES: "memory_usage", Resource.MEMORY_LIMIT_BYTES: "memory_limit",
        }[resource])
        metric = {
            Resource.CPU_CORES: found.metrics.cpu_usage,
            Resource.CPU_LIMIT_CORES: found.metrics.cpu_limit,
            Resource.MEMORY_BYTES: found.metrics.memory_usage,
            Resource.MEMORY_LIMIT_BYTES: found.metrics.memory_limit,
        }[resource]
        if metric is None:
            where = "on the server" if found.source == "none" else f"in {found.origin()}"
            raise NoDataError(f"no {what} data: no such metric {where}")
        query = self._build(
            promql.resource_query, found.metrics, resource, window.lookback, services
        )
        return self._service_frame(what, query, window, services, found.metrics.service_label)

    def opencost_hourly(
        self, window: Window, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        query = self._build(promql.opencost_hourly_query, self.saturation.service_label, services)
        try:
            return self._service_frame("OpenCost", query, window, services,
                                       self.saturation.service_label)
        except NoDataError:
            raise NoDataError(
                f"no OpenCost data ({', '.join(promql.OPENCOST_METRICS)}) for "
                f"{'the requested services' if services else 'any service'} between "
                f"{format_utc(window.start)} and {format_utc(window.end)}"
            ) from None

    def summary(
        self,
        at: datetime,
        lookback: timedelta = timedelta(hours=1),
        endpoints: Sequence[Endpoint] | None = None,
    ) -> pd.DataFrame:
        import pandas as pd

        check_summary_arguments(at, lookback)
        http = self.http_metrics()
        wanted = list(endpoints) if endpoints is not None else self.endpoints(
            Window(start=at - lookback, end=at)
        )
        queries = {
            BUCKETS: self._build(promql.bucket_rates_query, http, lookback, endpoints),
            "throughput": self._build(promql.throughput_query, http, lookback, endpoints),
            "error_ratio": self._build(promql.error_ratio_query, http, lookback, endpoints),
        }
        # One request for the five figures: each part tagged with its name. The buckets are
        # read once for p50, p95 and p99 (three histogram_quantile read them three times).
        read: dict[str, dict[str, float]] = {column: {} for column in SUMMARY_COLUMNS[1:]}
        buckets: dict[str, list[tuple[str, float]]] = {}
        for sample in self._figures(self._build(promql.tagged_union, queries), at, lookback):
            part = sample["metric"].get(promql.FIGURE_LABEL, "")
            column = endpoint_of(http, sample["metric"]).column
            if part == BUCKETS:
                buckets.setdefault(column, []).append(
                    (sample["metric"].get("le", ""), sample["value"][1]))
            elif part in read:
                read[part][column] = _number(sample["value"][1])
        for column, rates in buckets.items():
            for name, q in QUANTILES.items():
                read[name][column] = _number(_quantile(q, rates) * http.seconds_per_unit)
        figures = {column: pd.Series(values, dtype=float) for column, values in read.items()}
        services = pd.Series({e.column: e.service for e in wanted}, dtype=object)
        frame = pd.DataFrame({"service": services, **figures})
        frame = frame.reindex([e.column for e in wanted])[SUMMARY_COLUMNS]
        if frame[SUMMARY_COLUMNS[1:]].isna().all().all():
            raise NoDataError(
                f"no requests recorded in the {format_duration(lookback)} "
                f"before {format_utc(at)}"
            )
        return frame

    # ---- queries --------------------------------------------------------------------------

    @property
    def safe_url(self) -> str:
        """The URL without any user:password part, for messages."""
        return self._client.safe_url

    def _build(self, builder: Callable[..., str], *args: Any) -> str:
        try:
            return builder(*args)
        except promql.BadNameError as exc:
            raise MetricsError(f"cannot build the query: {exc} (check metrics.names and "
                               "metrics.saturation in the settings)") from None
        except promql.SelectorError as exc:
            raise MetricsError(f"cannot build the query: {exc}") from None

    def _endpoint_frame(
        self,
        signal: Signal | str,
        query: str,
        window: Window,
        endpoints: Sequence[Endpoint] | None,
        http: HttpMetrics,
    ) -> pd.DataFrame:
        result = self._query_range(query, window)
        found = {endpoint_of(http, series["metric"]): series["values"] for series in result}
        # Ordered like ``endpoints()``: by service, route, method.
        columns = {e.column: found[e] for e in sorted(found, key=endpoint_order)}
        wanted = None if endpoints is None else [e.column for e in endpoints]
        return self._frame(signal, window, columns, wanted, "endpoint")

    def _service_frame(
        self, signal: Signal | str, query: str, window: Window, services: Sequence[str] | None,
        label: str,
    ) -> pd.DataFrame:
        result = self._query_range(query, window)
        found = {series["metric"].get(label, ""): series["values"] for series in result}
        columns = {name: found[name] for name in sorted(found)}
        wanted = None if services is None else list(services)
        return self._frame(signal, window, columns, wanted, "service")

    def _frame(
        self,
        signal: Signal | str,
        window: Window,
        columns: dict[str, list[Point]],
        wanted: list[str] | None,
        noun: str,
    ) -> pd.DataFrame:
        import pandas as pd

        if not any(columns.values()):
            # Nothing in the window (a detection read's parts before the data begins): no
            # grid of NaNs to lay out first (10,000 steps × 1,000 endpoints: 80 MB).
            raise _no_data(signal, window, wanted, noun)
        index = _grid(window)
        frame = pd.DataFrame(
            {
                name: pd.Series(
                    [_number(v) for _, v in values],
                    index=pd.to_datetime([t for t, _ in values], unit="s", utc=True),
                    dtype=float,
                )
                for name, values in columns.items()
            },
            index=index,
            dtype=float,
        )
        if wanted is not None:
            frame = frame.reindex(columns=wanted)
        if frame.empty or frame.isna().all().all():
            raise _no_data(signal, window, wanted, noun)
        frame.index.name = "time"
        return frame

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


def _quantile(q: float, rates: Sequence[tuple[str, float]]) -> float:
    """PromQL's ``histogram_quantile`` of one histogram's ``(le, rate)`` buckets, as
    Prometheus computes it (``bot.metrics.histogram``): buckets of the same bound add up,
    and without a ``+Inf`` bucket (or a readable bound) there is no quantile."""
    from bot.metrics.histogram import histogram_quantile

    by_bound: dict[float, float] = {}
    for le, rate in rates:
        try:
            bound = float(le)
        except ValueError:
            continue  # Prometheus skips a bucket whose bound it cannot read
        by_bound[bound] = by_bound.get(bound, 0.0) + rate
    bounds = sorted(by_bound)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return math.nan
    counts = [by_bound[b] for b in bounds]
    return float(histogram_quantile(q, bounds[:-1], counts))


def _too_long(query: str, endpoints: Sequence[Endpoint]) -> bool:
    return len(endpoints) > 1 and len(query.encode()) > MAX_QUERY_BYTES


def _in_halves(
    read: Callable[[Sequence[Endpoint]], pd.DataFrame], endpoints: Sequence[Endpoint]
) -> pd.DataFrame:
    """``read`` over each half of ``endpoints`` (halved again while too long), the frames
    side by side, in order; a half without data is NaN columns (as in one query), none with
    data is ``NoDataError``."""
    import pandas as pd

    middle = len(endpoints) // 2
    frames, missing = [], None
    for part in (endpoints[:middle], endpoints[middle:]):
        try:
            frames.append(read(part))
        except NoDataError as exc:
            missing = exc
    if not frames:
        assert missing is not None
        raise missing
    frame = pd.concat(frames, axis=1).reindex(columns=[e.column for e in endpoints])
    frame.index.name = "time"
    return frame


def _whole_seconds(moment: datetime) -> datetime:
    # The client rounds to whole seconds; the grid below must use the same instants.
    return datetime.fromtimestamp(round(moment.timestamp()), UTC)


def _within(result: list[Series], window: Window) -> list[Series]:
    """The points of ``result`` inside ``window``; series without any are left out, as a
    query over ``window`` alone would leave them out."""
    start, end = _whole_seconds(window.start).timestamp(), _whole_seconds(window.end).timestamp()
    kept = []
    for series in result:
        values = [point for point in series["values"] if start <= float(point[0]) <= end]
        if values:
            kept.append(Series(metric=series["metric"], values=values))
    return kept


def _no_data(signal: Signal | str, window: Window, wanted: list[str] | None,
             noun: str) -> NoDataError:
    subject = f"the requested {noun}s" if wanted else f"any {noun}"
    what = signal.value.replace("_", " ") if isinstance(signal, Signal) else signal
    return NoDataError(f"no {what} data for {subject} between "
                       f"{format_utc(window.start)} and {format_utc(window.end)}")


def _grid(window: Window) -> pd.DatetimeIndex:
    """The instants a range query evaluates: start, start + step, ... up to end."""
    import numpy as np
    import pandas as pd

    start, end = _whole_seconds(window.start), _whole_seconds(window.end)
    step = window.step.total_seconds()
    count = int((end - start).total_seconds() // step) + 1
    # In one array operation: a Timestamp per point took longer than the query (issue 13).
    first = pd.Timestamp(start)
    offsets = pd.to_timedelta(np.arange(count) * step, unit="s")
    return pd.DatetimeIndex(first + offsets, name="time").as_unit(first.unit)


def _number(value: float) -> float:
    """A sample value; ±Inf (e.g. a quantile above the top bucket) becomes NaN."""
    return value if math.isfinite(value) else math.nan
