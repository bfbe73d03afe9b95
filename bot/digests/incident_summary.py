"""The digest's incidents: how many opened, how fast they were acknowledged and resolved,
which came back, which are still open, and who was paged (off hours too)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from bot.digests.model import (
    Duration,
    IncidentSummary,
    OnCallLoad,
    OpenIncident,
    Period,
    Recurring,
    Scope,
)
from bot.digests.reading import DigestSources
from bot.incidents.lifecycle import Incident
from bot.incidents.ports import IncidentRecords


def incident_summary(sources: DigestSources, period: Period, scope: Scope, services: list[str],
               notes: list[str]) -> IncidentSummary:
    if sources.incidents is None:
        return IncidentSummary(total=0)
    try:
        listed = sources.incidents.touching(period.start, period.end)
    except Exception as error:  # the digest says what could not be read
        notes.append(f"no incidents: {type(error).__name__}")
        return IncidentSummary(total=0)
    # Everyone's digest counts every incident, also of services the catalog lost.
    everyone = not (scope.team or scope.service)
    wanted = set(services)
    touching = [i for i in listed if everyone or i.alert.service in wanted]
    return summarise_incidents(touching, period, sources.incidents, sources.tz)


def summarise_incidents(incidents: Sequence[Incident], period: Period,
                        store: IncidentRecords | None, tz: tzinfo) -> IncidentSummary:
    opened = [i for i in incidents if period.start < i.opened_at <= period.end]
    acks = [(i.acknowledged_at - i.opened_at, f"INC-{i.id}") for i in opened
            if i.acknowledged_at is not None]
    resolves = [(i.resolved_at - i.opened_at, f"INC-{i.id}") for i in opened
                if i.resolved_at is not None and i.resolved_at <= period.end]
    titles = Counter((i.alert.title, i.alert.service) for i in opened)
    still_open = [OpenIncident(name=f"INC-{i.id}", title=i.alert.title, state=str(i.state),
                               since=i.opened_at)
                  for i in incidents if i.resolved_at is None or i.resolved_at > period.end]
    pages: dict[str, list[datetime]] = defaultdict(list)
    if store is not None:
        for incident in incidents:
            for entry in store.timeline(incident.id):
                if entry.kind == "paged" and entry.user and period.start < entry.at <= period.end:
                    pages[entry.user].append(entry.at)
    load = sorted((OnCallLoad(user=user, pages=len(at),
                              off_hours=sum(1 for t in at if _off_hours(t, tz)))
                   for user, at in pages.items()), key=lambda line: -line.pages)
    return IncidentSummary(
        total=len(opened),
        by_severity=dict(Counter(str(i.alert.severity) for i in opened)),
        by_service=dict(Counter(i.alert.service for i in opened)),
        to_acknowledge=_duration(acks), to_resolve=_duration(resolves),
        recurring=tuple(Recurring(title=t, service=s, count=n)
                        for (t, s), n in titles.most_common() if n > 1),
        still_open=tuple(still_open), load=tuple(load))


def _off_hours(moment: datetime, tz: tzinfo) -> bool:
    local = moment.astimezone(tz)
    return local.weekday() >= 5 or not 9 <= local.hour < 18


def _duration(items: list[tuple[timedelta, str]]) -> Duration | None:
    if not items:
        return None
    worst = max(items, key=lambda item: item[0])
    spans = sorted(d for d, _ in items)
    middle = len(spans) // 2
    median = spans[middle] if len(spans) % 2 else (spans[middle - 1] + spans[middle]) / 2
    return Duration(median=median, worst=worst[0],
                    worst_incident=worst[1])

