"""How the metrics server is reached and how its metrics are named: the settings the metrics
adapters read (``bot.config`` composes them into the whole settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.durations import Duration, parse_duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrometheusSettings(_Strict):
    url: str = "http://localhost:9090"
    timeout: Duration = parse_duration("10s")
    retries: int = Field(default=2, ge=0, le=10)
    verify_tls: bool = True
    username: str | None = None
    # How far back an endpoint's series count as "there": a day keeps nightly batch
    # endpoints and quiet hours in the catalog.
    discovery_lookback: Duration = parse_duration("1d")


class MetricNames(_Strict):
    """How the HTTP histogram and its labels are named. Unset fields are auto-detected."""

    convention: Literal["auto", "otel", "otel_legacy", "prometheus"] = "auto"
    histogram: str | None = None
    unit: Literal["seconds", "milliseconds"] | None = None
    route_label: str | None = None
    method_label: str | None = None
    status_label: str | None = None
    service_label: str | None = None


class SaturationMetrics(_Strict):
    """cAdvisor usage and kube-state-metrics limits by default, keyed by a service label.

    Each value is a metric name, optionally with a fixed selector written by the operator
    (never by a chat user), e.g. ``kube_pod_container_resource_limits{resource="cpu"}``.
    """

    service_label: str = "container"
    cpu_usage: str = "container_cpu_usage_seconds_total"
    cpu_limit: str = 'kube_pod_container_resource_limits{resource="cpu"}'
    memory_usage: str = "container_memory_working_set_bytes"
    memory_limit: str = 'kube_pod_container_resource_limits{resource="memory"}'
