"""Metric naming conventions for HTTP server histograms, and their detection.

Three conventions are common in the wild:

* OpenTelemetry, stable semantic conventions: ``http_server_request_duration_seconds``
  with ``http_route``, ``http_request_method``, ``http_response_status_code``;
* OpenTelemetry before 1.21: ``http_server_duration_milliseconds`` (note: milliseconds)
  with ``http_route``, ``http_method``, ``http_status_code``;
* the Prometheus client libraries: ``http_request_duration_seconds`` with
  ``handler`` or ``route``, ``method``, ``status`` or ``code``.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict

from bot.metrics.settings import MetricNames


class HttpMetrics(BaseModel):
    """A resolved naming: every field known."""

    model_config = ConfigDict(frozen=True)

    convention: str
    histogram: str
    seconds_per_unit: float
    route_label: str
    method_label: str
    status_label: str
    service_label: str

    def describe(self) -> str:
        unit = "seconds" if self.seconds_per_unit == 1 else "milliseconds"
        return (
            f"{self.convention} ({self.histogram}, in {unit}; route={self.route_label}, "
            f"method={self.method_label}, status={self.status_label}, "
            f"service={self.service_label})"
        )


CONVENTIONS: dict[str, HttpMetrics] = {
    "otel": HttpMetrics(
        convention="otel",
        histogram="http_server_request_duration_seconds",
        seconds_per_unit=1.0,
        route_label="http_route",
        method_label="http_request_method",
        status_label="http_response_status_code",
        service_label="job",
    ),
    "otel_legacy": HttpMetrics(
        convention="otel_legacy",
        histogram="http_server_duration_milliseconds",
        seconds_per_unit=0.001,
        route_label="http_route",
        method_label="http_method",
        status_label="http_status_code",
        service_label="job",
    ),
    "prometheus": HttpMetrics(
        convention="prometheus",
        histogram="http_request_duration_seconds",
        seconds_per_unit=1.0,
        route_label="handler",
        method_label="method",
        status_label="status",
        service_label="job",
    ),
}

# When a label of the convention is absent, these stand in, first found wins.
_LABEL_ALTERNATIVES = {
    "route_label": ("route", "handler", "path", "http_route"),
    "status_label": ("code", "status", "status_code"),
    "service_label": ("service_name", "service", "job"),
}


class DetectionError(Exception):
    """No known convention matches the server's metric names."""


def detect_convention(metric_names: Collection[str]) -> HttpMetrics | None:
    """The first convention whose histogram has buckets among ``metric_names``."""
    for convention in CONVENTIONS.values():
        if f"{convention.histogram}_bucket" in metric_names:
            return convention
    return None


def resolve_http_metrics(
    names: MetricNames,
    metric_names: Collection[str] | None = None,
    label_names: Collection[str] | None = None,
) -> HttpMetrics:
    """Configured names win; the rest comes from the convention found on the server.

    ``metric_names`` are the server's metric names and ``label_names`` the labels found on
    the histogram; either may be None when they are not known (then defaults apply).
    """
    if names.convention != "auto":
        base = CONVENTIONS[names.convention]
    elif names.histogram:
        base = _convention_for_histogram(names.histogram)
    elif metric_names is not None:
        found = detect_convention(metric_names)
        if found is None:
            expected = ", ".join(f"{c.histogram}_bucket" for c in CONVENTIONS.values())
            raise DetectionError(
                f"no HTTP latency histogram found on the server (looked for {expected}); "
                "set metrics.names.histogram and its labels in the config"
            )
        base = found
    else:
        base = CONVENTIONS["otel"]
    fields = base.model_dump()
    if label_names is not None:
        for field, alternatives in _LABEL_ALTERNATIVES.items():
            if fields[field] not in label_names:
                fields[field] = next((a for a in alternatives if a in label_names), fields[field])
        if "service_name" in label_names:
            fields["service_label"] = "service_name"
    if names.histogram:
        fields["histogram"] = names.histogram
    if names.unit:
        fields["seconds_per_unit"] = 0.001 if names.unit == "milliseconds" else 1.0
    for field in ("route_label", "method_label", "status_label", "service_label"):
        if getattr(names, field):
            fields[field] = getattr(names, field)
    return HttpMetrics(**fields)


def _convention_for_histogram(histogram: str) -> HttpMetrics:
    for convention in CONVENTIONS.values():
        if convention.histogram == histogram:
            return convention
    unit = "milliseconds" if histogram.endswith("_milliseconds") else "seconds"
    base = CONVENTIONS["prometheus"]
    return base.model_copy(
        update={
            "convention": "custom",
            "histogram": histogram,
            "seconds_per_unit": 0.001 if unit == "milliseconds" else 1.0,
        }
    )
