"""The Prometheus adapter: PromQL over the HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics).

``PrometheusBackend`` answers the metrics port with queries built by ``promql``; it asks
``client`` for the HTTP calls (retries, errors in words), ``discovery`` for the histogram's
names and the endpoints, and ``buckets`` for the histogram's bucket bounds. It reads through
``reads`` (``ServerReads``), makes frames with ``frames``, and splits a query too long for the
server with ``split``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.clock import Now
from bot.metrics import batch, promql
from bot.metrics.base import (
    Check,
    Endpoint,
    MetricsError,
    NoDataError,
    Resource,
    Signal,
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
from bot.metrics.prometheus.frames import (
    BUCKETS,
    _frame,
    _grid,
    _number,
    _on_grid,
    _summary_frame,
)
from bot.metrics.prometheus.reads import ServerReads
from bot.metrics.prometheus.shapes import Point
from bot.metrics.prometheus.split import (
    MAX_QUERY_BYTES as MAX_QUERY_BYTES,  # where the tests and benchmarks read it
)
from bot.metrics.prometheus.split import (
    _in_halves,
    _rows_in_halves,
    _too_long,
)
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics

# pandas is imported where a frame is made: ``check-config`` and discovery need none, and
# its import is a third of a second of their start-up (issue 13, "Fast commands").
if TYPE_CHECKING:
    import pandas as pd



def _utc_now() -> datetime:
    return datetime.now(UTC)


class PrometheusBackend(ServerReads):
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
        if not groups:
            return _frame(Signal.LATENCY, window, {}, [], "service")  # NoDataError
        http = self.http_metrics()
        # Every group in one query, each tagged with its name (539 services were 539 queries).
        query = self._build(promql.pooled_latencies_query, http, quantile, window.lookback,
                            groups)
        names = list(groups)
        if _too_long(query, names):
            return _in_halves(lambda part: self.pooled_latency(
                window, quantile, {name: groups[name] for name in part}), names, str)
        found = {series["metric"].get(promql.FIGURE_LABEL, ""): series["values"]
                 for series in self._query_range(query, window)}
        columns = {name: found.get(name, []) for name in names}
        return _frame(Signal.LATENCY, window, columns, names, "service")

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
        import numpy as np
        import pandas as pd

        http = self.http_metrics()
        query = self._build(promql.data_steps_query, http, window.step, endpoints)
        index = _grid(window)
        if endpoints is not None and _too_long(query, endpoints):
            # A count over series: the parts' counts would count twice a series that two
            # parts' alternations both pick, so the parts' series are read and counted once.
            present = [~np.isnan(_on_grid(index, values, finite=False))
                       for values in self._data_series(window, endpoints, http).values()]
            return pd.Series(np.sum(present, axis=0, dtype=float) if present else 0.0,
                             index=index, dtype=float)
        result = self._query_range(query, window)
        if not result:
            return pd.Series(0.0, index=index, dtype=float)
        values = result[0]["values"]
        counts = _on_grid(index, values, finite=False)
        return pd.Series(np.where(np.isnan(counts), 0.0, counts), index=index, dtype=float)

    def _data_series(
        self, window: Window, endpoints: Sequence[Endpoint], http: HttpMetrics
    ) -> dict[tuple[tuple[str, str], ...], list[Point]]:
        """The ``_count`` series of ``endpoints`` (only those: not the rest of a regex's
        cross product) in the steps they have samples in, by label set; halved to fit."""
        query = self._build(promql.data_series_query, http, window.step, endpoints)
        if _too_long(query, endpoints):
            middle = len(endpoints) // 2
            return {**self._data_series(window, endpoints[:middle], http),
                    **self._data_series(window, endpoints[middle:], http)}
        wanted = set(endpoints)
        return {tuple(sorted(series["metric"].items())): series["values"]
                for series in self._query_range(query, window)
                if endpoint_of(http, series["metric"]) in wanted}

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
        if services is not None and _too_long(query, services):
            return _in_halves(lambda part: self._saturation_frame(signal, window, part),
                              services, str)
        return self._service_frame(signal, query, window, services, found.metrics.service_label)

    def busy_time(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        query = self._build(promql.busy_time_query, http, window.lookback, endpoints)
        if endpoints is not None and _too_long(query, endpoints):
            return _in_halves(lambda part: self.busy_time(window, part), endpoints)
        return self._endpoint_frame("busy time", query, window, endpoints, http)

    def latency_within(
        self, window: Window, threshold: float, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        le = self._buckets.le(http, threshold / http.seconds_per_unit)
        query = self._build(promql.latency_within_query, http, le, window.lookback, endpoints)
        if endpoints is not None and _too_long(query, endpoints):
            return _in_halves(lambda part: self.latency_within(window, threshold, part),
                              endpoints)
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
        if services is not None and _too_long(query, services):
            return _in_halves(lambda part: self.resource(window, resource, part), services, str)
        return self._service_frame(what, query, window, services, found.metrics.service_label)

    def opencost_hourly(
        self, window: Window, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        query = self._build(promql.opencost_hourly_query, self.saturation.service_label, services)
        if services is not None and _too_long(query, services):
            return _in_halves(lambda part: self.opencost_hourly(window, part), services, str)
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
        check_summary_arguments(at, lookback)
        http = self.http_metrics()
        queries = {
            BUCKETS: self._build(promql.bucket_rates_query, http, lookback, endpoints),
            "throughput": self._build(promql.throughput_query, http, lookback, endpoints),
            "error_ratio": self._build(promql.error_ratio_query, http, lookback, endpoints),
        }
        # One request for the five figures: each part tagged with its name. The buckets are
        # read once for p50, p95 and p99 (three histogram_quantile read them three times).
        query = self._build(promql.tagged_union, queries)
        if endpoints is not None and _too_long(query, endpoints):
            return _rows_in_halves(lambda part: self.summary(at, lookback, part), endpoints)
        wanted = list(endpoints) if endpoints is not None else self.endpoints(
            Window(start=at - lookback, end=at)
        )
        return _summary_frame(self._figures(query, at, lookback), http, wanted, at, lookback)

    # ---- queries --------------------------------------------------------------------------

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
        return _frame(signal, window, columns, wanted, "endpoint")

    def _service_frame(
        self, signal: Signal | str, query: str, window: Window, services: Sequence[str] | None,
        label: str,
    ) -> pd.DataFrame:
        result = self._query_range(query, window)
        found = {series["metric"].get(label, ""): series["values"] for series in result}
        columns = {name: found[name] for name in sorted(found)}
        wanted = None if services is None else list(services)
        return _frame(signal, window, columns, wanted, "service")
