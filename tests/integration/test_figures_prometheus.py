"""Figures that are what they say, on a real Prometheus (and VictoriaMetrics) holding another
business's data.

One service, ``ledger``, with two endpoints whose histograms differ: ``GET /api/export`` is
slow and quiet, ``GET /api/search`` fast and busy. Two days of per-minute samples that stop
20 minutes before ``NOW``; ``GET /api/search`` answers 20% errors for the 30 minutes after
``BURST`` (0.4% otherwise). Expected figures are computed by the test with its own PromQL
over the HTTP API, never with the bot's query builders.
"""

from __future__ import annotations

import io
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.analytics.findings.model import Change, Severity
from bot.ask.answer import Sources, ask
from bot.cli import main
from bot.detection import run_cycle
from bot.metrics.base import NoDataError
from bot.metrics.prometheus import PrometheusBackend
from bot.render.message import AnswerKind
from tests.answer_support import sources_for
from tests.conftest import STORES, Store, prometheus_backend_for

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FIRST = NOW - timedelta(days=2)  # the first sample
LAST = NOW - timedelta(minutes=20)  # the last sample: every series stops here
BURST = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
METRIC = "http_server_request_duration_seconds"
# route: (requests per minute, share of each bucket incl. +Inf)
ENDPOINTS = {
    "/api/search": (1000, (0.9, 0.1, 0, 0, 0, 0, 0)),
    "/api/export": (30, (0, 0, 0, 0, 0, 1.0, 0)),
}


def _errors(route: str, minute_end: datetime) -> int:
    requests = ENDPOINTS[route][0]
    if route != "/api/search":
        return 0
    if BURST < minute_end <= BURST + timedelta(minutes=30):
        return requests // 5  # 20%
    return 4  # 0.4%


def ledger_openmetrics() -> str:
    lines = [f"# TYPE {METRIC} histogram"]
    minutes = int((LAST - FIRST) / timedelta(minutes=1))
    for route, (per_minute, shares) in ENDPOINTS.items():
        totals = {"200": [0] * 7, "500": [0] * 7}
        for minute in range(minutes + 1):
            at = FIRST + timedelta(minutes=minute)
            if minute:
                failed = _errors(route, at)
                for status, count in (("200", per_minute - failed), ("500", failed)):
                    placed = [int(count * share) for share in shares]
                    placed[shares.index(max(shares))] += count - sum(placed)
                    totals[status] = [a + b for a, b in zip(totals[status], placed, strict=True)]
            ts = int(at.timestamp())
            for status, per_bucket in totals.items():
                labels = (f'job="ledger",http_route="{route}",http_request_method="GET",'
                          f'http_response_status_code="{status}"')
                running = 0
                for le, count in zip((*map(str, BOUNDS), "+Inf"), per_bucket, strict=True):
                    running += count
                    lines.append(f'{METRIC}_bucket{{{labels},le="{le}"}} {running} {ts}')
                lines.append(f"{METRIC}_count{{{labels}}} {running} {ts}")
                lines.append(f"{METRIC}_sum{{{labels}}} {running * 0.1:.1f} {ts}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=list(STORES))
def ledger_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """Prometheus, then VictoriaMetrics, each holding the ledger's samples."""
    path: Path = tmp_path_factory.mktemp("ledger") / "ledger.om"
    path.write_text(ledger_openmetrics(), encoding="utf-8")
    with STORES[request.param](path, tmp_path_factory.mktemp("ledger-store")) as server:
        yield server


@pytest.fixture(scope="module")
def backend(ledger_server: Store) -> PrometheusBackend:
    return prometheus_backend_for(ledger_server.url, now=NOW, discovery_lookback=timedelta(days=3))


@pytest.fixture(scope="module")
def sources(backend: PrometheusBackend) -> Sources:
    return sources_for(backend)


def instant(server: Store, query: str, at: datetime) -> dict[str, float]:
    """The test's own PromQL over the HTTP API: value per ``http_route`` ("" when none)."""
    params = urllib.parse.urlencode({"query": query, "time": at.timestamp()})
    with urllib.request.urlopen(f"{server.url}/api/v1/query?{params}", timeout=10) as response:
        body = json.load(response)
    return {s["metric"].get("http_route", ""): float(s["value"][1])
            for s in body["data"]["result"]}


def milliseconds_in(text: str) -> float:
    match = re.search(r"(\d+(?:\.\d+)?) (ms|s)\b", text)
    assert match, text
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


def test_a_services_p95_is_that_of_all_its_requests(
    ledger_server: Store, sources: Sources
) -> None:
    bucket = f'rate({METRIC}_bucket{{job="ledger"}}[1d])'
    service = instant(ledger_server, f"histogram_quantile(0.95, sum by (le) ({bucket}))", NOW)[""]
    endpoints = instant(
        ledger_server, f"histogram_quantile(0.95, sum by (le, http_route) ({bucket}))", NOW)
    assert endpoints["/api/export"] > 10 * service  # the slow endpoint is no stand-in

    reply = ask("p95 of the ledger service last 24h", sources, NOW)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    said = milliseconds_in(reply.headline.split(": ", 1)[1])
    assert said == pytest.approx(service, rel=0.01), reply.headline

    reply = ask("is the ledger service slower than yesterday", sources, NOW)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    table = {row[0]: row for row in reply.table.rows} if reply.table else {}
    assert milliseconds_in(table["the ledger service"][3]) == pytest.approx(service, rel=0.01)


def test_errors_after_a_moment_with_a_burst_answer_yes(
    ledger_server: Store, sources: Sources
) -> None:
    errors = (f'rate({METRIC}_count{{http_route="/api/search",'
              f'http_response_status_code="500"}}[30m])')
    total = f'rate({METRIC}_count{{http_route="/api/search"}}[30m])'
    after = instant(ledger_server, f"sum({errors}) / sum({total})",
                    BURST + timedelta(minutes=30))[""]
    before = instant(ledger_server, f"sum({errors}) / sum({total})", BURST)[""]
    assert after > 0.15 > 0.01 > before  # the data holds the burst

    reply = ask("did GET /api/search errors go up after 06:00", sources, NOW)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert reply.headline.startswith("Yes"), reply.headline
    assert "in the 1h after" in reply.headline, reply.headline


def test_a_window_partly_covered_says_how_much(sources: Sources) -> None:
    reply = ask("p95 of GET /api/search last 7 days", sources, NOW)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert "Only 2d of the 7d asked have data" in reply.headline, reply.headline
    # The default 30-day error budget on two days of data.
    reply = ask("error budget of GET /api/search", sources, NOW)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert "Only 2d of the 30d asked have data" in reply.headline, reply.headline


def test_a_window_before_the_first_sample_or_after_the_last_says_so(
    sources: Sources, backend: PrometheusBackend
) -> None:
    runs = "the data runs from Sat 21 Nov 12:00 to today 11:40"
    reply = ask("p95 of GET /api/search on nov 10", sources, NOW)
    assert reply.kind is AnswerKind.NO_DATA
    assert "entirely before the first sample" in reply.headline, reply.headline
    assert runs in reply.headline, reply.headline
    reply = ask("p95 of GET /api/search last 15m", sources, NOW)
    assert reply.kind is AnswerKind.NO_DATA
    assert "entirely after the last sample" in reply.headline, reply.headline
    assert runs in reply.headline, reply.headline
    # A comparison whose baseline is before the data says that, not "nothing to compare".
    reply = ask("is GET /api/search slower than last week", sources, NOW)
    assert "a week earlier has no data: it is entirely before the first sample" in (
        reply.headline), reply.headline


def test_stopped_data_is_said_in_answers(sources: Sources) -> None:
    reply = ask("p95 of GET /api/search last 24h", sources, NOW)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert "No data since today 11:40 (20m ago): every series stopped." in reply.headline


def test_stopped_data_is_said_by_perfbot_endpoints(
    ledger_server: Store, tmp_path: Path
) -> None:
    config = tmp_path / "perfbot.yaml"
    config.write_text("metrics:\n  backend: prometheus\n  prometheus:\n"
                      f"    url: {ledger_server.url}\n    discovery_lookback: 3d\n",
                      encoding="utf-8")
    out = io.StringIO()
    code = main(["endpoints", "--config", str(config), "--at", NOW.isoformat()], out)
    assert code == 0, out.getvalue()
    assert "no data since today 11:40 (20m ago): every series stopped" in out.getvalue()


def test_stopped_data_is_a_detection_finding(backend: PrometheusBackend, sources: Sources
                                             ) -> None:
    report = run_cycle(backend, NOW, timedelta(days=1), catalog=sources.catalog)
    silent = [f for f in report.result.findings if f.change is Change.SILENT]
    assert [f.title for f in silent] == [
        "no data from GET /api/export (ledger) (and 1 more endpoint) since 11:40 UTC"
    ], [f.title for f in report.result.findings]
    assert silent[0].severity is Severity.CRITICAL  # every series stopped


def test_a_baseline_with_little_data_is_compared_on_its_covered_part(sources: Sources) -> None:
    # The 36h before the last 36h holds 12h of data: the same traffic throughout, so the
    # rates of the covered parts agree (over all 36h it would read a third of the rate).
    reply = ask("requests per second to GET /api/search last 36h", sources, NOW)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert "The 36h before: only 12h of the 36h asked have data" in reply.headline, (
        reply.headline)
    change = re.search(r"(up|down) (\d+)% on the 36h before", reply.headline)
    assert change is None or int(change[2]) <= 10, reply.headline


def test_data_stopped_before_the_lookback_is_not_called_a_wrong_config(
    ledger_server: Store
) -> None:
    later = prometheus_backend_for(ledger_server.url, now=NOW + timedelta(days=3),
                                   discovery_lookback=timedelta(days=1))
    with pytest.raises(NoDataError) as caught:
        later.endpoints()
    message = str(caught.value)
    assert "set metrics.names.histogram" not in message, message
    assert (f"{METRIC} has no samples in the last 1d (metrics.prometheus.discovery_lookback): "
            "its data runs from 2026-11-21 12:00 UTC to 2026-11-23 11:40 UTC, 3d ago"
            ) in message, message
