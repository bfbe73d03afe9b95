"""How the metrics server is reached and how its metrics are named: the settings the metrics
adapters read (``bot.config`` composes them into the whole settings)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.durations import Duration, format_duration, parse_duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# What a call may take beyond ``timeout`` (which Prometheus is told, and which bounds each
# socket read): the time to send the answer once evaluated.
DEADLINE_MARGIN = timedelta(seconds=5)


class PrometheusSettings(_Strict):
    url: str = "http://localhost:9090"
    """Base URL of the Prometheus HTTP API."""
    timeout: Duration = parse_duration("10s")
    """Per query: Prometheus's evaluation, and each read of the answer."""
    # The whole call, retries and the body's transfer included; default ``timeout`` + 5s. A
    # server that trickles its answer byte by byte never trips ``timeout`` (per read).
    deadline: Duration | None = None
    """The whole call, retries and the answer's transfer included; unset: timeout + 5s."""
    # The largest answer read, decoded. Parsed, an answer takes ~11 times its JSON size
    # (benchmarks/answer_size.py: 15 MB, 2,000 series of 301 points, took 173 MB more) and
    # slack.answer_workers questions run at once: 16 MB holds ~2,000 endpoints' day at
    # 5-minute steps, and keeps one odd question (100k series matched) from taking GBs.
    max_response_mb: int = Field(default=16, ge=1, le=1024)
    """Larger answers are refused unread ("narrow the question")."""
    retries: int = Field(default=2, ge=0, le=10)
    """Retries on connection errors, with exponential backoff."""
    verify_tls: bool = True
    """Check the server's TLS certificate."""
    username: str | None = None
    """Basic-auth user; the password comes from PERFBOT_PROMETHEUS_PASSWORD."""
    # How far back an endpoint's series count as "there": a day keeps nightly batch
    # endpoints and quiet hours in the catalog.
    discovery_lookback: Duration = parse_duration("1d")
    """Endpoints with series this recent are in the catalog."""

    @model_validator(mode="after")
    def _check_deadline(self) -> PrometheusSettings:
        if self.deadline is not None and self.deadline < self.timeout:
            raise ValueError(
                f"metrics.prometheus.deadline ({format_duration(self.deadline)}) is shorter "
                f"than metrics.prometheus.timeout ({format_duration(self.timeout)}); the "
                "deadline bounds the whole call, so it must be at least the timeout")
        return self

    @property
    def total_deadline(self) -> timedelta:
        """How long one call may take in all: ``deadline``, else ``timeout`` + 5s."""
        return self.deadline if self.deadline is not None else self.timeout + DEADLINE_MARGIN

    @property
    def max_response_bytes(self) -> int:
        return self.max_response_mb * 1024 * 1024


class MetricNames(_Strict):
    """How the HTTP histogram and its labels are named. Unset fields are auto-detected."""

    convention: Literal["auto", "otel", "otel_legacy", "prometheus"] = "auto"
    """auto (detected), otel, otel_legacy or prometheus: the HTTP histogram's naming convention."""
    histogram: str | None = None
    """The HTTP latency histogram's name, without _bucket."""
    unit: Literal["seconds", "milliseconds"] | None = None
    """The histogram's unit: seconds or milliseconds."""
    route_label: str | None = None
    """The label holding the route."""
    method_label: str | None = None
    """The label holding the HTTP method."""
    status_label: str | None = None
    """The label holding the status code."""
    service_label: str | None = None
    """The label naming the service (default: service_name when present, else job)."""


class SaturationMetrics(_Strict):
    """cAdvisor usage and kube-state-metrics limits by default, keyed by a service label.

    Each value is a metric name, optionally with a fixed selector written by the operator
    (never by a chat user), e.g. ``kube_pod_container_resource_limits{resource="cpu"}``.

    Left unset, the source is detected on the server (see ``PROCESS_METRICS``): cAdvisor
    and kube-state-metrics where they are, else the client libraries' ``process_*``
    metrics. Any metric field set here is used as written, no detection. A field that is
    None (or whose metric has no series) is missing: no limits means no saturation figure,
    while usage alone still prices cost.
    """

    service_label: str = "container"
    """The label naming the service on the CPU and memory metrics."""
    cpu_usage: str | None = "container_cpu_usage_seconds_total"
    """CPU usage counter (seconds), a metric name with an optional fixed selector."""
    cpu_limit: str | None = 'kube_pod_container_resource_limits{resource="cpu"}'
    """CPU limit in cores; none: no CPU saturation figure."""
    memory_usage: str | None = "container_memory_working_set_bytes"
    """Memory in use (bytes)."""
    memory_limit: str | None = 'kube_pod_container_resource_limits{resource="memory"}'
    """Memory limit (bytes); none: no memory saturation figure."""


SATURATION_FIELDS = ("cpu_usage", "cpu_limit", "memory_usage", "memory_limit")

# What the Prometheus client libraries (Python, Go, Java, Node) export for their own process
# when there is no Kubernetes: CPU seconds and resident memory, no limits.
PROCESS_METRICS = SaturationMetrics(
    service_label="job",  # replaced by the label found on the series
    cpu_usage="process_cpu_seconds_total",
    cpu_limit=None,
    memory_usage="process_resident_memory_bytes",
    memory_limit=None,
)
# The labels that name a service on process_* metrics, tried in this order after the HTTP
# metrics' own service label: the same stand-ins, in the same order, as for the HTTP metrics
# (``metrics.conventions``): OpenTelemetry's service_name, service, then Prometheus's job.
PROCESS_SERVICE_LABELS = ("service_name", "service", "job")

# node_exporter: the host's CPU and memory, for a host-level saturation.
NODE_CPU = "node_cpu_seconds_total"
NODE_MEMORY_TOTAL = "node_memory_MemTotal_bytes"
NODE_MEMORY_AVAILABLE = "node_memory_MemAvailable_bytes"
