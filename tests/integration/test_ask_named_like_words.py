"""Another business's services, named like the parser's words, asked about on a real
Prometheus: ``pricing`` (a cost word), ``status`` (a word the parser skips), a route
``/promotions`` typed as "promos", ``/orders/{order_id}`` typed without its slash.

Every expected figure is computed from the counts written (one sample a minute, two days).
``pricing`` is slow and ``billing`` fast, ``status`` faster still, so an answer for the wrong
subject or for all endpoints shows in the figure, not only in the words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.ask.answer import Sources, ask
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings
from bot.metrics.base import Endpoint
from bot.metrics.prometheus import PrometheusBackend
from bot.render.message import Answer, AnswerKind
from tests.answer_support import seconds_in
from tests.histogram_data import HistogramData, Traffic, generate, served

END = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
START = END - timedelta(days=2, hours=1)
SIX_HOURS = END - timedelta(hours=6)

PRICING = Endpoint(service="pricing", route="/api/pricing/quote", method="GET")
BILLING = Endpoint(service="billing", route="/api/billing/charge", method="POST")
STATUS = Endpoint(service="status", route="/status", method="GET")
ORDER = Endpoint(service="shop", route="/orders/{order_id}", method="GET")
PROMOTIONS = Endpoint(service="shop", route="/promotions", method="GET")


PLAN = (
    Traffic(PRICING, 6.0, 0.04, (0.0, 0.05, 0.15, 0.40, 0.30, 0.08, 0.02)),
    Traffic(BILLING, 20.0, 0.002, (0.60, 0.30, 0.08, 0.02, 0.0, 0.0, 0.0)),
    Traffic(STATUS, 2.0, 0.0, (0.97, 0.03, 0.0, 0.0, 0.0, 0.0, 0.0)),
    Traffic(ORDER, 10.0, 0.01, (0.10, 0.50, 0.30, 0.10, 0.0, 0.0, 0.0)),
    Traffic(PROMOTIONS, 3.0, 0.0, (0.20, 0.20, 0.50, 0.10, 0.0, 0.0, 0.0)),
)


@pytest.fixture(scope="module")
def data() -> HistogramData:
    return generate(PLAN, START, END, seed=13)


@pytest.fixture(scope="module")
def backend(data: HistogramData, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[PrometheusBackend]:
    with served(data, tmp_path_factory.mktemp("named-like-words")) as backend:
        yield backend


@pytest.fixture(scope="module")
def sources(backend: PrometheusBackend) -> Sources:
    catalog = Catalog.build(backend.endpoints(), CatalogSettings())  # as bot.app builds it
    return Sources(backend=backend, catalog=catalog, tz=ZoneInfo("UTC"))


def answered(text: str, sources: Sources) -> Answer:
    reply = ask(text, sources, END)
    assert reply.kind is AnswerKind.ANSWER, (text, reply.headline, reply.notes)
    return reply


def figure(reply: Answer) -> str:
    return reply.headline.split(": ", 1)[1]


@pytest.mark.parametrize("text", [
    "pricing p95 over the last 6h",
    "p95 of pricing over the last 6h",
    "pricing latency over the last 6h",
    "how slow is the pricing service over the last 6h",
])
def test_the_p95_of_a_service_named_like_a_cost_word(
    text: str, sources: Sources, data: HistogramData
) -> None:
    reply = answered(text, sources)
    assert reply.headline.startswith("p95 of the pricing service, last 6h: "), reply.headline
    expected = data.p(0.95, PRICING, SIX_HOURS, END)
    assert seconds_in(figure(reply)) == pytest.approx(expected, rel=0.02, abs=0.0006)
    # All endpoints' p95 is much lower: an answer for them would not pass the line above.
    assert data.p(0.95, BILLING, SIX_HOURS, END) < expected / 2


@pytest.mark.parametrize("text", [
    "pricing error rate over the last 6h",
    "error rate of pricing over the last 6h",
    "pricing errors over the last 6h",
])
def test_the_error_ratio_of_pricing(text: str, sources: Sources, data: HistogramData) -> None:
    reply = answered(text, sources)
    assert reply.headline.startswith("error ratio of the pricing service, last 6h: "), (
        reply.headline)
    percent = float(re.search(r"(\d+\.\d+)%", figure(reply))[1])  # type: ignore[index]
    assert percent / 100 == pytest.approx(data.error_ratio(PRICING, SIX_HOURS, END), abs=0.001)


@pytest.mark.parametrize("text", ["pricing traffic over the last 6h",
                                  "throughput of pricing over the last 6h"])
def test_the_traffic_of_pricing(text: str, sources: Sources, data: HistogramData) -> None:
    reply = answered(text, sources)
    assert reply.headline.startswith("throughput of the pricing service, last 6h: "), (
        reply.headline)
    rate = float(re.search(r"(\d+\.\d+) req/s", figure(reply))[1])  # type: ignore[index]
    assert rate == pytest.approx(data.rps(PRICING, SIX_HOURS, END), abs=0.06)


def test_is_pricing_slower_than_yesterday_compares_pricing(
    sources: Sources, data: HistogramData
) -> None:
    reply = answered("is pricing slower than yesterday", sources)
    assert "pricing" in reply.headline and "all endpoints" not in reply.headline, reply.headline
    day = END - timedelta(hours=24)
    expected = data.p(0.95, PRICING, day, END)
    assert seconds_in(reply.headline) == pytest.approx(expected, rel=0.02, abs=0.0006)


def test_status_promos_and_a_route_typed_without_its_slash(
    sources: Sources, data: HistogramData
) -> None:
    for text, endpoint, subject in (
        ("p95 of status over the last 6h", STATUS, "the status service"),
        ("p95 of promos over the last 6h", PROMOTIONS, "GET /promotions"),
        ("p95 of orders/{order_id} over the last 6h", ORDER, "GET /orders/{order_id}"),
    ):
        reply = answered(text, sources)
        assert reply.headline.startswith(f"p95 of {subject}, last 6h: "), reply.headline
        expected = data.p(0.95, endpoint, SIX_HOURS, END)
        assert seconds_in(figure(reply)) == pytest.approx(expected, rel=0.02, abs=0.0006)


def test_slower_than_usual_reads_the_baseline_from_prometheus(
    sources: Sources, data: HistogramData
) -> None:
    """Two days of history: the usual level is yesterday's same hour (one lag). Figures are
    averages of 5-minute p95s, so they are near (not equal to) the hour's p95."""
    hour = END - timedelta(hours=1)
    for text in ("is pricing slower than usual?", "is the pricing service unusually slow"):
        reply = answered(text, sources)
        assert reply.headline.startswith(
            "p95 of GET /api/pricing/quote (the pricing service), last 1h: "), reply.headline
        said = seconds_in(figure(reply))
        assert said == pytest.approx(data.p(0.95, PRICING, hour, END), rel=0.15)
        usual = seconds_in(reply.headline.split("usual level ", 1)[1])
        day = timedelta(days=1)
        assert usual == pytest.approx(data.p(0.95, PRICING, hour - day, END - day), rel=0.15)
