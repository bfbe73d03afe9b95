"""Reading metrics for an alert: running a playbook's diagnostics, and gathering its evidence."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from bot.metrics.base import (
    Endpoint,
    MetricsBackend,
    MetricsError,
    NoDataError,
    SeriesValue,
    Window,
)
from bot.metrics.deploys import Deploy
from bot.playbooks.evidence import AFTER_DEPLOY_WINDOW, EvidenceValue
from bot.playbooks.matching import Situation
from bot.playbooks.rendering import QueryNames, render_diagnostics
from bot.playbooks.schema import Playbook, Unit

# An instant query: PromQL and a time in; out either ``SeriesValue``s (a backend's
# ``instant``, see ``InstantQueries``) or Prometheus's raw ``result`` list (vector samples
# ``{"metric": {...}, "value": [t, "v"]}``); failures raise MetricsError.
InstantQuery = Callable[[str, datetime], Sequence[Any]]

log = logging.getLogger(__name__)


class DiagnosticResult(BaseModel):
    name: str
    description: str
    unit: Unit
    query: str | None
    values: list[SeriesValue] = []
    note: str = ""  # why there is no value: not run, failed, or no data

    def lines(self, limit: int = 5) -> list[str]:
        """``name: labels value`` lines for a person."""
        head = f"{self.name}" + (f" — {self.description}" if self.description else "")
        if not self.values:
            return [f"{head}: {self.note or 'no data'}"]
        rows = [f"{head}:"]
        for item in self.values[:limit]:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(item.labels.items())
                               if k != "__name__")
            rows.append(f"  {format_unit(item.value, self.unit)}" + (f"  {{{labels}}}"
                                                                    if labels else ""))
        if len(self.values) > limit:
            rows.append(f"  … {len(self.values) - limit} more")
        return rows


def format_unit(value: float, unit: Unit) -> str:
    if not math.isfinite(value):
        return str(value)
    if unit == "seconds":
        return f"{value:.3g} s" if value >= 1 else f"{value * 1000:.3g} ms"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "bytes":
        for size, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= size:
                return f"{value / size:.3g} {name}"
        return f"{value:.0f} B"
    if unit == "per_second":
        return f"{value:.3g}/s"
    if unit == "cores":
        return f"{value:.3g} cores"
    return f"{value:.4g}"


def run_diagnostics(
    playbook: Playbook,
    situation: Situation,
    query: InstantQuery,
    at: datetime,
    names: QueryNames | None = None,
    window: timedelta = timedelta(minutes=5),
) -> list[DiagnosticResult]:
    """Run each diagnostic at ``at``; one that fails says why and never stops the others."""
    results = []
    for d in render_diagnostics(playbook, situation, names, window):
        result = DiagnosticResult(name=d.name, description=d.description, unit=d.unit,
                                  query=d.query, note=d.note)
        if d.query is not None:
            try:
                values = _series(query(d.query, at))
                note = "" if values else "no data"
            except MetricsError as exc:
                values, note = [], f"failed: {exc.public}"  # shown in Slack: no server URL or body
                log.warning("diagnostic %s failed: %s", d.name, exc)
            result = result.model_copy(update={"values": values, "note": note})
        results.append(result)
    return results


def _series(result: Sequence[Any]) -> list[SeriesValue]:
    """Vector samples, largest first; a scalar result is one sample without labels."""
    if len(result) == 2 and isinstance(result[0], int | float) and isinstance(result[1], str):
        return [SeriesValue(labels={}, value=float(result[1]))]
    values = []
    for sample in result:
        if isinstance(sample, SeriesValue):
            values.append(sample)
        elif isinstance(sample, Mapping) and "value" in sample:
            labels = {str(k): str(v) for k, v in dict(sample.get("metric") or {}).items()}
            values.append(SeriesValue(labels=labels, value=float(sample["value"][1])))
    return sorted(values, key=lambda s: -s.value if math.isfinite(s.value) else math.inf)


# ---- evidence from a metrics backend ------------------------------------------------------


def gather_evidence(
    backend: MetricsBackend,
    *,
    service: str,
    endpoint: Endpoint | None,
    at: datetime,
    baseline_at: datetime | None = None,
    since: datetime | None = None,
    deploys: Sequence[Deploy] = (),
    lookback: timedelta = timedelta(minutes=15),
) -> dict[str, EvidenceValue]:
    """What the metrics say about ``service`` (and ``endpoint``) at ``at``.

    Ratios compare ``at`` with ``baseline_at`` (default: a day earlier, which cancels the
    daily rhythm). ``since`` is when the change began (default ``at``); deploys of the
    service up to then give ``after_deploy`` and ``minutes_since_deploy``. Figures the
    backend has no data for are left out, so conditions on them do not hold.
    """
    baseline = baseline_at or at - timedelta(days=1)
    evidence: dict[str, EvidenceValue] = {}
    for name, read in (("cpu", backend.cpu), ("memory", backend.memory)):
        now_value = _service_value(read, service, at, lookback)
        if now_value is not None:
            evidence[name] = now_value
    day_before = _service_value(backend.memory, service, at - timedelta(days=1), lookback)
    if "memory" in evidence and day_before is not None:
        evidence["memory_growth_per_day"] = float(evidence["memory"]) - day_before
    if endpoint is not None:
        evidence |= _endpoint_evidence(backend, endpoint, at, baseline, lookback)
    start = since or at
    earlier = [d.time for d in deploys if d.service == service and d.time <= start]
    if earlier:
        minutes = (start - max(earlier)).total_seconds() / 60
        evidence["minutes_since_deploy"] = minutes
        evidence["after_deploy"] = minutes <= AFTER_DEPLOY_WINDOW.total_seconds() / 60
    else:
        evidence["after_deploy"] = False
    return evidence


def _service_value(
    read: Callable[..., Any], service: str, at: datetime, lookback: timedelta
) -> float | None:
    window = Window(start=at - lookback, end=at, step=lookback, rate_window=lookback)
    try:
        frame = read(window, [service])
    except NoDataError:
        return None
    value = float(frame[service].iloc[-1])
    return value if math.isfinite(value) else None


def _endpoint_evidence(
    backend: MetricsBackend, endpoint: Endpoint, at: datetime, baseline: datetime,
    lookback: timedelta,
) -> dict[str, EvidenceValue]:
    now = _summary(backend, endpoint, at, lookback)
    evidence: dict[str, EvidenceValue] = {}
    for name, column in (("error_ratio", "error_ratio"), ("latency_p95", "p95")):
        if math.isfinite(now.get(column, math.nan)):
            evidence[name] = now[column]
    before = _summary(backend, endpoint, baseline, lookback)
    for name, column in (("latency_ratio", "p95"), ("throughput_ratio", "throughput")):
        base = before.get(column, math.nan)
        ratio = now.get(column, math.nan) / base if base else math.nan
        if math.isfinite(ratio):
            evidence[name] = ratio
    return evidence


def _summary(
    backend: MetricsBackend, endpoint: Endpoint, at: datetime, lookback: timedelta
) -> dict[str, float]:
    """The endpoint's numeric summary columns at ``at``; empty when there is no data."""
    try:
        frame = backend.summary(at, lookback, [endpoint])
    except NoDataError:
        return {}
    numbers = frame.drop(columns=["service"]).astype(float)
    return {str(k): float(v) for k, v in numbers.to_dict("index")[endpoint.column].items()}
