"""The composition root: the one place that turns settings into working objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from bot.ask.answer import Sources
from bot.audit import AuditStore
from bot.catalog import Catalog
from bot.config import Settings
from bot.demo_settings import with_demo_defaults
from bot.metrics.base import MetricsBackend
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.prometheus import PrometheusBackend

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Perfbot:
    """Everything a transport (CLI, Slack, scheduler) needs, built once from the settings."""

    settings: Settings
    backend: MetricsBackend
    clock: Clock = field(default=utc_now)

    @cached_property
    def catalog(self) -> Catalog:
        # Built on first use: discovery asks the metrics server, which a command may not need.
        return Catalog.build(self.backend.endpoints(), self.settings.catalog)

    @cached_property
    def sources(self) -> Sources:
        """What the question answering reads: metrics, catalog, time zone, prices."""
        return Sources(
            backend=self.backend, catalog=self.catalog, tz=self.settings.zone,
            cost=self.settings.cost,
        )

    @cached_property
    def audit(self) -> AuditStore:
        """The record of actions taken on alerts (and refusals), in ``storage.url``."""
        return AuditStore(self.settings.storage.url)

    def now(self) -> datetime:
        return self.clock()


def build(settings: Settings, clock: Clock = utc_now, *, demo: bool = False) -> Perfbot:
    """Wire the bot. ``demo=True`` forces the embedded workload whatever the settings say."""
    if demo or settings.metrics.backend == "demo":
        settings = with_demo_defaults(settings)
    backend = build_backend(settings, clock, demo=demo)
    return Perfbot(settings=settings, backend=backend, clock=clock)


def build_backend(
    settings: Settings, clock: Clock = utc_now, *, demo: bool = False
) -> MetricsBackend:
    metrics = settings.metrics
    if demo or metrics.backend == "demo":
        end = clock().replace(second=0, microsecond=0)
        workload = DemoWorkload.generate(
            end=end, days=metrics.demo_days, seed=metrics.demo_seed, tz=settings.zone
        )
        return DemoBackend(workload)
    password = settings.prometheus_password
    return PrometheusBackend(
        metrics.prometheus,
        metrics.names,
        metrics.saturation,
        password=password.get_secret_value() if password else None,
        clock=clock,
    )
