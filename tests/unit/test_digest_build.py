"""The digest's content on the demo workload, checked against the generated arrays."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.analytics.prices import CostSettings
from bot.catalog import Catalog
from bot.config import Settings
from bot.demo_settings import with_demo_defaults
from bot.digests.build import DigestSources, build_digest
from bot.digests.model import Scope
from bot.metrics.base import QueryRejectedError
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.playbooks.loading import load_playbooks
from bot.render.blocks import validate_blocks
from bot.render.digest import digest_chart, digest_message, digest_text

END = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


@pytest.fixture(scope="module")
def workload() -> DemoWorkload:
    return DemoWorkload.generate(end=END, days=15, seed=7)


@pytest.fixture(scope="module")
def sources(workload: DemoWorkload) -> DigestSources:
    backend = DemoBackend(workload)
    settings = with_demo_defaults(Settings())
    return DigestSources(
        backend=backend, catalog=Catalog.build(backend.endpoints(), settings.catalog),
        tz=UTC, cost=CostSettings(), deploys=backend.deploys(workload.start, workload.end),
        playbooks=load_playbooks(PLAYBOOKS).playbooks)


def _minutes(workload: DemoWorkload, start: datetime, end: datetime) -> np.ndarray:
    times = workload.times
    return np.flatnonzero((times > start) & (times <= end))


def test_the_missing_index_is_the_top_weekly_regression_tied_to_its_deploy(
        workload: DemoWorkload, sources: DigestSources) -> None:
    scenario = next(s for s in workload.scenarios if s.kind == "latency_step")
    digest = build_digest(sources, "weekly", END)
    top = digest.regressions[0]
    assert top.endpoint == scenario.endpoint_key == "GET /api/orders/history"
    assert top.new > top.old * 1.2 and top.p_value < 0.05 and top.effect > 0
    # Dated to the 5-minute step holding the injected step (refined from 30-minute steps).
    assert top.since is not None
    assert timedelta(0) <= top.since - scenario.start <= timedelta(minutes=5)
    deploy = next(d for d in workload.deploys if d.service == "orders"
                  and d.time <= scenario.start and scenario.start - d.time < timedelta(hours=3))
    assert f"orders {deploy.version}" in top.cause
    assert top.playbook is not None and "missing index" in top.playbook.lower()
    first = digest.recommendations[0]
    assert first.subject == top.endpoint and first.playbook == top.playbook
    assert digest.audience == "manager" and digest.chart is not None
    message = digest_message(digest, UTC)
    validate_blocks(message.blocks)
    shown = "\n".join(b["text"]["text"] for b in message.blocks if b["type"] == "section")
    assert "GET /api/orders/history" in shown and top.playbook in shown
    png = digest_chart(digest)
    assert png is not None and png.startswith(b"\x89PNG")


def test_headline_figures_match_the_generated_arrays(
        workload: DemoWorkload, sources: DigestSources) -> None:
    digest = build_digest(sources, "daily", END)
    minutes = _minutes(workload, digest.period.start, digest.period.end)
    counts = workload.bucket_counts[:, minutes, :].sum(axis=(1, 2))
    requests = float(counts.sum())
    errors = float(sum(c for c, status in zip(counts, workload.series_status, strict=True)
                       if status.startswith("5")))
    by_name = {h.name: h for h in digest.headline}
    assert by_name["requests"].value == pytest.approx(requests, rel=0.02)
    assert by_name["error ratio"].value == pytest.approx(errors / requests, rel=0.05)
    assert by_name["availability"].value == pytest.approx(1 - errors / requests, abs=1e-3)
    assert digest.audience == "team"


def test_a_scope_without_a_scenario_is_quiet(sources: DigestSources) -> None:
    digest = build_digest(sources, "daily", END, Scope(service="delivery"))
    assert digest.quiet
    assert {h.name for h in digest.headline} >= {"requests", "p95", "error ratio"}
    assert not digest.regressions
    assert len(digest_text(digest, UTC).splitlines()) == 2
    assert len(digest_message(digest, UTC).blocks) == 1


def test_incident_stats_from_a_sqlite_store(tmp_path: Path) -> None:
    from bot.digests.build import period_of
    from bot.digests.incident_summary import summarise_incidents
    from bot.incidents.lifecycle import Change, Entry, Incident, open_incident, recover
    from bot.storage import Database
    from bot.storage.incidents import IncidentStore
    from tests.incident_factory import alert, message

    store = IncidentStore(Database(f"sqlite:///{tmp_path / 'perfbot.db'}"))
    period = period_of("weekly", END)
    # END is Thursday 06:00 UTC: Tuesday 10:00, Saturday 03:00 (off hours), and one still
    # open since Wednesday 10:00.
    opens = [END - timedelta(days=1, hours=20), END - timedelta(days=5, hours=3),
             END - timedelta(hours=20)]
    acked = [timedelta(minutes=4), timedelta(minutes=30), None]
    resolved = [timedelta(hours=1), timedelta(hours=3), None]
    titles = ["orders p95 latency up", "orders p95 latency up", "menu memory leak"]
    made: list[Incident] = []
    for n, (at, ack, res, title) in enumerate(zip(opens, acked, resolved, titles, strict=True)):
        raised = alert(n + 1, at=at, title=title,
                       service="orders" if "orders" in title else "menu")
        incident = store.create(lambda number, raised=raised, at=at: open_incident(
            number, raised, message(raised), channel="C1", policy=None, urgency="high",
            silenced="", now=at))
        user = "UANNA" if n != 1 else "UBOB"
        store.change(incident.id, lambda i, at=at, user=user: Change(
            incident=i.model_copy(update={"version": i.version + 1}),
            timeline=[Entry(at=at + timedelta(minutes=1), kind="paged", user=user)]))
        if ack is not None:
            store.change(incident.id, lambda i, at=at, ack=ack: Change(
                incident=i.model_copy(update={"version": i.version + 1,
                                              "acknowledged_at": at + ack,
                                              "acknowledged_by": "UANNA"})))
        if res is not None:
            store.change(incident.id, lambda i, at=at, res=res: recover(i, at + res, "fine"))
        made.append(incident)
    # One resolved before the period starts: not in it.
    old = alert(9, at=END - timedelta(days=9))
    early = store.create(lambda number: open_incident(
        number, old, message(old), channel="C1", policy=None, urgency="high", silenced="",
        now=END - timedelta(days=9)))
    store.change(early.id, lambda i: recover(i, END - timedelta(days=8), "fine"))
    listed = store.touching(period.start, period.end)
    assert early.id not in {i.id for i in listed}
    summary = summarise_incidents(listed, period, store, UTC)
    assert summary.total == 3
    assert summary.by_service == {"orders": 2, "menu": 1}
    assert summary.to_acknowledge is not None
    assert summary.to_acknowledge.median == timedelta(minutes=17)  # (4 + 30) / 2
    assert summary.to_acknowledge.worst == timedelta(minutes=30)
    assert summary.to_resolve is not None and summary.to_resolve.worst == timedelta(hours=3)
    assert [(r.title, r.count) for r in summary.recurring] == [("orders p95 latency up", 2)]
    assert [o.title for o in summary.still_open] == ["menu memory leak"]
    load = {line.user: (line.pages, line.off_hours) for line in summary.load}
    assert load == {"UANNA": (2, 0), "UBOB": (1, 1)}


def test_error_budget_attainment_matches_the_generated_arrays(
        workload: DemoWorkload, sources: DigestSources) -> None:
    digest = build_digest(sources, "weekly", END)
    line = next(s for s in digest.slos if s.endpoint == "POST /api/orders")
    assert "without a 5xx" in line.objective
    # The SLO window (28 days) holds all 15 generated days.
    index = next(i for i, e in enumerate(workload.endpoints) if e.key == "POST /api/orders")
    rows = np.flatnonzero(workload.series_endpoint == index)
    counts = workload.bucket_counts[rows].sum(axis=(1, 2))
    bad = sum(c for c, r in zip(counts, rows, strict=True)
              if workload.series_status[r].startswith("5"))
    attainment = 1 - bad / counts.sum()
    assert line.attainment == pytest.approx(attainment, abs=2e-4)
    allowed = 1 - line.target
    assert line.budget_remaining == pytest.approx(1 - (1 - attainment) / allowed, abs=0.03)


def test_the_composition_root_builds_the_digest(tmp_path: Path) -> None:
    from bot.app import build
    from bot.clock import FakeClock
    from bot.config import MetricsSettings, StorageSettings

    settings = Settings(metrics=MetricsSettings(demo_days=15),
                        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'perfbot.db'}"))
    bot = build(settings, FakeClock(END), demo=True)
    assert bot.digest_sources.playbooks and bot.digest_sources.deploys
    digest = bot.build_digest("weekly", bot.data_now())
    assert digest.regressions[0].endpoint == "GET /api/orders/history"
    assert digest.incidents.total == 0  # a fresh store


class _Counting:
    """The demo backend, counting the calls per method (to see no read per endpoint)."""

    def __init__(self, inner: DemoBackend) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> object:
        method = getattr(self.inner, name)

        def counted(*args: object, **kwargs: object) -> object:
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(*args, **kwargs)
        return counted


def test_latency_and_errors_are_read_once_for_all_endpoints(
        workload: DemoWorkload, sources: DigestSources) -> None:
    from dataclasses import replace

    counting = _Counting(DemoBackend(workload))
    digest = build_digest(replace(sources, backend=counting), "weekly", END)  # type: ignore[arg-type]
    moved = len(digest.regressions) + len(digest.improvements)
    assert len(sources.catalog.entries) > 10
    # One p95 read for both periods, one 5-minute read per movement to date its change.
    assert counting.calls["latency"] == 1 + moved
    # The period's error ratio and the SLO window's.
    assert counting.calls["error_ratio"] == 2


class _FailingMetrics(DemoBackend):
    """The demo, but every range read fails as a metrics server answering 500 would."""

    DETAIL = "Prometheus at http://10.1.2.3:9090 answered 500: db password=hunter2"

    def latency(self, *args: object, **kwargs: object) -> pd.DataFrame:
        raise QueryRejectedError(self.DETAIL, public="the metrics server failed (HTTP 500)")

    throughput = error_ratio = latency  # type: ignore[assignment]


def test_a_failing_metrics_server_is_noted_in_public_words(
        workload: DemoWorkload, sources: DigestSources, caplog: pytest.LogCaptureFixture) -> None:
    failing = replace(sources, backend=_FailingMetrics(workload))
    digest = build_digest(failing, "daily", END)
    shown = digest_text(digest, UTC) + str(digest_message(digest, UTC).blocks)
    assert "no latency, traffic or error figures: the metrics server failed (HTTP 500)" in shown
    assert "10.1.2.3" not in shown and "hunter2" not in shown
    assert _FailingMetrics.DETAIL in caplog.text  # the operator still finds the details


def test_the_headline_p95_is_that_of_all_the_requests_in_scope(
        workload: DemoWorkload, sources: DigestSources) -> None:
    from bot.digests.build import period_of
    from bot.metrics.histogram import histogram_quantile

    period = period_of("daily", END)
    rows = [r for r, e in enumerate(workload.series_endpoint)
            if workload.endpoints[e].service == "orders"]

    def merged(start: datetime, end: datetime) -> float:
        counts = workload.bucket_counts[rows][:, _minutes(workload, start, end), :].sum(
            axis=(0, 1))
        return float(histogram_quantile(0.95, workload.bucket_bounds, np.cumsum(counts)))

    digest = build_digest(sources, "daily", END, Scope(service="orders"))
    p95 = next(h for h in digest.headline if h.name == "p95")
    assert p95.value == pytest.approx(merged(period.start, period.end))
    assert p95.previous == pytest.approx(merged(period.previous_start, period.start))
