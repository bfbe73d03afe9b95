"""Discovery on Prometheus: the HTTP histogram's names (configured or detected by convention),
the endpoints and selectors that have series in the discovery lookback, and which resource
metrics (saturation, cost) there are: cAdvisor and kube-state-metrics, else ``process_*``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

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
from bot.metrics.settings import (
    NODE_CPU,
    NODE_MEMORY_AVAILABLE,
    NODE_MEMORY_TOTAL,
    PROCESS_METRICS,
    PROCESS_SERVICE_LABELS,
    SATURATION_FIELDS,
    MetricNames,
    SaturationMetrics,
)

_RETRY_NOTHING = timedelta(minutes=15)
Source = Literal["kubernetes", "process", "configured", "none"]
_USAGE = (("CPU", "cpu_usage"), ("memory", "memory_usage"))
_LIMITS = (("CPU", "cpu_limit"), ("memory", "memory_limit"))


@dataclass(frozen=True)
class SaturationFound:
    """The resource metrics the server has: the settings, with what has no series set to
    None; where they come from; whether node_exporter is there; and ✗ lines for configured
    selectors that cannot be used at all (bad syntax, rejected by the server)."""

    metrics: SaturationMetrics
    source: Source
    node: bool = False
    problems: tuple[Check, ...] = field(default=())
    errors: dict[str, MetricsError] = field(default_factory=dict)  # by field name

    def raise_if_broken(self, *fields: str) -> None:
        """The error of the first of ``fields`` whose selector cannot run, if any."""
        for name in fields:
            if name in self.errors:
                raise self.errors[name]

    def found(self, fields: tuple[tuple[str, str], ...]) -> list[str]:
        return [what for what, name in fields if getattr(self.metrics, name) is not None]

    def origin(self) -> str:
        label = self.metrics.service_label
        if self.source == "kubernetes":
            limits = " and kube-state-metrics" if self.found(_LIMITS) else ""
            return f"cAdvisor{limits} by {label}"
        if self.source == "process":
            return f"process_* metrics by {label}"
        return f"metrics.saturation by {label}"

    def checks(self) -> list[Check]:
        """``check-config``'s lines: which source, then what cost can use; missing optional
        metrics are warnings (the bot works without them), broken selectors failures."""
        usage, limits = self.found(_USAGE), self.found(_LIMITS)
        if not usage:
            looked = (f"{SaturationMetrics().cpu_usage}, {PROCESS_METRICS.cpu_usage} with a "
                      f"{'/'.join(PROCESS_SERVICE_LABELS)} label"
                      if self.source == "none" else "the metrics set in metrics.saturation")
            lines = [
                Check(name="saturation", ok=True, warning=True,
                      detail=f"no resource metrics found (looked for {looked}): no saturation "
                             "figures" + ("; node_exporter is there, but no series of the "
                                          "services to place them on its hosts" if self.node
                                          else "")),
                Check(name="cost", ok=True, warning=True,
                      detail="no resource metrics: no CPU or memory cost (only fixed and "
                             "per-request prices, and OpenCost where it runs)"),
            ]
            return [*self.problems, *lines]
        what = ", ".join(usage)
        if limits:
            saturation = Check(name="saturation", ok=True,
                               detail=f"{self.origin()} ({what}; limits for {', '.join(limits)})")
        elif self.node:
            saturation = Check(name="saturation", ok=True,
                               detail=f"{self.origin()} ({what}; no limits — host-level % "
                                      "from node_exporter)")
        else:
            saturation = Check(name="saturation", ok=True, warning=True,
                               detail=f"{self.origin()} ({what}; no limits — no saturation %)")
        basis = "limits" if limits else "in use (no limits)"
        cost = Check(name="cost", ok=True, detail=f"priced from {' and '.join(usage)} {basis}")
        return [*self.problems, saturation, cost]

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
        self._saturation: SaturationFound | None = None
        self._saturation_until = datetime.min.replace(tzinfo=UTC)

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

    def saturation(self, configured: SaturationMetrics) -> SaturationFound:
        """Which resource metrics there are: cached, but asked again after a while when
        none were found.

        Metric fields set in the settings are used as written (those without series become
        None). Otherwise cAdvisor and kube-state-metrics by their container label, else the
        client libraries' ``process_*`` metrics by the label that names services on them.
        """
        if self._saturation is not None and (
            self._saturation.found(_USAGE) or self.clock() < self._saturation_until
        ):
            return self._saturation
        if _configured(configured):
            found = self._keep_present(configured, "configured")
        else:
            found = self._keep_present(configured, "kubernetes")
            if not found.found(_USAGE):
                found = self._process(configured) or SaturationFound(
                    metrics=configured.model_copy(update=dict.fromkeys(SATURATION_FIELDS)),
                    source="none",
                )
        found = SaturationFound(metrics=found.metrics, source=found.source,
                                node=self._has_node_exporter(), problems=found.problems,
                                errors=found.errors)
        # Found is kept; nothing found is asked again after a while (new scrape targets).
        self._saturation, self._saturation_until = found, self.clock() + _RETRY_NOTHING
        return found

    def _keep_present(self, metrics: SaturationMetrics, source: Source) -> SaturationFound:
        """``metrics`` with each field that has no series (with the service label) as None."""
        missing: dict[str, None] = {}
        problems = []
        errors = {}
        for name in SATURATION_FIELDS:
            selector = getattr(metrics, name)
            if selector is None:
                continue
            check, error = self._probe(name.replace("_", " "), selector, metrics.service_label,
                                       setting=f"metrics.saturation.{name}")
            if check.ok:
                continue
            if error is not None:
                # It cannot run (bad syntax, rejected): queries on it raise this.
                problems.append(check)
                errors[name] = error
                continue
            missing[name] = None
            if source == "configured":  # set by the operator, so worth a line
                problems.append(check.model_copy(update={"ok": True, "warning": True}))
        return SaturationFound(metrics=metrics.model_copy(update=missing), source=source,
                               problems=tuple(problems), errors=errors)

    def _process(self, configured: SaturationMetrics) -> SaturationFound | None:
        """``process_*`` metrics by the first label that names services on them: a service
        label set in the settings, the HTTP metrics' own, then the usual ones."""
        labels: set[str] = set()
        for name in ("cpu_usage", "memory_usage"):
            labels |= set(self.label_names(getattr(PROCESS_METRICS, name)))
        set_label = configured.service_label != SaturationMetrics().service_label
        first = [configured.service_label] if set_label else []
        with contextlib.suppress(NoDataError):  # no HTTP metrics: the usual labels only
            first.append(self.http_metrics().service_label)
        label = next((c for c in (*first, *PROCESS_SERVICE_LABELS) if c in labels), None)
        if label is None:
            return None
        found = self._keep_present(PROCESS_METRICS.model_copy(update={"service_label": label}),
                                   "process")
        return found if found.found(_USAGE) else None

    def _has_node_exporter(self) -> bool:
        return all(self.label_names(metric)
                   for metric in (NODE_CPU, NODE_MEMORY_TOTAL, NODE_MEMORY_AVAILABLE))

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
        try:
            return self._probe(name, selector, service_label, setting)[0]
        except MetricsError as exc:
            return Check(name=name, ok=False, detail=f"{selector}: {exc}")

    def _probe(
        self, name: str, selector: str, service_label: str, setting: str | None = None
    ) -> tuple[Check, MetricsError | None]:
        """The check line, and the error that makes the selector unusable (None: it runs).
        A server that cannot be asked raises."""
        where = f" (from {setting} in the settings)" if setting else ""
        try:
            promql.split_selector(selector)
            labels = self.label_names(selector)
        except promql.SelectorError as exc:
            return (Check(name=name, ok=False, detail=f"{selector}: {exc}{where}"),
                    MetricsError(f"cannot build the query: {exc}{where}"))
        except QueryRejectedError as exc:
            detail = f"{selector}: {exc}{where}"
            return Check(name=name, ok=False, detail=detail), QueryRejectedError(detail)
        span = format_duration(self.lookback)
        if not labels:
            return Check(name=name, ok=False,
                         detail=f"{selector}: {_NO_SERIES} in the last {span}{where}"), None
        if service_label not in labels:
            return Check(name=name, ok=False,
                         detail=f"{selector}: {_NO_LABEL} '{service_label}'"), None
        return Check(name=name, ok=True, detail=f"{selector}: found"), None


def _configured(saturation: SaturationMetrics) -> bool:
    """Whether the settings name resource metrics other than the defaults (a copy of the
    example settings, which spells the defaults out, still detects)."""
    defaults = SaturationMetrics()
    return any(getattr(saturation, name) != getattr(defaults, name)
               for name in SATURATION_FIELDS if name in saturation.model_fields_set)


_NO_SERIES = "no series"
_NO_LABEL = "found, but without the label"


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
