"""What the incidents capability needs from a store (the database adapter implements it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from bot.incidents.lifecycle import Change, Entry, Incident, Refused

Decide = Callable[[Incident], Change | Refused | None]


class SilenceRule(Protocol):
    """A stored silence: incidents it matches are stored and listed, not posted."""

    id: int
    reason: str
    ends_at: datetime

    def matches(self, service: str, endpoint: str | None) -> bool: ...


class OverrideRule(Protocol):
    """A stored on-call override."""

    schedule: str
    user: str
    starts_at: datetime
    ends_at: datetime


class IncidentRecords(Protocol):
    def get(self, incident_id: int) -> Incident | None: ...

    def latest(self, fingerprint: str) -> Incident | None: ...

    def listed(self, *, open_only: bool = True, limit: int = 50) -> list[Incident]: ...

    def due(self, now: datetime, limit: int = 500) -> list[int]: ...

    def expiring(self, now: datetime, limit: int = 500) -> list[Incident]: ...

    def touching(self, start: datetime, end: datetime) -> list[Incident]: ...

    def timeline(self, incident_id: int) -> list[Entry]: ...

    def create(self, build: Callable[[int], Change]) -> Incident: ...

    def change(
        self, incident_id: int, decide: Decide, *, record: dict[str, Any] | None = None,
    ) -> Incident | Refused | None: ...

    def silences(self, now: datetime) -> list[Any]: ...

    def overrides(self, now: datetime) -> list[Any]: ...
