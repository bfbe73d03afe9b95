"""The demo's injected incidents (``Scenario``) and the timeline of releases they follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.durations import format_duration
from bot.metrics.base import Signal
from bot.metrics.deploys import Deploy

ScenarioKind = Literal["latency_step", "error_spike", "cpu_saturation", "memory_leak"]
# Scenarios seen as a change at a moment; the others are conditions that last.
_CHANGES = frozenset({"latency_step", "error_spike"})


class Scenario(BaseModel):
    """An incident injected into the demo, for people to find and tests to check."""

    model_config = ConfigDict(frozen=True)

    kind: ScenarioKind
    title: str
    service: str
    endpoint_key: str | None
    signal: Signal
    start: datetime
    end: datetime | None
    description: str

    def shown_in(self, start: datetime, end: datetime) -> bool:
        """Whether data covering ``(start, end]`` shows the scenario: a change needs its
        moment inside the span, a lasting condition only needs to overlap it."""
        if self.start > end:
            return False
        if self.kind in _CHANGES:
            return self.start > start
        return self.end is None or self.end > start


# Scenario figures.
HISTORY_SLOWDOWN = 4.0  # order-history latency after the index went missing
SPIKE_ERROR_RATIO = 0.10  # checkout 5xx during the bad deploy
SPIKE_DURATION = timedelta(minutes=45)
SEARCH_COST_FACTOR = 2.0  # search CPU per request after the new ranking
LEAK_PER_DAY = 0.05  # menu memory growth, share of its limit per day


@dataclass(frozen=True)
class Timeline:
    """When the demo's deploys and incidents happen, relative to its end (local time)."""

    leak_deploy: datetime
    search_deploy: datetime
    history_step: datetime
    payments_deploy: datetime
    deploys: list[Deploy]
    scenarios: list[Scenario]

    @classmethod
    def place(cls, end: datetime, tz: tzinfo) -> Timeline:
        today = end.astimezone(tz).date()

        def at(days_before: int, hour: int, minute: int) -> datetime:
            return _local(today - timedelta(days=days_before), time(hour, minute), tz)

        leak = at(6, 10, 30)
        search = at(3, 11, 15)
        migration = at(3, 13, 55)
        step = at(3, 14, 2)
        payments = at(1, 16, 40)
        rollback = payments + SPIKE_DURATION
        deploys = [
            Deploy(service="menu", version="3.8.0", time=leak,
                   note="restaurant cache kept in process"),
            Deploy(service="web", version="1.42.0", time=at(5, 9, 45), note="new landing page"),
            Deploy(service="search", version="5.4.0", time=search, note="semantic ranking"),
            Deploy(service="orders", version="4.2.0", time=migration,
                   note="migration rebuilds the orders table"),
            Deploy(service="users", version="2.9.1", time=at(2, 15, 10), note="session fix"),
            Deploy(service="payments", version="2.31.0", time=payments,
                   note="new payment provider client"),
            Deploy(service="payments", version="2.30.4", time=rollback, note="rollback"),
        ]
        scenarios = [
            Scenario(
                kind="memory_leak",
                title="menu memory leak",
                service="menu",
                endpoint_key=None,
                signal=Signal.MEMORY,
                start=leak,
                end=None,
                description=(
                    "menu 3.8.0 keeps a restaurant cache in process that never evicts: its "
                    f"working set grows by {LEAK_PER_DAY:.0%} of the memory limit per day"
                ),
            ),
            Scenario(
                kind="cpu_saturation",
                title="search CPU saturation at dinner",
                service="search",
                endpoint_key="GET /api/search",
                signal=Signal.CPU,
                start=search,
                end=None,
                description=(
                    f"search 5.4.0's semantic ranking costs {SEARCH_COST_FACTOR:g}x the CPU per "
                    "request: at dinner peaks search runs above 90% of its CPU limit and its "
                    "latency rises"
                ),
            ),
            Scenario(
                kind="latency_step",
                title="slow order-history query after a missing index",
                service="orders",
                endpoint_key="GET /api/orders/history",
                signal=Signal.LATENCY,
                start=step,
                end=None,
                description=(
                    "the orders 4.2.0 migration rebuilt the orders table without the "
                    "(user_id, created_at) index: order-history latency is "
                    f"{HISTORY_SLOWDOWN:g}x what it was and stays there"
                ),
            ),
            Scenario(
                kind="error_spike",
                title="error spike after a deploy",
                service="payments",
                endpoint_key="POST /api/checkout",
                signal=Signal.ERROR_RATIO,
                start=payments,
                end=rollback,
                description=(
                    f"payments 2.31.0 failed about {SPIKE_ERROR_RATIO:.0%} of checkouts with "
                    f"5xx for {format_duration(SPIKE_DURATION)}, until the rollback to 2.30.4"
                ),
            ),
        ]
        return cls(leak, search, step, payments, deploys, scenarios)


def _local(day: date, clock: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)

