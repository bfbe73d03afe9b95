"""Capacity forecasts through a real Prometheus backfilled with 14 days of the demo: the
same forecasts as from the demo backend (the queries, steps and rates agree)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.digests.capacity import capacity_forecasts
from bot.metrics.demo import DemoBackend, DemoWorkload
from tests.conftest import DEMO_END, DEMO_SEED, prometheus_backend_for
from tests.prometheus_server import PrometheusServer, find_binaries, write_demo_blocks

DAYS = 14


@pytest.fixture(scope="module")
def workload() -> DemoWorkload:
    return DemoWorkload.generate(end=DEMO_END, days=DAYS, seed=DEMO_SEED)


@pytest.fixture(scope="module")
def prometheus(workload: DemoWorkload,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    binaries = find_binaries()  # fails under CI=true when Prometheus is missing
    workdir = tmp_path_factory.mktemp("prometheus-14d")
    with PrometheusServer(write_demo_blocks(workload, workdir), workdir, binaries) as server:
        yield server


def test_forecasts_through_prometheus_match_the_demo(
    workload: DemoWorkload, prometheus: PrometheusServer
) -> None:
    live_backend = prometheus_backend_for(prometheus.url, now=DEMO_END,
                                          discovery_lookback=timedelta(days=DAYS))
    live = capacity_forecasts(live_backend, workload.services, DEMO_END)
    demo = capacity_forecasts(DemoBackend(workload), workload.services, DEMO_END)

    def outline(forecasts: list) -> list[tuple[str, str, bool]]:  # type: ignore[type-arg]
        return [(f.service, f.resource, f.crossing is not None) for f in forecasts]

    assert outline(live) == outline(demo)
    assert [(f.service, f.resource) for f in live if f.crossing][:2] == [
        ("search", "cpu"), ("menu", "memory")]
    for mine, theirs in zip(live, demo, strict=True):
        # Without a crossing the slope is noise-sized and may differ a little; with one, the
        # same trend and time.
        if theirs.crossing is not None and mine.crossing is not None:
            assert mine.current == pytest.approx(theirs.current, abs=0.01)
            assert mine.growth_per_day == pytest.approx(theirs.growth_per_day, rel=0.05, abs=1e-9)
            assert abs(mine.crossing - theirs.crossing) <= timedelta(hours=1)
