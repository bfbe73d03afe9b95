"""Discovery on Prometheus: the HTTP histogram's names (configured or detected by convention)
and the endpoints and selectors that have series in the discovery lookback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import Now
from bot.durations import format_duration
from bot.metrics import promql
from bot.metrics.base import (
    Check,
    Endpoint,
    MetricsError,
    NoDataError,
    QueryRejectedError,
    Window,
    format_utc,
)
from bot.metrics.conventions import DetectionError, HttpMetrics, resolve_http_metrics
from bot.metrics.prometheus.client import PrometheusClient
from bot.metrics.settings import MetricNames

STOPPED_SEARCH = timedelta(days=90)  # how far back to look for data that stopped
MINUTE = timedelta(minutes=1)


class Discovery:
    """What the server has: the histogram's names, cached once found, and its endpoints."""

    def __init__(
        self, client: PrometheusClient, names: MetricNames, clock: Now, lookback: timedelta
    ) -> None:
        self.names = names
        self.clock = clock
        self.lookback = lookback
        self._client = client
        self._http: HttpMetrics | None = None

    def span(self, window: Window | None = None) -> tuple[datetime, datetime]:
        """The window's span, or by default the discovery lookback up to now."""
        if window is not None:
            return window.start, window.end
        end = self.clock()
        return end - self.lookback, end

    def http_metrics(self) -> HttpMetrics:
        """The histogram's names: configured ones win, the rest detected once and cached."""
        if self._http is not None:
            return self._http
        names = self.names
        metric_names: list[str] | None = None
        if names.convention == "auto" and not names.histogram:
            metric_names = self._client.metric_names(*self.span())
        try:
            base = resolve_http_metrics(names, metric_names)
            labels = self.label_names(promql.histogram_selector(base))
            self._http = resolve_http_metrics(names, metric_names, labels or None)
        except (DetectionError, promql.SelectorError) as exc:
            # Data that stopped before the lookback is not a wrong config: say where it is.
            raise NoDataError(self._stopped() or str(exc)) from None
        return self._http

    def _stopped(self) -> str | None:
        """When the histogram has data before the lookback but none in it: what and when."""
        end = self.clock()
        start = end - STOPPED_SEARCH
        try:
            base = resolve_http_metrics(self.names, self._client.metric_names(start, end))
            step = (end - start) / 1000
            times = self._present(base, start, end, step)
            if not times:
                return None
            # Refined to the minute around both ends.
            first = min(self._present(base, times[0] - step, times[0], MINUTE) or [times[0]])
            last = max(self._present(base, times[-1] - step, times[-1], MINUTE) or [times[-1]])
        except (DetectionError, promql.SelectorError, MetricsError):
            return None
        return (f"{base.histogram} has no samples in the last {format_duration(self.lookback)} "
                f"(metrics.prometheus.discovery_lookback): its data runs from "
                f"{format_utc(first)} to {format_utc(last)}, {_ago(end - last)} ago — the "
                "metrics stopped, or the bot's clock is past the data")

    def _present(self, http: HttpMetrics, start: datetime, end: datetime, step: timedelta
                 ) -> list[datetime]:
        """The step ends in ``[start, end]`` whose step has samples of the histogram."""
        step = max(step, MINUTE)
        start = start.replace(second=0, microsecond=0)
        query = promql.data_steps_query(http, step)
        result = self._client.query_range(query, start, end, f"{step.total_seconds():g}")
        return sorted(datetime.fromtimestamp(float(t), UTC) for series in result
                      for t, v in series["values"] if float(v) > 0)

    def label_names(self, selector: str) -> list[str]:
        """The label names of the selector's series in the discovery lookback."""
        return self._client.label_names(selector, *self.span())

    def endpoints(self, window: Window | None = None) -> list[Endpoint]:
        """Endpoints with series in ``window`` (default: the discovery lookback up to now)."""
        http = self.http_metrics()
        start, end = self.span(window)
        series = self._client.series(promql.discovery_selector(http), start, end)
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
                f"{http.route_label} label between {format_utc(start)} and {format_utc(end)}"
            )
        return sorted(found, key=endpoint_order)

    def check_selector(
        self, name: str, selector: str, service_label: str, setting: str | None = None
    ) -> Check:
        """Whether ``selector`` has series with the service label (``setting``: where the
        selector comes from in the settings, named when it is at fault)."""
        where = f" (from {setting} in the settings)" if setting else ""
        try:
            promql.split_selector(selector)
            labels = self.label_names(selector)
        except (promql.SelectorError, QueryRejectedError) as exc:
            return Check(name=name, ok=False, detail=f"{selector}: {exc}{where}")
        except MetricsError as exc:
            return Check(name=name, ok=False, detail=f"{selector}: {exc}")
        span = format_duration(self.lookback)
        if not labels:
            return Check(name=name, ok=False,
                         detail=f"{selector}: no series in the last {span}{where}")
        if service_label not in labels:
            return Check(name=name, ok=False,
                         detail=f"{selector}: found, but without the label '{service_label}'")
        return Check(name=name, ok=True, detail=f"{selector}: found")


def endpoint_of(http: HttpMetrics, labels: dict[str, str]) -> Endpoint:
    """The endpoint a series' labels name."""
    return Endpoint(
        service=labels.get(http.service_label, ""),
        route=labels.get(http.route_label, ""),
        method=labels.get(http.method_label, ""),
    )


def endpoint_order(endpoint: Endpoint) -> tuple[str, str, str]:
    """Endpoints in ``endpoints()`` order: by service, route, method."""
    return endpoint.service, endpoint.route, endpoint.method


def _ago(delta: timedelta) -> str:
    """``9d``, ``5h``, ``20m``: how long ago, roughly."""
    if delta >= timedelta(days=2):
        return f"{round(delta / timedelta(days=1))}d"
    if delta >= timedelta(hours=2):
        return f"{round(delta / timedelta(hours=1))}h"
    return f"{max(1, round(delta / timedelta(minutes=1)))}m"
