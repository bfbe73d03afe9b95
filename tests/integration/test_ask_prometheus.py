"""Answers read from a real Prometheus holding the demo workload, at DEMO_END.

Figures are checked against the workload's arrays (numpy), as on the demo backend; PromQL's
``rate()`` extrapolates at the edges of a range, so counts agree to within a percent or two.
The server logs every query it runs: no text typed by the asker may ever appear there.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.ask.answer import Sources, ask
from bot.cli import main
from bot.figures import whole_window
from bot.metrics.base import NoBucketError
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.prometheus import PrometheusBackend
from bot.render.message import AnswerKind
from tests.answer_support import (
    column,
    errors,
    quantile_bucket,
    requests,
    row,
    seconds_in,
    sources_for,
    within,
)
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.prometheus_server import PrometheusServer, free_port, logged_queries
from tests.unit.test_answer_help import HOSTILE

YESTERDAY = (datetime(2026, 11, 22, tzinfo=DEMO_END.tzinfo),
             datetime(2026, 11, 23, tzinfo=DEMO_END.tzinfo))
CHECKOUT = "POST /api/checkout"
_COUNT = re.compile(r"\d[\d,]*")


@pytest.fixture(scope="module")
def sources(prometheus_backend: PrometheusBackend) -> Sources:
    return sources_for(prometheus_backend)


def count_in(text: str) -> int:
    match = _COUNT.search(text)
    assert match, text
    return int(match[0].replace(",", ""))


def test_counts_match_the_workload(sources: Sources, demo_workload: DemoWorkload) -> None:
    reply = ask("how many requests did checkout get yesterday", sources, DEMO_END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    served = requests(demo_workload, CHECKOUT, *YESTERDAY)
    said = count_in(reply.headline.split(": ", 1)[1])
    assert said == pytest.approx(served, rel=0.02)
    reply = ask("how many errors on checkout yesterday", sources, DEMO_END)
    failed = errors(demo_workload, CHECKOUT, *YESTERDAY)
    assert count_in(reply.headline.split(": ", 1)[1]) == pytest.approx(failed, rel=0.02)


def test_p95_lies_in_the_workloads_bucket(sources: Sources, demo_workload: DemoWorkload) -> None:
    reply = ask("p95 of checkout yesterday", sources, DEMO_END)
    value = seconds_in(reply.headline.split(": ", 1)[1])
    low, high = quantile_bucket(demo_workload, CHECKOUT, 0.95, *YESTERDAY)
    assert low - 0.0005 <= value <= high + 0.0005


def test_error_budget_matches_the_workload(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    served = requests(demo_workload, CHECKOUT, *YESTERDAY)
    failed = errors(demo_workload, CHECKOUT, *YESTERDAY)
    slow = served - within(demo_workload, CHECKOUT, 0.5, *YESTERDAY)
    reply = ask("is checkout meeting its SLO yesterday", sources, DEMO_END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    errors_row = row(reply, "99% of requests without a 5xx")
    assert count_in(errors_row[4]) == pytest.approx(failed, rel=0.02)
    latency_row = row(reply, "95% of requests within 500 ms")
    assert count_in(latency_row[4]) == pytest.approx(slow, rel=0.02)
    assert any("exact at its bucket bound" in note for note in reply.notes)


def test_latency_within_agrees_with_the_demo(
    prometheus_backend: PrometheusBackend, demo_backend: DemoBackend
) -> None:
    window = whole_window(DEMO_END - timedelta(hours=24), DEMO_END)
    prom = prometheus_backend.latency_within(window, 0.5)
    demo = demo_backend.latency_within(window, 0.5)
    for key in demo.columns:
        assert prom[key].iloc[-1] == pytest.approx(demo[key].iloc[-1], abs=1e-3), key
    with pytest.raises(NoBucketError, match=r"no bucket at 0\.3 "):
        prometheus_backend.latency_within(window, 0.3)


def test_rankings_agree_with_the_demo(sources: Sources, demo_backend: DemoBackend) -> None:
    question = "which endpoints have the most traffic yesterday"
    prom = ask(question, sources, DEMO_END)
    demo = ask(question, sources_for(demo_backend), DEMO_END)
    assert column(prom, "ENDPOINT") == column(demo, "ENDPOINT")


def test_no_asker_text_reaches_prometheus(
    prometheus_server: PrometheusServer, sources: Sources
) -> None:
    log = prometheus_server.query_log
    assert log is not None
    offset = log.stat().st_size if log.exists() else 0
    for text in HOSTILE:
        ask(text, sources, DEMO_END)
    legit = ask("p95 of checkout yesterday", sources, DEMO_END)
    assert legit.kind is AnswerKind.ANSWER
    queries = logged_queries(log, offset)
    assert any('http_route="/api/checkout"' in q and "histogram_quantile(0.95" in q
               for q in queries), queries
    # Only the legitimate question ran queries; hostile text shows up in none of them.
    coverage = re.compile(
        r"count\(count_over_time\(http_server_request_duration_seconds_count\[\w+\]\)\)")
    for q in queries:
        # The coverage query (how much of the window has data) is fixed text, names no endpoint.
        assert 'http_route="/api/checkout"' in q or coverage.fullmatch(q), q
        for fragment in ("vector(1)", "__name__", "1==1", "jndi", "users", "\\{", "🔥"):
            assert fragment not in q, q


def test_an_unreachable_server_is_an_error_answer(sources: Sources) -> None:
    dead = prometheus_backend_for(f"http://127.0.0.1:{free_port()}", retries=0)
    down = Sources(backend=dead, catalog=sources.catalog, tz=sources.tz)
    for question in ("p95 of checkout", "top 5 slowest endpoints", "is checkout within SLO",
                     "how is checkout doing", "checkout p95 vs yesterday", "cost of search"):
        reply = ask(question, down, DEMO_END)
        assert reply.kind is AnswerKind.ERROR, (question, reply.headline)
        # The public words: the channel hears what failed, not where the server is.
        assert "the metrics server is not reachable (connection refused)." in reply.headline
        assert "127.0.0.1" not in reply.headline


def test_perfbot_ask_against_prometheus(
    prometheus_server: PrometheusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "perfbot.yaml"
    config.write_text(
        "metrics:\n  backend: prometheus\n  prometheus:\n"
        f"    url: {prometheus_server.url}\n    timeout: 5s\n    retries: 0\n",
        encoding="utf-8",
    )
    at = ["--config", str(config), "--at", DEMO_END.isoformat()]
    out = io.StringIO()
    code = main(["ask", "error budget of checkout over the last 2 days", *at], out)
    assert code == 0
    assert out.getvalue().startswith("POST /api/checkout, last 2d: ")
    dead = tmp_path / "dead.yaml"
    dead.write_text(config.read_text().replace(prometheus_server.url,
                                               f"http://127.0.0.1:{free_port()}"))
    code = main(["ask", "p95 of checkout", "--config", str(dead)], io.StringIO())
    assert code == 1
    err = capsys.readouterr().err
    assert "not reachable" in err and "Traceback" not in err
