"""What the demo workload covers (``DemoOutline``), known from its definition alone.

``perfbot check-config`` reports the demo from this: its span, endpoints, services and
incidents need no data, and generating 30 days of it costs about a second (issue 13).
No numpy or pandas here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property

from bot.metrics.base import Check, Endpoint, format_utc
from bot.metrics.demo.platform import ROUTES, SERVICES
from bot.metrics.demo.scenarios import Scenario, Timeline
from bot.metrics.deploys import Deploy

MAX_DAYS = 90  # ~200 MB of histograms; the settings allow the same range


@dataclass(frozen=True)
class DemoOutline:
    """The span ``(start, end]`` of a demo workload and what it holds, without its data."""

    start: datetime
    end: datetime
    tz: tzinfo
    seed: int

    @classmethod
    def ending(cls, end: datetime, days: int = 30, seed: int = 7,
               tz: tzinfo = UTC) -> DemoOutline:
        """``days`` days ending at ``end`` (floored to the minute): what
        ``DemoWorkload.generate`` with the same arguments makes."""
        if end.tzinfo is None or end.utcoffset() is None:
            raise ValueError("the demo's end must be timezone-aware, e.g. 2026-11-23T12:00Z")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise ValueError(f"the demo needs a whole number of days from 1 to {MAX_DAYS}, "
                             f"got {days!r}")
        end = end.astimezone(UTC).replace(second=0, microsecond=0)
        return cls(end - timedelta(days=days), end, tz, seed)

    @cached_property
    def timeline(self) -> Timeline:
        return Timeline.place(self.end, self.tz)

    @property
    def endpoints(self) -> list[Endpoint]:
        return [r.endpoint for r in ROUTES]

    @property
    def services(self) -> list[str]:
        return [s.name for s in SERVICES]

    @property
    def scenarios(self) -> list[Scenario]:
        """The incidents the data shows (``Scenario.shown_in``)."""
        return [s for s in self.timeline.scenarios if s.shown_in(self.start, self.end)]

    @property
    def deploys(self) -> list[Deploy]:
        """The releases inside the span."""
        return [d for d in self.timeline.deploys if self.start < d.time <= self.end]

    def check(self) -> Check:
        return demo_check(self.start, self.end, len(self.endpoints), len(self.services),
                          len(self.scenarios))


def demo_check(start: datetime, end: datetime, endpoints: int, services: int,
               incidents: int) -> Check:
    """``check-config``'s line for a demo workload (from its outline or from its data)."""
    detail = (
        f"embedded demo workload (no Prometheus configured): {(end - start).days} days of "
        f"per-minute data from {format_utc(start)} to {format_utc(end)}, {endpoints} "
        f"endpoints in {services} services, {incidents} injected incidents"
    )
    return Check(name="demo", ok=True, detail=detail)
