"""A figure over the whole of a short history: the span before it (what the figure is set
against) lies before the first sample. Against a real Prometheus holding exactly 3h of data,
"p95 over the last 3h" is answered, with the comparison said to be unavailable."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.analytics.prices import CostSettings
from bot.ask import value
from bot.ask.answer import Sources, ask
from bot.ask.context import Context
from bot.ask.spend import cost_answer
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings
from bot.metrics.base import Endpoint
from bot.render.message import Answer, AnswerKind
from tests.answer_support import seconds_in
from tests.histogram_data import HistogramData, Traffic, generate, served

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
START = END - timedelta(hours=3)
WEB = Endpoint(service="web", route="/api/v1/items", method="GET")
PLAN = (Traffic(WEB, 10.0, 0.01, (0.30, 0.40, 0.20, 0.07, 0.02, 0.01, 0.0)),)


@pytest.fixture(scope="module")
def data() -> HistogramData:
    return generate(PLAN, START, END, seed=3)


@pytest.fixture(scope="module")
def sources(data: HistogramData, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Sources]:
    with served(data, tmp_path_factory.mktemp("short-history")) as backend:
        catalog = Catalog.build(backend.endpoints(), CatalogSettings())
        yield Sources(backend=backend, catalog=catalog, tz=ZoneInfo("UTC"))


def test_a_figure_over_all_the_data_is_given_without_a_comparison(
    sources: Sources, data: HistogramData
) -> None:
    reply = ask("p95 latency of the web service over the last 3h", sources, END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    figure = seconds_in(reply.headline.split(": ", 1)[1])
    assert figure == pytest.approx(data.p(0.95, WEB, START, END), rel=0.02, abs=0.0006)
    assert "No data before today 09:00 to compare with." in reply.headline
    assert "the 3h before" not in reply.headline  # no bogus "only 2m of the 3h" coverage
    assert "no data for the 3h before to compare with" in reply.notes
    assert reply.table is not None and len(reply.table.rows) >= 1
    assert not any(r[0].endswith("the 3h before") for r in reply.table.rows)


def test_a_shorter_window_still_compares_with_the_span_before_it(sources: Sources) -> None:
    reply = ask("p95 latency of the web service over the last 1h", sources, END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert "No data before" not in reply.headline
    assert "on the 1h before" in reply.headline


def test_an_endpoint_figure_over_all_the_data_has_no_row_for_the_span_before(
    sources: Sources, data: HistogramData
) -> None:
    reply = ask("p95 latency of GET /api/v1/items over the last 3h", sources, END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert "No data before today 09:00 to compare with." in reply.headline
    assert reply.table is not None
    assert reply.table.rows[0][0] == "p95, last 3h"
    assert seconds_in(reply.table.rows[0][1]) == pytest.approx(
        data.p(0.95, WEB, START, END), rel=0.02, abs=0.0006)
    assert not any("before" in r[0] for r in reply.table.rows)


def test_a_cost_answer_is_made_once_and_says_nothing_of_the_span_before(
    sources: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The span before "the last 2h" is half covered. A cost answer is not set against it, so
    # its coverage is not read, nor the answer made again for it cut to its data (issue 13).
    made = []

    def counted(ctx: Context) -> Answer:
        made.append(ctx.query.window)
        return cost_answer(ctx)

    monkeypatch.setattr(value, "cost_answer", counted)
    priced = replace(sources, cost=CostSettings(per_million_requests=100.0))
    reply = ask("how much does the web service cost over the last 2h", priced, END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert reply.headline.startswith("cost of the web service, last 2h: $")
    assert "before" not in reply.headline
    assert len(made) == 1
