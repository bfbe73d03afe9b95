"""The Prometheus adapter: PromQL over the HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics).

Built on ``prometheus_api_client.PrometheusConnect``. Its own urllib3 retries are switched
off: this module retries connection failures (refused, reset) with exponential backoff and
never retries timeouts or HTTP errors, so a dead server costs at most ``timeout`` per try.
Every failure becomes one of the errors in ``base.py`` with a message written for a person.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from bot.config import MetricNames, PrometheusSettings, SaturationMetrics
from bot.durations import format_duration
from bot.metrics import promql
from bot.metrics.base import (
    SUMMARY_COLUMNS,
    Check,
    Endpoint,
    MetricsError,
    NoBucketError,
    NoDataError,
    QueryRejectedError,
    Resource,
    SeriesValue,
    Signal,
    UnreachableError,
    Window,
    check_summary_arguments,
)
from bot.metrics.conventions import DetectionError, HttpMetrics, resolve_http_metrics

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")
Sample = dict[str, Any]

_HTTP_STATUS = re.compile(r"HTTP Status Code (\d+) \((b(?:'.*'|\".*\"))\)\s*$", re.DOTALL)


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
        clock: Clock = _utc_now,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.names = names
        self.saturation = saturation
        self.url = settings.url.rstrip("/")
        self.clock = clock
        self.discovery_lookback = settings.discovery_lookback
        self._password = password
        self._backoff = backoff
        self._sleep = sleep
        self._http: HttpMetrics | None = None
        self._bounds: dict[str, dict[str, float]] = {}  # histogram → le label value → bound
        self._timeout = settings.timeout.total_seconds()
        self._session = requests.Session()
        self._session.verify = settings.verify_tls
        # Credentials live on the session, which the client uses for every request.
        if password is not None and settings.username:
            self._session.auth = (settings.username, password)
        elif password is not None:
            # No user name: the secret is a bearer token (Grafana Cloud, Mimir gateways).
            self._session.headers["Authorization"] = f"Bearer {password}"
        self._prom = PrometheusConnect(
            url=self.url,
            session=self._session,
            # requests takes float seconds; the client's ``int`` hint is narrower than needed.
            timeout=cast(int, self._timeout),
            # No urllib3 retries (``_call`` retries); read=False keeps read timeouts as such.
            retry=Retry(total=0, read=False, raise_on_status=False),
        )

    # ---- health and discovery -------------------------------------------------------------

    def check(self) -> list[Check]:
        where = f"Prometheus at {self.safe_url}"
        try:
            version = self._call(self._version)
        except MetricsError as exc:
            return [Check(name="prometheus", ok=False, detail=str(exc))]
        checks = [Check(name="prometheus", ok=True, detail=f"{where} answers ({version})")]
        try:
            http = self.http_metrics()
        except MetricsError as exc:
            checks.append(Check(name="metric names", ok=False, detail=str(exc)))
        else:
            checks.append(Check(name="metric names", ok=True, detail=http.describe()))
            checks.append(self._check_selector(
                "histogram", promql.histogram_selector(http), http.service_label
            ))
        for field in ("cpu_usage", "cpu_limit", "memory_usage", "memory_limit"):
            checks.append(self._check_selector(
                field.replace("_", " "), getattr(self.saturation, field),
                self.saturation.service_label, setting=f"metrics.saturation.{field}",
            ))
        return checks

    def _check_selector(
        self, name: str, selector: str, service_label: str, setting: str | None = None
    ) -> Check:
        where = f" (from {setting} in the settings)" if setting else ""
        try:
            promql.split_selector(selector)
            labels = self._call(lambda: self._label_names(selector))
        except (promql.SelectorError, QueryRejectedError) as exc:
            return Check(name=name, ok=False, detail=f"{selector}: {exc}{where}")
        except MetricsError as exc:
            return Check(name=name, ok=False, detail=f"{selector}: {exc}")
        span = format_duration(self.discovery_lookback)
        if not labels:
            return Check(name=name, ok=False,
                         detail=f"{selector}: no series in the last {span}{where}")
        if service_label not in labels:
            return Check(name=name, ok=False,
                         detail=f"{selector}: found, but without the label '{service_label}'")
        return Check(name=name, ok=True, detail=f"{selector}: found")

    def http_metrics(self) -> HttpMetrics:
        """The histogram's names: configured ones win, the rest detected once and cached."""
        if self._http is not None:
            return self._http
        names = self.names
        metric_names: list[str] | None = None
        if names.convention == "auto" and not names.histogram:
            metric_names = self._call(self._metric_names)
        try:
            base = resolve_http_metrics(names, metric_names)
            labels = self._call(lambda: self._label_names(promql.histogram_selector(base)))
            self._http = resolve_http_metrics(names, metric_names, labels or None)
        except (DetectionError, promql.SelectorError) as exc:
            raise NoDataError(str(exc)) from None
        return self._http

    def endpoints(self, window: Window | None = None) -> list[Endpoint]:
        """Endpoints with series in ``window`` (default: ``discovery_lookback`` up to now)."""
        http = self.http_metrics()
        start, end = self._span(window)
        match = promql.discovery_selector(http)
        series = self._call(lambda: self._prom.get_series(start, end, params={"match[]": match}))
        found = {
            Endpoint(
                service=labels.get(http.service_label, ""),
                route=labels[http.route_label],
                method=labels.get(http.method_label, ""),
            )
            for labels in series
            if labels.get(http.route_label)
        }
        if not found:
            raise NoDataError(
                f"no endpoints: {http.histogram}_count has no series with a "
                f"{http.route_label} label between {_when(start)} and {_when(end)}"
            )
        return sorted(found, key=_endpoint_order)

    def services(self, window: Window | None = None) -> list[str]:
        return sorted({e.service for e in self.endpoints(window)})

    # ---- signals ------------------------------------------------------------------------

    def latency(
        self, window: Window, quantile: float = 0.95, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        query = self._build(promql.latency_query, http, quantile, window.lookback, endpoints)
        return self._endpoint_frame(Signal.LATENCY, query, window, endpoints, http)

    def throughput(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        query = self._build(promql.throughput_query, http, window.lookback, endpoints)
        return self._endpoint_frame(Signal.THROUGHPUT, query, window, endpoints, http)

    def error_ratio(
        self, window: Window, endpoints: Sequence[Endpoint] | None = None
    ) -> pd.DataFrame:
        http = self.http_metrics()
        query = self._build(promql.error_ratio_query, http, window.lookback, endpoints)
        return self._endpoint_frame(Signal.ERROR_RATIO, query, window, endpoints, http)

    def cpu(self, window: Window, services: Sequence[str] | None = None) -> pd.DataFrame:
        query = self._build(promql.cpu_query, self.saturation, window.lookback, services)
        return self._service_frame(Signal.CPU, query, window, services)

    def memory(self, window: Window, services: Sequence[str] | None = None) -> pd.DataFrame:
        query = self._build(promql.memory_query, self.saturation, window.lookback, services)
        return self._service_frame(Signal.MEMORY, query, window, services)

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
        le = self._bucket_bound(http, threshold / http.seconds_per_unit)
        query = self._build(promql.latency_within_query, http, le, window.lookback, endpoints)
        return self._endpoint_frame("latency", query, window, endpoints, http)

    def _bucket_bound(self, http: HttpMetrics, bound: float) -> str:
        """The ``le`` label value equal to ``bound`` (in the histogram's unit), as written."""
        if http.histogram not in self._bounds:
            start, end = self._span(None)
            params = {"match[]": promql.selector(f"{http.histogram}_bucket"),
                      "start": f"{start.timestamp():.0f}", "end": f"{end.timestamp():.0f}"}
            values: list[str] = self._call(lambda: self._prom.get_label_values("le", params))
            parsed = {text: _bound(text) for text in values}
            self._bounds[http.histogram] = {t: v for t, v in parsed.items() if math.isfinite(v)}
        bounds = self._bounds[http.histogram]
        for text, value in bounds.items():
            if math.isclose(value, bound, rel_tol=1e-9):
                return text
        listed = ", ".join(f"{v:g}" for v in sorted(bounds.values())) or "none found"
        raise NoBucketError(f"{http.histogram} has no bucket at {bound:g} (its bounds: {listed})")

    def resource(
        self, window: Window, resource: Resource, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        query = self._build(
            promql.resource_query, self.saturation, resource, window.lookback, services
        )
        return self._service_frame(resource.value.replace("_", " "), query, window, services)

    def opencost_hourly(
        self, window: Window, services: Sequence[str] | None = None
    ) -> pd.DataFrame:
        query = self._build(promql.opencost_hourly_query, self.saturation.service_label, services)
        try:
            return self._service_frame("OpenCost", query, window, services)
        except NoDataError:
            raise NoDataError(
                f"no OpenCost data ({', '.join(promql.OPENCOST_METRICS)}) for "
                f"{'the requested services' if services else 'any service'} between "
                f"{_when(window.start)} and {_when(window.end)}"
            ) from None

    def summary(
        self,
        at: datetime,
        lookback: timedelta = timedelta(hours=1),
        endpoints: Sequence[Endpoint] | None = None,
    ) -> pd.DataFrame:
        check_summary_arguments(at, lookback)
        http = self.http_metrics()
        wanted = list(endpoints) if endpoints is not None else self.endpoints(
            Window(start=at - lookback, end=at)
        )
        queries = {
            "p50": self._build(promql.latency_query, http, 0.5, lookback, endpoints),
            "p95": self._build(promql.latency_query, http, 0.95, lookback, endpoints),
            "p99": self._build(promql.latency_query, http, 0.99, lookback, endpoints),
            "throughput": self._build(promql.throughput_query, http, lookback, endpoints),
            "error_ratio": self._build(promql.error_ratio_query, http, lookback, endpoints),
        }
        figures = {
            column: pd.Series(
                {
                    _endpoint(http, sample["metric"]).column: _number(sample["value"][1])
                    for sample in self._instant(query, at)
                },
                dtype=float,
            )
            for column, query in queries.items()
        }
        services = pd.Series({e.column: e.service for e in wanted}, dtype=object)
        frame = pd.DataFrame({"service": services, **figures})
        frame = frame.reindex([e.column for e in wanted])[SUMMARY_COLUMNS]
        if frame[SUMMARY_COLUMNS[1:]].isna().all().all():
            raise NoDataError(
                f"no requests recorded in the {format_duration(lookback)} "
                f"before {_when(at)}"
            )
        return frame

    # ---- queries --------------------------------------------------------------------------

    @property
    def safe_url(self) -> str:
        """The URL without any user:password part, for messages."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

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
        found = {_endpoint(http, series["metric"]): series["values"] for series in result}
        # Ordered like ``endpoints()``: by service, route, method.
        columns = {e.column: found[e] for e in sorted(found, key=_endpoint_order)}
        wanted = None if endpoints is None else [e.column for e in endpoints]
        return self._frame(signal, window, columns, wanted, "endpoint")

    def _service_frame(
        self, signal: Signal | str, query: str, window: Window, services: Sequence[str] | None
    ) -> pd.DataFrame:
        result = self._query_range(query, window)
        label = self.saturation.service_label
        found = {series["metric"].get(label, ""): series["values"] for series in result}
        columns = {name: found[name] for name in sorted(found)}
        wanted = None if services is None else list(services)
        return self._frame(signal, window, columns, wanted, "service")

    def _frame(
        self,
        signal: Signal | str,
        window: Window,
        columns: dict[str, list[list[Any]]],
        wanted: list[str] | None,
        noun: str,
    ) -> pd.DataFrame:
        index = _grid(window)
        frame = pd.DataFrame(
            {
                name: pd.Series(
                    [_number(v) for _, v in values],
                    index=pd.to_datetime([float(t) for t, _ in values], unit="s", utc=True),
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
            subject = f"the requested {noun}s" if wanted else f"any {noun}"
            what = signal.value.replace("_", " ") if isinstance(signal, Signal) else signal
            raise NoDataError(
                f"no {what} data for {subject} between "
                f"{_when(window.start)} and {_when(window.end)}"
            )
        frame.index.name = "time"
        return frame

    def _query_range(self, query: str, window: Window) -> list[Sample]:
        log.debug("query_range %s [%s, %s] step %s", query, window.start, window.end, window.step)
        start, end = _whole_seconds(window.start), _whole_seconds(window.end)
        step = f"{window.step.total_seconds():g}"
        result: list[Sample] = self._call(
            lambda: self._prom.custom_query_range(
                query, start_time=start, end_time=end, step=step, params=self._server_timeout()
            )
        )
        return result

    def instant(self, query: str, at: datetime) -> list[SeriesValue]:
        """Any PromQL at ``at`` (``InstantQueries``): a vector's series or a scalar."""
        if at.tzinfo is None:
            raise MetricsError("the query time must be timezone-aware")
        return _instant_values(query, self._instant(query, at))

    def _instant(self, query: str, at: datetime) -> list[Sample]:
        log.debug("query %s at %s", query, at)
        params = {"time": f"{at.timestamp():.3f}", **self._server_timeout()}
        result: list[Sample] = self._call(lambda: self._prom.custom_query(query, params=params))
        return result

    def _server_timeout(self) -> dict[str, str]:
        # Prometheus gives up on its side too, instead of evaluating for nobody.
        return {"timeout": f"{self._timeout:g}s"}

    def _metric_names(self) -> list[str]:
        start, end = self._span(None)
        names: list[str] = self._prom.all_metrics(
            params={"start": f"{start.timestamp():.0f}", "end": f"{end.timestamp():.0f}"}
        )
        return names

    def _label_names(self, selector: str) -> list[str]:
        start, end = self._span(None)
        labels: list[str] = self._prom.get_label_names(
            params={"match[]": selector, "start": f"{start.timestamp():.0f}",
                    "end": f"{end.timestamp():.0f}"}
        )
        return labels

    def _version(self) -> str:
        response = self._session.get(
            f"{self.url}/api/v1/status/buildinfo", timeout=self._timeout
        )
        if response.status_code in (401, 403):
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({response.content!r})"
            )
        if response.status_code != 200:
            # Thanos, Mimir and friends may not serve buildinfo; a working query will do.
            self._prom.custom_query("vector(1)", params={"time": f"{self.clock().timestamp():.0f}"})
            return "version not reported"
        version = response.json().get("data", {}).get("version", "")
        return f"version {version}" if version else "version not reported"

    def _span(self, window: Window | None) -> tuple[datetime, datetime]:
        if window is not None:
            return window.start, window.end
        end = self.clock()
        return end - self.discovery_lookback, end

    def _call(self, request: Callable[[], T]) -> T:
        """Run one API call: retry connection failures, translate every failure."""
        attempt = 0
        while True:
            try:
                return request()
            except requests.Timeout:
                raise UnreachableError(
                    f"Prometheus at {self.safe_url} did not answer within {self._timeout:g}s"
                ) from None
            except requests.exceptions.SSLError as exc:
                raise UnreachableError(
                    f"Prometheus at {self.safe_url}: TLS failed ({_reason(exc)}); "
                    "check the certificate or set metrics.prometheus.verify_tls"
                ) from None
            except requests.ConnectionError as exc:
                if attempt >= self.settings.retries:
                    raise UnreachableError(
                        f"Prometheus at {self.safe_url} is not reachable ({_reason(exc)})"
                        + (f" after {attempt + 1} tries" if attempt else "")
                    ) from None
                delay = self._backoff * 2**attempt
                log.info("Prometheus at %s: %s; retrying in %gs",
                         self.safe_url, _reason(exc), delay)
                self._sleep(delay)
                attempt += 1
            except PrometheusApiClientException as exc:
                raise QueryRejectedError(self._scrub(_rejection(self.safe_url, exc))) from None
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                # Also JSON that is not the Prometheus API: a wrong URL, a login page.
                raise QueryRejectedError(
                    f"Prometheus at {self.safe_url} gave an answer perfbot cannot read "
                    f"({type(exc).__name__}); is metrics.prometheus.url the API's base URL?"
                ) from None

    def _scrub(self, message: str) -> str:
        if self._password:
            message = message.replace(self._password, "***")
        return message


def _instant_values(query: str, result: Any) -> list[SeriesValue]:
    """The client's ``result`` (vector samples, or ``[t, "v"]`` for a scalar) as values."""
    try:
        if (isinstance(result, list) and len(result) == 2
                and isinstance(result[0], int | float) and isinstance(result[1], str)):
            return [SeriesValue(labels={}, value=float(result[1]))]
        return [SeriesValue(labels={str(k): str(v) for k, v in sample["metric"].items()},
                            value=float(sample["value"][1])) for sample in result]
    except (KeyError, TypeError, ValueError, IndexError):
        raise QueryRejectedError(
            f"{query!r} does not give a number per series at one instant (a range vector "
            "or a string?); a diagnostic needs an instant vector or a scalar"
        ) from None


def _whole_seconds(moment: datetime) -> datetime:
    # The client rounds to whole seconds; the grid below must use the same instants.
    return datetime.fromtimestamp(round(moment.timestamp()), UTC)


def _grid(window: Window) -> pd.DatetimeIndex:
    """The instants a range query evaluates: start, start + step, ... up to end."""
    start, end = _whole_seconds(window.start), _whole_seconds(window.end)
    step = window.step.total_seconds()
    count = int((end - start).total_seconds() // step) + 1
    return pd.DatetimeIndex(
        [pd.Timestamp(start) + pd.Timedelta(seconds=i * step) for i in range(count)],
        name="time",
    )


def _endpoint(http: HttpMetrics, labels: dict[str, str]) -> Endpoint:
    return Endpoint(
        service=labels.get(http.service_label, ""),
        route=labels.get(http.route_label, ""),
        method=labels.get(http.method_label, ""),
    )


def _endpoint_order(endpoint: Endpoint) -> tuple[str, str, str]:
    return endpoint.service, endpoint.route, endpoint.method


def _number(text: str) -> float:
    """A sample value; ±Inf (e.g. a quantile above the top bucket) becomes NaN."""
    value = float(text)
    return value if math.isfinite(value) else math.nan


def _bound(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in words, from the innermost OS error."""
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cause, OSError) and "Name or service not known" in str(cause):
            return "host name not found"
        if type(cause).__name__ == "RemoteDisconnected":
            return "the server closed the connection without answering"
        if type(cause).__name__ == "NameResolutionError":
            return "host name not found"
    return "connection failed"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args]
        todo.extend(x for x in linked if isinstance(x, BaseException))


def _rejection(where: str, exc: PrometheusApiClientException) -> str:
    """Prometheus's own error text out of the client's "HTTP Status Code N (b'...')"."""
    match = _HTTP_STATUS.match(str(exc))
    if not match:
        return f"Prometheus at {where} refused the request: {exc}"
    status = int(match.group(1))
    body = ast.literal_eval(match.group(2))
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = json.loads(text)
        error = str(payload.get("error") or payload.get("errorType") or text)
    except (ValueError, AttributeError):
        error = text[:300] or "no details"
    if status in (401, 403):
        return (f"Prometheus at {where} refused perfbot's credentials (HTTP {status}); "
                "check metrics.prometheus.username and PERFBOT_PROMETHEUS_PASSWORD")
    if status == 404:
        return (f"Prometheus at {where} has no such API (HTTP 404); "
                "is metrics.prometheus.url the API's base URL?")
    return f"Prometheus at {where} rejected the query (HTTP {status}): {error}"
