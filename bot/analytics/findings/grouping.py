"""Anomalies of one service grouped into findings, and ``find``: the whole pipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.analytics.findings.anomalies import find_anomalies
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.model import (
    DEFAULT_FINDINGS,
    Anomaly,
    Finding,
    FindingsConfig,
    FindingsResult,
    SeriesBatch,
)
from bot.analytics.findings.silence import silences
from bot.analytics.slo import SLO
from bot.metrics.base import Signal

SIGNAL_ORDER = (Signal.CPU, Signal.MEMORY, Signal.THROUGHPUT, Signal.LATENCY, Signal.ERROR_RATIO)


def group_findings(
    anomalies: Sequence[Anomaly], config: FindingsConfig = DEFAULT_FINDINGS
) -> list[Finding]:
    """Anomalies of one service close in time (or overlapping) as one finding each."""
    by_service: dict[str, list[Anomaly]] = {}
    for a in sorted(anomalies, key=lambda a: (a.start, SIGNAL_ORDER.index(a.key.signal))):
        by_service.setdefault(a.key.service, []).append(a)
    findings = []
    for service, items in by_service.items():
        groups: list[list[Anomaly]] = []
        for a in items:
            group = next((g for g in groups if _belongs(a, g, config)), None)
            if group is None:
                groups.append([a])
            else:
                group.append(a)
        for g in groups:
            findings.append(_finding(service, g))
    return sorted(findings, key=lambda f: (-f.severity.rank, f.start))


def _belongs(a: Anomaly, group: list[Anomaly], config: FindingsConfig) -> bool:
    head = group[0]
    if a.start - head.start > config.group_window:
        return False
    return any(a.start - g.start <= config.group_gap or g.end is None or a.start <= g.end
               for g in group)


def _finding(service: str, group: list[Anomaly]) -> Finding:
    severity = max((a.severity for a in group), key=lambda s: s.rank)
    first = group[0]
    ends = [a.end for a in group]
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    ident = f"{service}:{first.key.signal}:{first.start:%Y%m%dT%H%M}"
    return Finding(id=ident, service=service, severity=severity, change=first.change,
                   start=first.start, end=end, anomalies=list(group))


def find(
    batch: SeriesBatch,
    since: datetime,
    slos: Mapping[str, SLO] | None = None,
    config: FindingsConfig = DEFAULT_FINDINGS,
    cache: BaselineCache | None = None,
) -> FindingsResult:
    """Findings active after ``since`` (up to the batch's last point), with the problems.

    ``slos`` are keyed by the endpoint's frame column (``SeriesKey.column``).

    A ``BaselineCache`` kept between cycles saves recomputing the earlier days' baselines.
    """
    anomalies, problems, scored = find_anomalies(batch, since, slos, config, cache=cache)
    anomalies = [*anomalies, *silences(batch, since, config)]
    return FindingsResult(findings=group_findings(anomalies, config), problems=problems,
                          series_checked=len(batch.keys), series_scored=scored)
