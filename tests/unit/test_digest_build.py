"""The digest's content on the demo workload, checked against the generated arrays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.analytics.prices import CostSettings
from bot.catalog import Catalog
from bot.config import Settings
from bot.demo_settings import with_demo_defaults
from bot.digests.build import DigestSources, build_digest
from bot.digests.model import Scope
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.playbooks.loading import load_playbooks

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
    # Dated within an hour of the injected step (30-minute steps over a week).
    assert top.since is not None and abs(top.since - scenario.start) <= timedelta(hours=1)
    deploy = next(d for d in workload.deploys if d.service == "orders"
                  and d.time <= scenario.start and scenario.start - d.time < timedelta(hours=3))
    assert f"orders {deploy.version}" in top.cause
    assert top.playbook is not None and "missing index" in top.playbook.lower()
    first = digest.recommendations[0]
    assert first.subject == top.endpoint and first.playbook == top.playbook
    assert digest.audience == "manager" and digest.chart is not None


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
