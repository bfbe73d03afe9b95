"""Metrics adapters: one interface (`MetricsBackend`), a Prometheus and a demo implementation."""

from bot.metrics.base import (
    Endpoint,
    MetricsBackend,
    MetricsError,
    NoBucketError,
    NoDataError,
    QueryRejectedError,
    Resource,
    Signal,
    UnreachableError,
    Window,
)

__all__ = [
    "Endpoint",
    "MetricsBackend",
    "MetricsError",
    "NoBucketError",
    "NoDataError",
    "QueryRejectedError",
    "Resource",
    "Signal",
    "UnreachableError",
    "Window",
]
