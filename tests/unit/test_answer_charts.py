"""Charts of answers: Slack-sized PNGs with alt text that says what they show."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.ask.answer import Sources
from bot.metrics.demo import DemoBackend
from tests.answer_support import answer_to, sources_for
from tests.conftest import DEMO_END

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sources(demo_backend: DemoBackend) -> Sources:
    return sources_for(demo_backend)


def size_of(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(png)) as image:
        return image.size


@pytest.mark.parametrize(
    ("question", "alt_start", "alt_has"),
    [
        ("checkout p95 vs yesterday", "Line chart of p95 of POST /api/checkout",
         ["Dashed grey: last 24h, a day earlier, shifted onto the same clock",
          "Dotted red: the SLO, 500 ms"]),
        ("top 5 slowest endpoints today", "Bar chart of top 5 endpoints by p95, today",
         ["GET /api/orders/history", "Bars over 500 ms are red"]),
        ("is checkout meeting its SLO over the last 2 days",
         "Line chart of error ratio of POST /api/checkout", ["the SLO, 1.00%"]),
        ("cpu of search", "Line chart of CPU of search", ["highest 100%"]),
    ],
)
def test_charts_are_slack_sized_with_alt_text(
    question: str, alt_start: str, alt_has: list[str], sources: Sources
) -> None:
    reply = answer_to(question, sources, DEMO_END, chart=True)
    assert reply.chart is not None, reply.headline
    width, height = size_of(reply.chart.png)
    assert 600 <= width <= 1000 and 250 <= height <= 700
    assert reply.chart.alt.startswith(alt_start)
    for words in alt_has:
        assert words in reply.chart.alt


def test_no_chart_unless_asked(sources: Sources) -> None:
    assert answer_to("checkout p95 vs yesterday", sources, DEMO_END).chart is None
