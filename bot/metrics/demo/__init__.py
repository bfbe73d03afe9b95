"""The embedded demo: a deterministic food-delivery workload, and a backend that serves it.

``DemoWorkload.generate`` (``workload.py``) builds per-minute data for the services and routes
of ``platform.py`` with the incidents of ``scenarios.py`` injected; ``DemoBackend``
(``backend.py``) answers the ``MetricsBackend`` and ``DeploySource`` questions on it with
PromQL's semantics, so its figures match a real Prometheus loaded with
``bot.metrics.openmetrics.write_openmetrics`` of the same workload.
"""

from bot.metrics.demo.backend import DemoBackend
from bot.metrics.demo.workload import DemoWorkload

__all__ = ["DemoBackend", "DemoWorkload"]
