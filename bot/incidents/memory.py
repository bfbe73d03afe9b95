"""Incidents kept in memory (``IncidentRecords``): the backtest's store, which replays a week
of ticks through the same lifecycle without touching the bot's database. One thread."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.incidents.lifecycle import Change, Entry, Incident, Refused
from bot.incidents.ports import Decide


class MemoryIncidents:
    """Incidents, their timelines; effects (posts, pages) are decided and dropped."""

    def __init__(self) -> None:
        self._incidents: dict[int, Incident] = {}
        self._latest: dict[str, int] = {}
        self._open: set[int] = set()
        self._timeline: dict[int, list[Entry]] = {}

    def get(self, incident_id: int) -> Incident | None:
        return self._incidents.get(incident_id)

    def latest(self, fingerprint: str) -> Incident | None:
        found = self._latest.get(fingerprint)
        return None if found is None else self._incidents[found]

    def listed(self, *, open_only: bool = True, limit: int = 50) -> list[Incident]:
        ids = sorted(self._open if open_only else self._incidents, reverse=True)[:limit]
        return [self._incidents[i] for i in ids]

    def due(self, now: datetime, limit: int = 500) -> list[int]:
        return []  # nothing escalates in a backtest

    def expiring(self, now: datetime, limit: int = 500) -> list[Incident]:
        """The open incidents whose alert's end has passed, longest overdue first (a replay
        holds a few hundred at most: a scan is enough)."""
        overdue = [i for i in (self._incidents[k] for k in self._open)
                   if i.alert.ends_at is not None and i.alert.ends_at <= now]
        return sorted(overdue, key=lambda i: i.alert.ends_at or now)[:limit]

    def touching(self, start: datetime, end: datetime) -> list[Incident]:
        return [i for i in self._incidents.values() if i.opened_at <= end
                and (i.resolved_at is None or i.resolved_at >= start)]

    def timeline(self, incident_id: int) -> list[Entry]:
        return list(self._timeline.get(incident_id, []))

    def create(self, build: Callable[[int], Change]) -> Incident:
        change = build(len(self._incidents) + 1)
        self._store(change)
        return change.incident

    def change(
        self, incident_id: int, decide: Decide, *, record: dict[str, Any] | None = None,
    ) -> Incident | Refused | None:
        current = self._incidents.get(incident_id)
        if current is None:
            return None
        decided = decide(current)
        if decided is None or isinstance(decided, Refused):
            return decided
        self._store(decided)
        return decided.incident

    def silences(self, now: datetime) -> list[Any]:
        return []

    def overrides(self, now: datetime) -> list[Any]:
        return []

    def _store(self, change: Change) -> None:
        incident = change.incident
        self._incidents[incident.id] = incident
        self._latest[incident.fingerprint] = max(incident.id,
                                                 self._latest.get(incident.fingerprint, 0))
        if incident.is_open:
            self._open.add(incident.id)
        else:
            self._open.discard(incident.id)
        self._timeline.setdefault(incident.id, []).extend(change.timeline)
