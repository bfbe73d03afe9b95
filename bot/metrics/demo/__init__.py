"""The embedded demo: a deterministic food-delivery workload, and a backend that serves it.

``DemoWorkload.generate`` (``workload.py``) builds per-minute data for the services and routes
of ``platform.py`` with the incidents of ``scenarios.py`` injected; ``DemoBackend``
(``backend.py``) answers the ``MetricsBackend`` and ``DeploySource`` questions on it with
PromQL's semantics, so its figures match a real Prometheus loaded with
``bot.metrics.openmetrics.write_openmetrics`` of the same workload. ``DemoOutline``
(``outline.py``) is what the workload covers, known without generating it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported on first use (PEP 562): the two import numpy and pandas, and `check-config`
# reads only the light modules of this package (the outline, the platform, the scenarios).
if TYPE_CHECKING:
    from bot.metrics.demo.backend import DemoBackend
    from bot.metrics.demo.workload import DemoWorkload

__all__ = ["DemoBackend", "DemoWorkload"]


def __getattr__(name: str) -> Any:
    if name == "DemoBackend":
        from bot.metrics.demo.backend import DemoBackend

        return DemoBackend
    if name == "DemoWorkload":
        from bot.metrics.demo.workload import DemoWorkload

        return DemoWorkload
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
