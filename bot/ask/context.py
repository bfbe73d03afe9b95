"""One question being answered: where its figures come from, what it is about, their SLOs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.analytics.prices import CostSettings
from bot.ask.query import Measure, Query, Statistic
from bot.ask.timerange import TimeRange
from bot.catalog import Catalog, EndpointInfo
from bot.metrics.base import Endpoint, MetricsBackend

if TYPE_CHECKING:  # incidents (and their alert models) load only for "is anything broken"
    from bot.incidents.lifecycle import Incident


@dataclass(frozen=True)
class Sources:
    """What answering reads: the metrics, the catalog, the asker's time zone, cost prices,
    and (when the bot keeps incidents) a reader of the open ones."""

    backend: MetricsBackend
    catalog: Catalog
    tz: ZoneInfo
    cost: CostSettings = field(default_factory=CostSettings)
    open_incidents: Callable[[], Sequence[Incident]] | None = None


@dataclass(frozen=True)
class Context:
    """One question being answered."""

    query: Query
    sources: Sources
    now: datetime
    chart: bool
    # The span before the window that a figure is set against, cut to where it has data
    # (None: the equal span just before the window).
    before: TimeRange | None = None

    @property
    def window(self) -> TimeRange:
        if self.query.window is None:  # the Query's validator guarantees it for non-help
            raise ValueError("this query has no window")
        return self.query.window

    @property
    def backend(self) -> MetricsBackend:
        return self.sources.backend


@dataclass(frozen=True)
class Subject:
    """One thing a figure is about: an endpoint, or a whole service (its endpoints)."""

    key: str  # its name in tables: the endpoint's label ("POST /graphql (orders)" when
    # another service shares the key), or the service name
    label: str  # for sentences: "POST /api/checkout", "the orders service"
    entries: tuple[EndpointInfo, ...]
    service: str | None = None  # set when the subject is a whole service

    @property
    def column(self) -> str:
        """Its column in frames and readings: ``Endpoint.column``, or the service name."""
        if self.service is None and len(self.entries) == 1:
            return self.entries[0].column
        return self.key

    @property
    def columns(self) -> list[str]:
        """The columns of its endpoints."""
        return [entry.column for entry in self.entries]

    @property
    def endpoints(self) -> list[Endpoint]:
        return [entry.endpoint for entry in self.entries]


def endpoint_subject(entry: EndpointInfo) -> Subject:
    return Subject(key=entry.label, label=entry.label, entries=(entry,))


def service_subject(name: str, entries: Sequence[EndpointInfo]) -> Subject:
    return Subject(key=name, label=f"the {name} service", entries=tuple(entries), service=name)


def subjects_of(query: Query, catalog: Catalog) -> list[Subject]:
    """The named endpoints and services, in the order named; every endpoint when none."""
    found: list[Subject] = []
    for key in query.subjects.endpoints:
        entry = catalog.get(key)
        if entry is not None:
            found.append(endpoint_subject(entry))
    for name in query.subjects.services:
        entries = catalog.for_service(name)
        if entries:
            found.append(service_subject(entries[0].service, entries))
    if query.subjects.everything:
        found = [endpoint_subject(entry) for entry in catalog.entries]
    return found


def all_endpoints(subjects: Sequence[Subject]) -> list[EndpointInfo]:
    """Every endpoint of the subjects, once each, in order."""
    seen: dict[str, EndpointInfo] = {}
    for subject in subjects:
        for entry in subject.entries:
            seen.setdefault(f"{entry.service}\0{entry.key}", entry)
    return list(seen.values())


def services_of(subjects: Sequence[Subject]) -> list[str]:
    return list(dict.fromkeys(entry.service for s in subjects for entry in s.entries))


# ---- SLO targets --------------------------------------------------------------------------


def latency_target(subject: Subject, statistic: Statistic | None) -> float | None:
    """The latency threshold (seconds) when every endpoint's SLO is on this quantile."""
    quantile = (statistic or Statistic.P95).quantile
    if quantile is None:
        return None
    targets = set()
    for entry in subject.entries:
        slo = entry.slo.latency
        if slo is None or not math.isclose(slo.quantile, quantile):
            return None
        targets.add(slo.threshold.total_seconds())
    return targets.pop() if len(targets) == 1 else None


def error_target(subject: Subject) -> float | None:
    targets = {entry.slo.error_ratio for entry in subject.entries}
    if len(targets) != 1:
        return None
    target = targets.pop()
    return target


def slo_target(measure: Measure, statistic: Statistic | None, subject: Subject) -> float | None:
    """The SLO line for a figure, when the figure is what the SLO is about."""
    if measure is Measure.LATENCY and statistic not in (Statistic.AVG, Statistic.MAX):
        if subject.service is not None and len(subject.entries) > 1:
            return None  # each endpoint's target is its own, not its service's
        return latency_target(subject, statistic)
    if measure is Measure.ERROR_RATIO and statistic is not Statistic.MAX:
        return error_target(subject)
    return None
