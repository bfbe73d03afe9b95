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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.ask.answer import Sources, ask
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings
from bot.detection import read_batch, run_cycle
from bot.figures import whole_window
from bot.metrics.base import Endpoint, Signal
from bot.metrics.histogram import histogram_quantile
from bot.metrics.prometheus import PrometheusBackend
from bot.render.message import AnswerKind
from tests.answer_support import seconds_in
from tests.conftest import prometheus_backend_for
from tests.prometheus_server import PrometheusServer, block_spans, find_binaries

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAYS = 2
START = END - timedelta(days=DAYS, hours=1)
SLOWDOWN = END - timedelta(hours=3)  # orders' POST /graphql gets slower from here
BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)  # +Inf is implicit
HISTOGRAM = "http_server_request_duration_seconds"

ORDERS = Endpoint(service="orders", route="/graphql", method="POST")
USERS = Endpoint(service="users", route="/graphql", method="POST")
STATUS = Endpoint(service="users", route="/api/v1/status", method="GET")


@dataclass(frozen=True)
class Traffic:
    endpoint: Endpoint
    rps: float
    error_ratio: float
    shares: tuple[float, ...]  # of requests per bucket, the last above the highest bound
    slow_shares: tuple[float, ...] | None = None  # after SLOWDOWN


PLAN = (
    Traffic(ORDERS, 20.0, 0.01, (0.30, 0.40, 0.20, 0.07, 0.02, 0.01, 0.0),
            slow_shares=(0.02, 0.08, 0.20, 0.30, 0.25, 0.10, 0.05)),
    Traffic(USERS, 4.0, 0.05, (0.02, 0.08, 0.30, 0.40, 0.15, 0.05, 0.0)),
    Traffic(STATUS, 1.0, 0.0, (0.90, 0.10, 0.0, 0.0, 0.0, 0.0, 0.0)),
)


@dataclass(frozen=True)
class DataSet:
    """Requests per minute in each bucket, (endpoint, status, minute, bucket), as written."""

    minute_ends: list[datetime]
    counts: np.ndarray  # int64; status 0 is 200, 1 is 500

    def _minutes(self, start: datetime, end: datetime) -> np.ndarray:
        return np.array([start < t <= end for t in self.minute_ends])

    def buckets(self, endpoint: Endpoint, start: datetime, end: datetime) -> np.ndarray:
        e = [t.endpoint for t in PLAN].index(endpoint)
        result: np.ndarray = self.counts[e][:, self._minutes(start, end)].sum(axis=(0, 1))
        return result

    def p(self, q: float, endpoint: Endpoint, start: datetime, end: datetime) -> float:
        cumulative = np.cumsum(self.buckets(endpoint, start, end))
        return float(histogram_quantile(q, BOUNDS, cumulative))

    def rps(self, endpoint: Endpoint, start: datetime, end: datetime) -> float:
        total = self.buckets(endpoint, start, end).sum()
        return float(total / (end - start).total_seconds())

    def error_ratio(self, endpoint: Endpoint, start: datetime, end: datetime) -> float:
        e = [t.endpoint for t in PLAN].index(endpoint)
        minutes = self._minutes(start, end)
        return float(self.counts[e, 1][minutes].sum() / self.counts[e][:, minutes].sum())


def generate() -> DataSet:
    rng = np.random.default_rng(11)
    minutes = int((END - START) / timedelta(minutes=1))
    ends = [START + timedelta(minutes=i + 1) for i in range(minutes)]
    slow = np.array([t > SLOWDOWN for t in ends])
    counts = np.zeros((len(PLAN), 2, minutes, len(BOUNDS) + 1), dtype=np.int64)
    for e, plan in enumerate(PLAN):
        for s, share in enumerate((1 - plan.error_ratio, plan.error_ratio)):
            per_minute = rng.poisson(plan.rps * 60 * share, minutes)
            for i, n in enumerate(per_minute):
                shares = plan.slow_shares if plan.slow_shares and slow[i] else plan.shares
                counts[e, s, i] = rng.multinomial(n, shares)
    return DataSet(ends, counts)


def write_openmetrics(data: DataSet, directory: Path) -> list[Path]:
    """One OpenMetrics file per 2h block (promtool reads its input once per block)."""
    running = np.concatenate(
        [np.zeros_like(data.counts[:, :, :1]), np.cumsum(data.counts, axis=2)], axis=2
    )  # counters at START and at each minute's end
    times = [START, *data.minute_ends]
    mids = [(b[0] + b[1]) / 2 for b in zip(BOUNDS, (*BOUNDS[1:], BOUNDS[-1] * 2), strict=True)]
    paths = []
    for n, (first, last) in enumerate(block_spans(START, END)):
        lines = [f"# TYPE {HISTOGRAM} histogram"]
        for k, moment in enumerate(times):
            if not first <= moment <= last:
                continue
            ts = int(moment.timestamp())
            for e, plan in enumerate(PLAN):
                for s, status in enumerate(("200", "500")):
                    labels = (f'job="{plan.endpoint.service}",http_route="{plan.endpoint.route}",'
                              f'http_request_method="{plan.endpoint.method}",'
                              f'http_response_status_code="{status}"')
                    per_bucket = running[e, s, k]
                    cumulative = np.cumsum(per_bucket)
                    for le, count in zip((*map(str, BOUNDS), "+Inf"), cumulative, strict=True):
                        lines.append(f'{HISTOGRAM}_bucket{{{labels},le="{le}"}} {count} {ts}')
                    lines.append(f"{HISTOGRAM}_count{{{labels}}} {cumulative[-1]} {ts}")
                    busy = float(np.dot(per_bucket, [*mids, BOUNDS[-1] * 2]))
                    lines.append(f"{HISTOGRAM}_sum{{{labels}}} {busy:.3f} {ts}")
        lines.append("# EOF")
        path = directory / f"block-{n:03d}.om"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def data() -> DataSet:
    return generate()


@pytest.fixture(scope="module")
def backend(data: DataSet, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[PrometheusBackend]:
    binaries = find_binaries()
    workdir = tmp_path_factory.mktemp("shared-routes")
    files = write_openmetrics(data, workdir)
    server = PrometheusServer(files, workdir / "prometheus", binaries).start()
    try:
        yield prometheus_backend_for(server.url, now=END)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sources(backend: PrometheusBackend) -> Sources:
    # As ``bot.app`` builds them: the catalog from what the backend discovered.
    catalog = Catalog.build(backend.endpoints(), CatalogSettings())
    return Sources(backend=backend, catalog=catalog, tz=ZoneInfo("UTC"))


def test_both_services_are_discovered(backend: PrometheusBackend) -> None:
    assert backend.endpoints() == [ORDERS, STATUS, USERS]


def test_every_frame_has_a_column_per_service_with_its_own_figures(
    backend: PrometheusBackend, data: DataSet
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
    sources: Sources, data: DataSet
) -> None:
    for said, endpoint in (("orders", ORDERS), ("users", USERS)):
        reply = ask(f"p95 of {said} graphql over the last 6h", sources, END)
        assert reply.kind is AnswerKind.ANSWER, reply.headline
        assert reply.headline.startswith(f"p95 of POST /graphql ({said}), last 6h: ")
        expected = data.p(0.95, endpoint, END - timedelta(hours=6), END)
        value = seconds_in(reply.headline.split(": ", 1)[1])
        assert value == pytest.approx(expected, rel=0.02, abs=0.0006)


def test_a_shared_route_is_answered_for_each_service(sources: Sources, data: DataSet) -> None:
    reply = ask("throughput of POST /graphql over the last 6h", sources, END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    start = END - timedelta(hours=6)
    for said, endpoint in (("orders", ORDERS), ("users", USERS)):
        match = re.search(rf"POST /graphql \({said}\) (\d+\.\d) req/s", reply.headline)
        assert match, reply.headline
        assert float(match[1]) == pytest.approx(data.rps(endpoint, start, END), abs=0.051)
    assert reply.table is not None
    assert {r[0] for r in reply.table.rows} == {"POST /graphql (orders)", "POST /graphql (users)"}


def test_the_overview_of_a_service_reads_its_own_route(sources: Sources, data: DataSet) -> None:
    reply = ask("how is users doing over the last 6h", sources, END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert reply.table is not None
    start = END - timedelta(hours=6)
    row = next(r for r in reply.table.rows if r[0] == "POST /graphql (users)")
    assert row[1] == "users"
    assert seconds_in(row[2]) == pytest.approx(data.p(0.95, USERS, start, END), rel=0.02,
                                               abs=0.0006)
    assert all(r[1] == "users" for r in reply.table.rows)


def test_detection_keeps_the_services_apart(backend: PrometheusBackend, data: DataSet) -> None:
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
