"""An answer reads each figure from Prometheus once (issue 13, "Fast commands"): the
requests a question makes are recorded on the bot's own HTTP session, against a real
Prometheus holding the demo workload. A guard: no answer repeats a request today (the
repeated-looking PromQL of a comparison is the same text over another window)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.ask.answer import Sources, ask
from bot.render.message import Answer, AnswerKind
from tests.answer_support import sources_for
from tests.conftest import DEMO_END, Store, prometheus_backend_for

QUESTIONS = [
    "p95 latency of checkout over the last 24h",
    "how is checkout doing over the last 24h",
    "is checkout meeting its SLO over the last 2 days",
]


@pytest.fixture(scope="module")
def recorded(store: Store) -> Iterator[tuple[Sources, list[str]]]:
    """Sources on a backend of its own, and every request its session sends (path and
    parameters, in order), on each store."""
    backend = prometheus_backend_for(store.url)
    sent: list[str] = []

    def record(response: requests.Response, *_: Any, **__: Any) -> None:
        sent.append(str(response.request.url))

    backend._client._session.hooks["response"].append(record)
    yield sources_for(backend), sent


def warm_answer(recorded: tuple[Sources, list[str]], question: str
                ) -> tuple[Answer, list[str]]:
    """The answer once discovery and bucket bounds are read (once per backend), and the
    requests it sent."""
    sources, sent = recorded
    ask(question, sources, DEMO_END)
    sent.clear()
    reply = ask(question, sources, DEMO_END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    return reply, list(sent)


@pytest.mark.parametrize("question", QUESTIONS)
def test_an_answer_sends_each_query_once(
    recorded: tuple[Sources, list[str]], question: str
) -> None:
    _, sent = warm_answer(recorded, question)
    assert sent, "the answer read the metrics"
    repeated = {url: n for url, n in Counter(sent).items() if n > 1}
    assert repeated == {}



# Requests of a warm answer (discovery and bucket bounds already read), coverage included.
# Before the batching of issue 13 (bot/metrics/batch.py) they were 5, 5, 5, 9 and 12: a
# figure read its window's series and the window before's series in two range queries (now
# one over both), and an overview sent p50, p95, p99, traffic and errors as five queries per
# window (now one, ``promql.tagged_union``). Then 4, 4, 4, 7 and 4: the whole-window figures
# of the two windows (and the overview's two tagged unions) were two queries, now one range
# query of two points, a window apart (``Window.figure``, ``batch.Scope.join``).
# "Top 5 slowest services" sent a pooled query per service and window: 15 requests on the
# demo's 7 services; now 5, the services tagged in one query per window (issue 16).
QUERIES = {
    "p95 latency of checkout over the last 24h": 3,
    "p95 latency of checkout over the last 24h vs the day before": 3,
    "error rate of checkout over the last 24h": 3,
    "p95 of the payments service over the last 24h": 5,
    "how is checkout doing over the last 24h": 3,
    "top 5 slowest services over the last 24h": 5,
    # Was 7: a discovery of the endpoints (the catalog has them) and the coverage of the
    # span before (a cost is never set against it; now the window's only).
    "cost of checkout over the last 24h": 6,
}


@pytest.mark.parametrize("question", [
    "p95 latency of checkout over the last 24h",
    "error rate of the payments service over the last 24h",
])
def test_a_text_answer_reads_the_span_before_as_a_figure_only(
    recorded: tuple[Sources, list[str]], question: str
) -> None:
    # "down 2% on the 24h before" needs the figure of the span before, not its series (only a
    # chart draws it): the series read covers the window asked for, not both.
    reply, sent = warm_answer(recorded, question)
    assert "on the 24h before" in reply.headline
    window_start = (DEMO_END - timedelta(hours=24)).timestamp()
    series = [parse_qs(urlsplit(url).query) for url in sent if "count_over_time" not in url]
    series = [p for p in series if float(p.get("step", ["86400"])[0]) < 86400]
    assert series, "\n".join(sent)
    assert all(float(p["start"][0]) >= window_start for p in series), "\n".join(sent)


def test_an_overview_reads_the_buckets_once(recorded: tuple[Sources, list[str]]) -> None:
    # p50, p95 and p99 each read every bucket sample of the window (three histogram_quantile
    # in the one query); the summary reads the bucket rates once and takes the quantiles.
    _, sent = warm_answer(recorded, "how is checkout doing over the last 24h")
    figures = [url for url in sent if "perfbot_figure" in url]
    assert len(figures) == 1, "\n".join(sent)
    assert figures[0].count("_bucket") == 1, figures[0]


@pytest.mark.parametrize("question", list(QUERIES))
def test_an_answer_batches_its_queries(
    recorded: tuple[Sources, list[str]], question: str
) -> None:
    _, sent = warm_answer(recorded, question)
    assert len(sent) == QUERIES[question], "\n".join(sent)


def _routes_named(url: str, label: str) -> set[str]:
    """The route values a query's route matcher names (one value, or an alternation)."""
    query = parse_qs(urlsplit(url).query)["query"][0]
    found = re.search(rf'\b{label}(=~|=)"((?:[^"\\]|\\.)*)"', query)
    if found is None:
        return set()  # no route matcher: every route
    value = found[2].replace("\\\\", "\\")  # PromQL string escapes, then the regex's
    parts = value.split("|") if found[1] == "=~" else [value]
    return {re.sub(r"\\(.)", r"\1", part) for part in parts}


@pytest.mark.parametrize("question", [
    "top 3 slowest endpoints over the last 24h",
    "top 3 endpoints with the most errors over the last 24h",
])
def test_a_ranking_reads_series_only_for_the_endpoints_it_shows(
    recorded: tuple[Sources, list[str]], question: str
) -> None:
    # The ranking is made on the one-point figures of every endpoint; the per-step series
    # (the TREND sparklines) are read for the shown rows only, not for all of them (at 1,000
    # endpoints that was the answer's memory and most of its reading).
    reply, sent = warm_answer(recorded, question)
    sources = recorded[0]
    assert reply.table is not None and len(reply.table.rows) == 3, reply.headline
    shown = {entry.endpoint.route for row in reply.table.rows
             if (entry := sources.catalog.get(row[1])) is not None}
    assert len(shown) == 3, reply.table.rows
    assert len({e.endpoint.route for e in sources.catalog.entries}) > 3
    label = sources.backend.http_metrics().route_label
    # The series: range queries over more than one instant (a whole-window figure is one
    # point; the coverage check counts samples over all endpoints and reads no values).
    series = [url for url in sent if "count_over_time" not in url
              and (p := parse_qs(urlsplit(url).query)).get("start") != p.get("end")]
    assert series, "\n".join(sent)
    assert all(_routes_named(url, label) == shown for url in series), "\n".join(sent)


COST = "cost of checkout over the last 24h"


def test_a_cost_answer_uses_the_catalog_and_reads_no_span_before(
    recorded: tuple[Sources, list[str]],
) -> None:
    # A cost answer shared its service's cost among endpoints it discovered again (one
    # request the bot's catalog makes needless), and read the coverage of the day before,
    # which it never sets the cost against; its headline then spoke of that day's data.
    reply, sent = warm_answer(recorded, COST)
    paths = [urlsplit(url).path for url in sent]
    assert not [p for p in paths if "/query" not in p], "\n".join(sent)  # no discovery
    window_start = (DEMO_END - timedelta(hours=24)).timestamp()
    coverage = [parse_qs(urlsplit(url).query) for url in sent if "count_over_time" in url]
    assert coverage, "\n".join(sent)
    assert all(float(p.get("start", p.get("time", ["0"]))[0]) >= window_start
               for p in coverage), "\n".join(sent)
    assert "before" not in reply.headline, reply.headline
