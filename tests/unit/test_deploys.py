"""The deploys port: the demo answers with its workload's releases, NoDeploys with none."""

from __future__ import annotations

from datetime import timedelta

from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.deploys import DeploySource, NoDeploys
from tests.conftest import DEMO_END


def test_the_demo_is_a_deploy_source_of_its_workload_releases(
    demo_workload: DemoWorkload, demo_backend: DemoBackend
) -> None:
    assert isinstance(demo_backend, DeploySource)
    everything = demo_backend.deploys(demo_workload.start, demo_workload.end)
    assert everything == demo_workload.deploys
    assert everything, "the demo's incidents follow releases"
    assert [d.time for d in everything] == sorted(d.time for d in everything)


def test_the_demo_gives_the_releases_inside_the_span_only(
    demo_workload: DemoWorkload, demo_backend: DemoBackend
) -> None:
    first = demo_workload.deploys[0]
    assert demo_backend.deploys(first.time, DEMO_END) == demo_workload.deploys[1:]
    assert demo_backend.deploys(first.time - timedelta(minutes=1), first.time) == [first]
    assert demo_backend.deploys(DEMO_END, DEMO_END + timedelta(days=1)) == []


def test_no_deploys_knows_of_none() -> None:
    source: DeploySource = NoDeploys()
    assert source.deploys(DEMO_END - timedelta(days=30), DEMO_END) == []
