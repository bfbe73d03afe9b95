"""The composition root: the one place that turns settings into working objects. Transports
(the CLI, Slack) receive what they need from here; nothing else constructs adapters."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.config import Settings
from bot.demo_settings import with_demo_defaults
from bot.metrics.base import Check, MetricsBackend, MetricsError
from bot.metrics.deploys import Deploy, DeploySource, NoDeploys

# Each command builds the bot but uses a part of it: the parts' modules (pandas, scipy,
# matplotlib, Slack, SQLAlchemy behind them) are imported where a part is first built.
if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.alerts.model import Alert
    from bot.ask.answer import Sources
    from bot.authz import GroupMembers, OnCall, Rules
    from bot.catalog import Catalog
    from bot.digests.build import DigestSources
    from bot.digests.model import Digest, DigestKind, Forecast, Scope
    from bot.digests.service import DigestService
    from bot.incidents.lifecycle import Incident
    from bot.incidents.service import Incidents
    from bot.metrics.demo import DemoWorkload
    from bot.metrics.demo.outline import DemoOutline
    from bot.metrics.prometheus import PrometheusBackend
    from bot.notify.outbox import Delivery
    from bot.notify.silences import AlertmanagerSilences
    from bot.playbooks.schema import Playbook
    from bot.storage import Database
    from bot.storage.audit import AuditStore
    from bot.storage.deliveries import DeliveryStore
    from bot.storage.digests import DigestStore
    from bot.storage.incidents import IncidentStore

log = logging.getLogger(__name__)
# Detection reads four weeks of history; a release older than that explains nothing new.
DEPLOY_HISTORY = timedelta(days=35)
OPEN_INCIDENTS = 20  # listed by "is anything broken"


@dataclass
class Perfbot:
    """Everything a transport (CLI, Slack, scheduler) needs, built once from the settings.
    The parts that need I/O to build (the database, the playbooks, Slack's client) are
    built on first use, so a command that does not need them never pays for them."""

    settings: Settings
    backend: MetricsBackend
    clock: Clock = field(default_factory=Clock)
    # The embedded workload when the metrics are the demo's (its scenarios).
    demo: DemoWorkload | None = None
    # Where releases are read from (the demo's; none yet from Prometheus).
    deploy_source: DeploySource = field(default_factory=NoDeploys)
    # Who is on call now (authorization); None: the configured rotations' on-call.
    oncall: OnCall | None = None
    # Where Slack's Web API is (tests and proxies); None: Slack's own.
    slack_api_url: str | None = None

    _catalog: tuple[Catalog, datetime] | None = field(default=None, init=False, repr=False)
    # Guards the catalog fields; never held while discovery runs.
    _catalog_changed: threading.Condition = field(default_factory=threading.Condition,
                                                  init=False, repr=False, compare=False)
    _discovering: bool = field(default=False, init=False, repr=False, compare=False)
    _discoveries: int = field(default=0, init=False, repr=False, compare=False)
    _discovery_error: MetricsError | None = field(default=None, init=False, repr=False,
                                                  compare=False)
    _deliveries: dict[int, Delivery] = field(default_factory=dict, init=False, repr=False,
                                             compare=False)
    _deliveries_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                             repr=False, compare=False)

    @property
    def catalog(self) -> Catalog:
        """The endpoints, discovered on first use (a command may not need the metrics server)
        and again once ``catalog.refresh`` has passed. While discovery fails the last catalog
        stays, so a Prometheus hiccup does not make every endpoint unknown.

        One thread discovers at a time, without holding the lock: while it refreshes, the
        others get the last catalog at once; before the first, they wait for its outcome
        (bounded by the metrics server's deadline) instead of asking the server again."""
        from bot.catalog import Catalog

        now = self.clock.now()
        with self._catalog_changed:
            while True:
                if self._catalog is not None:
                    catalog, built = self._catalog
                    if self._discovering or now - built < self.settings.catalog.refresh:
                        return catalog
                    break
                if not self._discovering:
                    break
                seen = self._discoveries
                while self._discoveries == seen:  # another thread's first discovery
                    self._catalog_changed.wait()
                failed = self._discovery_error
                if self._catalog is None and failed is not None:
                    raise type(failed)(str(failed), public=failed.public)
            self._discovering = True
        fresh: Catalog | None = None
        error: MetricsError | None = None
        try:
            fresh = Catalog.build(self.backend.endpoints(), self.settings.catalog)
        except MetricsError as exc:
            error = exc
        finally:
            with self._catalog_changed:
                self._discovering = False
                self._discoveries += 1
                self._discovery_error = error
                last = self._catalog
                if fresh is not None:
                    self._catalog = (fresh, now)
                elif last is not None:
                    self._catalog = (last[0], now)  # failed: ask again after another period
                self._catalog_changed.notify_all()
        if fresh is not None:
            return fresh
        assert error is not None
        if last is None:
            raise error
        log.warning("kept the endpoint catalog from %s: discovery failed: %s",
                    last[1].isoformat(timespec="seconds"), error)
        return last[0]

    def last_catalog(self) -> Catalog | None:
        """The catalog as it is, however old, without discovering: None before the first.
        For what must answer while the metrics server is slow or away (help, App Home)."""
        with self._catalog_changed:
            return self._catalog[0] if self._catalog is not None else None

    @property
    def sources(self) -> Sources:
        """What the question answering reads: metrics, catalog, time zone, prices."""
        from bot.ask.answer import Sources

        return Sources(
            backend=self.backend, catalog=self.catalog, tz=self.settings.zone,
            cost=self.settings.cost, open_incidents=self._open_incidents,
        )

    def _open_incidents(self) -> list[Incident]:
        """For "is anything broken": the incidents not yet resolved, newest first. A SQLite
        file that does not exist holds none: a question does not create it."""
        from sqlalchemy import make_url

        url = make_url(self.settings.storage.url)
        file = url.database if url.get_backend_name() == "sqlite" else None
        if file and file != ":memory:" and not Path(file).exists():
            return []
        return self.incident_store.listed(open_only=True, limit=OPEN_INCIDENTS)

    @property
    def digest_sources(self) -> DigestSources:
        """What a digest reads: the answers' sources plus incidents, deploys, playbooks,
        the SLO window and the capacity forecasts at the configured saturation thresholds."""
        from bot.digests.build import DigestSources

        settings = self.settings.digests
        return DigestSources(
            backend=self.backend, catalog=self.catalog, tz=self.settings.zone,
            cost=self.settings.cost, incidents=self.incident_store, deploys=self.deploys,
            playbooks=self.playbooks, slo_window=settings.slo_window,
            forecasts=self._forecasts,
        )

    def _forecasts(self, services: list[str], end: datetime) -> list[Forecast]:
        from bot.digests.capacity import capacity_forecasts

        saturation = self.settings.digests.saturation
        return capacity_forecasts(self.backend, services, end, zone=self.settings.zone,
                                  thresholds=saturation.model_dump())

    def build_digest(self, kind: DigestKind, end: datetime, scope: Scope | None = None
                     ) -> Digest:
        from bot.digests.build import build_digest
        from bot.digests.model import Scope

        return build_digest(self.digest_sources, kind, end, scope or Scope())

    @property
    def deploys(self) -> list[Deploy]:
        """The releases within detection's history before the data's now."""
        end = self.data_now()
        return self.deploy_source.deploys(end - DEPLOY_HISTORY, end)

    @cached_property
    def playbooks(self) -> list[Playbook]:
        """The playbooks of ``playbooks_dir`` that load; ``perfbot playbooks lint`` shows the
        problems of the others."""
        from bot.playbooks.loading import load_playbooks

        return load_playbooks(self.settings.playbooks_dir).playbooks

    @cached_property
    def database(self) -> Database:
        """The one engine of ``storage.url`` for the whole process."""
        from bot.storage import Database

        return Database(self.settings.storage.url)

    @cached_property
    def audit(self) -> AuditStore:
        """The record of actions taken on alerts (and refusals)."""
        from bot.storage.audit import AuditStore

        return AuditStore(self.database)

    @cached_property
    def rules(self) -> Rules:
        """Who may act on alerts."""
        from bot.authz import Rules

        slack = self.settings.slack
        return Rules(admins=frozenset(slack.admins), users=frozenset(slack.allowed_users),
                     groups=tuple(slack.allowed_groups), oncall=self.on_call_now)

    def on_call_now(self) -> list[str]:
        """Who is on call now, for any policy."""
        if self.oncall is not None:
            return list(self.oncall())
        return self.incidents.on_call(self.now())

    @cached_property
    def incident_store(self) -> IncidentStore:
        from bot.storage.incidents import IncidentStore

        return IncidentStore(self.database)

    @cached_property
    def incidents(self) -> Incidents:
        """Incidents: opened by alerts, acted on by people, escalated by the sweep."""
        from bot.incidents.service import Incidents

        settings = self.settings.incidents
        return Incidents(store=self.incident_store, oncall=self.settings.oncall,
                         default_channel=settings.default_channel,
                         reopen_within=settings.reopen_within, channel_of=self.channel_of)

    @cached_property
    def delivery_store(self) -> DeliveryStore:
        """The Slack deliveries seen lately (retries and replays are answered once)."""
        from bot.storage.deliveries import DeliveryStore

        return DeliveryStore(self.database)

    @cached_property
    def digest_store(self) -> DigestStore:
        from bot.storage.digests import DigestStore

        return DigestStore(self.database)

    @cached_property
    def digests(self) -> DigestService:
        """Scheduled digests: the stored subscriptions and the configured schedules."""
        from bot.digests.service import DigestService, configured_subscriptions

        settings = self.settings.digests
        return DigestService(
            store=self.digest_store, build=self.build_digest, grace=settings.grace,
            configured=configured_subscriptions(settings, self.settings.timezone))

    @cached_property
    def alertmanager_silences(self) -> AlertmanagerSilences | None:
        """Silences in Alertmanager (``alertmanager.url``); None when it is not set."""
        from bot.notify.silences import AlertmanagerSilences

        settings = self.settings.alertmanager
        return AlertmanagerSilences(settings.url, settings.timeout) if settings.url else None

    def channel_of(self, alert: Alert) -> str | None:
        """The owning channel of ``alert``: its endpoint's, else its service's, if set."""
        if alert.endpoint is not None:
            entry = next((e for e in self.catalog.entries if e.column == alert.endpoint), None)
            if entry is not None and entry.channel:
                return entry.channel
        service = self.settings.catalog.services.get(alert.service)
        return service.channel if service is not None else None

    @cached_property
    def slack_client(self) -> WebClient:
        """Slack's Web API with the bot token, and retries on rate limits and 5xx."""
        from bot.notify.slack import make_web_client

        token = self.settings.slack_bot_token
        if token is None or not token.get_secret_value().strip():
            raise ValueError("SLACK_BOT_TOKEN is not set")
        return make_web_client(token.get_secret_value().strip(), base_url=self.slack_api_url)

    @property
    def delivery(self) -> Delivery:
        """The incidents' outbox carried out on Slack (posts, edits, pages, charts): what
        the scheduler's tick and the buttons call after a change is stored."""
        return self.delivery_for(self.slack_client)

    def delivery_for(self, client: WebClient) -> Delivery:
        """The outbox carried out through ``client``: one per client, so one lock keeps a
        process from sending an effect twice."""
        from bot.notify.outbox import Delivery
        from bot.notify.pagerduty import PagerDuty
        from bot.notify.webhook import Webhooks

        with self._deliveries_lock:
            found = self._deliveries.get(id(client))
            if found is None:
                incidents = self.settings.incidents
                found = Delivery(self.incident_store, client, self.settings.zone,
                                 incidents.default_channel, self.clock,
                                 incidents.storm_threshold,
                                 pagerduty=PagerDuty(self.settings.pagerduty),
                                 webhooks=Webhooks(self.settings.webhook_timeout))
                self._deliveries[id(client)] = found
            return found

    def group_members(self, client: WebClient) -> GroupMembers:
        """Members of Slack user groups, read through ``client`` and kept a while."""
        from bot.notify.slack import SlackGroupMembers

        return SlackGroupMembers(client, self.clock.now, self.settings.slack.group_cache)

    def now(self) -> datetime:
        """Wall time: deadlines, records, caches."""
        return self.clock.now()

    def data_now(self) -> datetime:
        """What "now" is for the metrics: wall time, or the moment the data is held at."""
        return self.clock.data_now()


def build(settings: Settings, clock: Clock | None = None, *, demo: bool = False,
          slack_api_url: str | None = None) -> Perfbot:
    """Wire the bot. ``demo=True`` forces the embedded workload whatever the settings say."""
    clock = clock if clock is not None else Clock()
    if demo or settings.metrics.backend == "demo":
        from bot.metrics.demo import DemoBackend  # pandas: not for a Prometheus command

        settings = with_demo_defaults(settings)
        # The demo's data ends when it was made: its data time stops there, so "the last
        # hour" has data however long the demo runs (a minute ticking over mid-command broke
        # it). Wall time goes on, so deadlines still pass.
        workload = demo_workload(settings, clock)
        backend = DemoBackend(workload)
        return Perfbot(settings=settings, backend=backend,
                       clock=clock.holding_data_at(workload.end), demo=workload,
                       deploy_source=backend, slack_api_url=slack_api_url)
    return Perfbot(settings=settings, backend=prometheus_backend(settings, clock), clock=clock,
                   slack_api_url=slack_api_url)


def demo_workload(settings: Settings, clock: Clock) -> DemoWorkload:
    from bot.metrics.demo import DemoWorkload

    return DemoWorkload.of(demo_outline(settings, clock))


def demo_outline(settings: Settings, clock: Clock) -> DemoOutline:
    """What the demo workload of ``build`` covers, without generating it."""
    from bot.metrics.demo.outline import DemoOutline

    metrics = settings.metrics
    end = clock.data_now().replace(second=0, microsecond=0)
    return DemoOutline.ending(end, days=metrics.demo_days, seed=metrics.demo_seed,
                              tz=settings.zone)


def metrics_checks(settings: Settings, clock: Clock | None = None
                   ) -> tuple[list[Check], Callable[[], Catalog]]:
    """What ``check-config`` reports: the metrics' health lines, and the catalog to build
    when they pass. The demo is reported from its definition: generating its data (~1 s of
    numpy, plus pandas) would tell nothing more."""
    from bot.catalog import Catalog

    clock = clock if clock is not None else Clock()
    if settings.metrics.backend == "demo":
        outline = demo_outline(settings, clock)
        catalog = with_demo_defaults(settings).catalog
        return [outline.check()], lambda: Catalog.build(outline.endpoints, catalog)
    bot = build(settings, clock)
    return bot.backend.check(), lambda: bot.catalog


def prometheus_backend(settings: Settings, clock: Clock) -> PrometheusBackend:
    from bot.metrics.prometheus import PrometheusBackend

    password = settings.prometheus_password
    return PrometheusBackend(
        settings.metrics.prometheus,
        settings.metrics.names,
        settings.metrics.saturation,
        password=password.get_secret_value() if password else None,
        clock=clock.data_now,
    )
