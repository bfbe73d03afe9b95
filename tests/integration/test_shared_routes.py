"""Two services serving the same route (``POST /graphql``) never share a column, an answer or
a finding: checked against a real Prometheus loaded with a small hand-made data set.

``orders`` and ``users`` both serve ``POST /graphql`` with clearly different traffic, latency
and errors (``users`` also serves ``GET /api/v1/status``); ``orders`` slows down three hours
before the end. Every expected figure is computed from the counts written, not typed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.ask.answer import Sources, ask
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings
from bot.detection import read_batch, run_cycle
from bot.figures import whole_window
from bot.metrics.base import Endpoint, Signal
from bot.metrics.prometheus import PrometheusBackend
from bot.render.message import AnswerKind
from tests.answer_support import seconds_in
from tests.histogram_data import HistogramData, Traffic, generate, served

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAYS = 2
START = END - timedelta(days=DAYS, hours=1)
SLOWDOWN = END - timedelta(hours=3)  # orders' POST /graphql gets slower from here

ORDERS = Endpoint(service="orders", route="/graphql", method="POST")
USERS = Endpoint(service="users", route="/graphql", method="POST")
STATUS = Endpoint(service="users", route="/api/v1/status", method="GET")


PLAN = (
    Traffic(ORDERS, 20.0, 0.01, (0.30, 0.40, 0.20, 0.07, 0.02, 0.01, 0.0),
            slow_shares=(0.02, 0.08, 0.20, 0.30, 0.25, 0.10, 0.05), slow_from=SLOWDOWN),
    Traffic(USERS, 4.0, 0.05, (0.02, 0.08, 0.30, 0.40, 0.15, 0.05, 0.0)),
    Traffic(STATUS, 1.0, 0.0, (0.90, 0.10, 0.0, 0.0, 0.0, 0.0, 0.0)),
)


@pytest.fixture(scope="module")
def data() -> HistogramData:
    return generate(PLAN, START, END, seed=11)


@pytest.fixture(scope="module")
def backend(data: HistogramData, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[PrometheusBackend]:
    with served(data, tmp_path_factory.mktemp("shared-routes")) as backend:
        yield backend


@pytest.fixture(scope="module")
def sources(backend: PrometheusBackend) -> Sources:
    # As ``bot.app`` builds them: the catalog from what the backend discovered.
    catalog = Catalog.build(backend.endpoints(), CatalogSettings())
    return Sources(backend=backend, catalog=catalog, tz=ZoneInfo("UTC"))


def test_both_services_are_discovered(backend: PrometheusBackend) -> None:
    assert backend.endpoints() == [ORDERS, STATUS, USERS]


def test_every_frame_has_a_column_per_service_with_its_own_figures(
    backend: PrometheusBackend, data: HistogramData
) -> None:
    start = END - timedelta(hours=6)
    whole = whole_window(start, END)
    columns = {e.column for e in (ORDERS, USERS, STATUS)}
    assert len(columns) == 3  # two share a key, none shares a column
    p95 = backend.latency(whole, 0.95).iloc[-1]
    rps = backend.throughput(whole).iloc[-1]
    errors = backend.error_ratio(whole).iloc[-1]
    assert set(p95.index) == set(rps.index) == set(errors.index) == columns
    for e in (ORDERS, USERS):
        assert p95[e.column] == pytest.approx(data.p(0.95, e, start, END), rel=0.02)
        assert rps[e.column] == pytest.approx(data.rps(e, start, END), rel=0.02)
        assert errors[e.column] == pytest.approx(data.error_ratio(e, start, END), rel=0.02)
    # The services differ enough that any mix-up would show.
    assert rps[ORDERS.column] > 3 * rps[USERS.column]
    assert errors[USERS.column] > 3 * errors[ORDERS.column]

    summary = backend.summary(END, timedelta(hours=1))
    assert list(summary.index) == [ORDERS.column, STATUS.column, USERS.column]
    assert list(summary["service"]) == ["orders", "users", "users"]
    hour = END - timedelta(hours=1)
    for e in (ORDERS, USERS):
        assert summary.loc[e.column, "p95"] == pytest.approx(data.p(0.95, e, hour, END), rel=0.02)
        assert summary.loc[e.column, "throughput"] == pytest.approx(
            data.rps(e, hour, END), rel=0.02)
    only = backend.throughput(whole, [USERS])
    assert list(only.columns) == [USERS.column]  # the other service's route is not mixed in
    assert only[USERS.column].iloc[-1] == pytest.approx(data.rps(USERS, start, END), rel=0.02)


def test_the_p95_of_one_service_names_it_with_its_own_figure(
    sources: Sources, data: HistogramData
) -> None:
    for said, endpoint in (("orders", ORDERS), ("users", USERS)):
        reply = ask(f"p95 of {said} graphql over the last 6h", sources, END)
        assert reply.kind is AnswerKind.ANSWER, reply.headline
        assert reply.headline.startswith(f"p95 of POST /graphql ({said}), last 6h: ")
        expected = data.p(0.95, endpoint, END - timedelta(hours=6), END)
        value = seconds_in(reply.headline.split(": ", 1)[1])
        assert value == pytest.approx(expected, rel=0.02, abs=0.0006)


def test_a_shared_route_is_answered_for_each_service(sources: Sources, data: HistogramData) -> None:
    reply = ask("throughput of POST /graphql over the last 6h", sources, END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    start = END - timedelta(hours=6)
    for said, endpoint in (("orders", ORDERS), ("users", USERS)):
        match = re.search(rf"POST /graphql \({said}\) (\d+\.\d) req/s", reply.headline)
        assert match, reply.headline
        assert float(match[1]) == pytest.approx(data.rps(endpoint, start, END), abs=0.051)
    assert reply.table is not None
    assert {r[0] for r in reply.table.rows} == {"POST /graphql (orders)", "POST /graphql (users)"}


def test_the_overview_of_a_service_reads_its_own_route(
    sources: Sources, data: HistogramData
) -> None:
    reply = ask("how is users doing over the last 6h", sources, END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert reply.table is not None
    start = END - timedelta(hours=6)
    row = next(r for r in reply.table.rows if r[0] == "POST /graphql (users)")
    assert row[1] == "users"
    assert seconds_in(row[2]) == pytest.approx(data.p(0.95, USERS, start, END), rel=0.02,
                                               abs=0.0006)
    assert all(r[1] == "users" for r in reply.table.rows)


def test_detection_keeps_the_services_apart(
    backend: PrometheusBackend, data: HistogramData
) -> None:
    catalog = Catalog.build(backend.endpoints(), CatalogSettings())
    batch, _, problems = read_batch(backend, END, timedelta(days=DAYS), catalog)
    # The data set has no CPU or memory metrics; every endpoint signal was read.
    assert [p.split(":")[0] for p in problems] == ["could not read cpu", "could not read memory"]
    keys = [(k.signal, k.service, k.endpoint) for k in batch.keys]
    assert len(keys) == len(set(keys))
    for e in (ORDERS, USERS):
        row = keys.index((Signal.THROUGHPUT, e.service, e.key))
        hour = END - timedelta(hours=1)
        recent = batch.values[row][batch.times > hour]
        assert float(np.nanmean(recent)) == pytest.approx(data.rps(e, hour, END), rel=0.05)

    report = run_cycle(backend, END, timedelta(days=1), history=timedelta(days=DAYS),
                       catalog=catalog)
    anomalies = [a for f in report.result.findings for a in f.anomalies]
    slower = [a for a in anomalies if a.key.signal is Signal.LATENCY]
    assert [(a.key.service, a.key.endpoint) for a in slower] == [("orders", "POST /graphql")]
    assert all(a.key.service != "users" for a in anomalies), [a.key.label for a in anomalies]
    assert math.isclose(slower[0].start.timestamp(), SLOWDOWN.timestamp(), abs_tol=3600)


def test_a_catalog_labels_a_shared_key_and_finds_each_by_its_label() -> None:
    catalog = Catalog.build([ORDERS, USERS, STATUS], CatalogSettings())
    assert [e.label for e in catalog.entries] == [
        "POST /graphql (orders)", "GET /api/v1/status", "POST /graphql (users)"]
    for entry in catalog.entries:
        assert catalog.get(entry.label) == entry
        assert catalog.entry(entry.endpoint) == entry
    resolution = catalog.resolve("POST /graphql")
    assert resolution.shared_key
    assert {e.service for e in resolution.matches} == {"orders", "users"}
