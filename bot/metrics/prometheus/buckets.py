"""The histogram bucket cache: each histogram's ``le`` label values, read once per backend."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from bot.metrics import promql
from bot.metrics.base import NoBucketError
from bot.metrics.conventions import HttpMetrics
from bot.metrics.prometheus.client import PrometheusClient


class BucketBounds:
    """The finite bucket bounds of each histogram, as the server writes their ``le`` values."""

    def __init__(
        self, client: PrometheusClient, span: Callable[[], tuple[datetime, datetime]]
    ) -> None:
        self._client = client
        self._span = span  # where to look for the buckets: the discovery lookback
        self._bounds: dict[str, dict[str, float]] = {}  # histogram → le label value → bound

    def le(self, http: HttpMetrics, bound: float) -> str:
        """The ``le`` label value equal to ``bound`` (in the histogram's unit), as written."""
        if http.histogram not in self._bounds:
            selector = promql.selector(f"{http.histogram}_bucket")
            values = self._client.label_values("le", selector, *self._span())
            parsed = {text: _bound(text) for text in values}
            self._bounds[http.histogram] = {t: v for t, v in parsed.items() if math.isfinite(v)}
        bounds = self._bounds[http.histogram]
        for text, value in bounds.items():
            if math.isclose(value, bound, rel_tol=1e-9):
                return text
        listed = ", ".join(f"{v:g}" for v in sorted(bounds.values())) or "none found"
        raise NoBucketError(f"{http.histogram} has no bucket at {bound:g} (its bounds: {listed})")


def _bound(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
