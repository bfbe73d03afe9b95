"""The composition root: the one place that turns settings into working objects."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cached_property

from bot.ask.answer import Sources
from bot.audit import AuditStore
from bot.catalog import Catalog
from bot.config import Settings
from bot.demo_settings import with_demo_defaults
from bot.metrics.base import MetricsBackend, MetricsError
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.prometheus import PrometheusBackend

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def clock_at(text: str | None, zone: tzinfo) -> Clock:
    """The clock for ``--at TEXT``: stopped at that moment (in ``zone`` unless the text gives
    its own offset), or the real one when ``text`` is empty. ValueError says what was wrong."""
    if not text:
        return utc_now
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at: expected a time like 2026-11-20T14:00, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return lambda: moment


@dataclass
class Perfbot:
    """Everything a transport (CLI, Slack, scheduler) needs, built once from the settings."""

    settings: Settings
    backend: MetricsBackend
    clock: Clock = field(default=utc_now)

    _catalog: tuple[Catalog, datetime] | None = field(default=None, init=False, repr=False)
    _catalog_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                          repr=False, compare=False)

    @property
    def catalog(self) -> Catalog:
        """The endpoints, discovered on first use (a command may not need the metrics server)
        and again once ``catalog.refresh`` has passed. While discovery fails the last catalog
        stays, so a Prometheus hiccup does not make every endpoint unknown."""
        now = self.clock()
        with self._catalog_lock:
            if self._catalog is not None:
                catalog, built = self._catalog
                if now - built < self.settings.catalog.refresh:
                    return catalog
            try:
                fresh = Catalog.build(self.backend.endpoints(), self.settings.catalog)
            except MetricsError as exc:
                if self._catalog is None:
                    raise
                log.warning("kept the endpoint catalog from %s: discovery failed: %s",
                            built.isoformat(timespec="seconds"), exc)
                self._catalog = (catalog, now)  # ask again after another refresh period
                return catalog
            self._catalog = (fresh, now)
            return fresh

    @property
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
    if isinstance(backend, DemoBackend):
        # The demo's data ends when it was made: its clock stops there, so "the last hour"
        # has data however long the demo runs (a minute ticking over mid-command broke it).
        end = backend.workload.end
        clock = lambda: end  # noqa: E731
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
