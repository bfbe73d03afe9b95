"""Help replies, hostile questions and the parser fixes the answers rely on."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.ask.answer import Sources, answer, ask
from bot.ask.helping import examples_for
from bot.ask.parsing.parser import parse
from bot.ask.query import ComparisonKind, Direction, Intent
from bot.metrics.demo import DemoBackend
from bot.render.message import AnswerKind
from tests.answer_support import UTC_ZONE, sources_for
from tests.conftest import DEMO_END

# What an attacker (or a confused paste) may send; none of it may come back as figures for
# something else, or reach the metrics server (tests/integration/test_ask_prometheus.py).
HOSTILE = [
    'checkout"} or vector(1)',
    'p95 of checkout"} or vector(1) #',
    "p95 of {__name__=~\".+\"}",
    'latency of /api/checkout\\" or on() vector(1)',
    "errors of checkout\\\\ and 1==1",
    "sum(rate(http_server_request_duration_seconds_count[5m]))",
    "p95 of checkout " + "\\{}\"'" * 2000,  # 10 kB of quotes, braces and backslashes
    "a" * 10_000,
    "p95 of checkout\x00\x1b[31m\x07 today",
    "p95 of 🔥🔥🔥 checkout 🚀",
    "p95 of <@U123|boss> <!channel> checkout",
    "select * from users; drop table endpoints",
    "rm -rf / and restart payments",
    "{{7*7}} ${jndi:ldap://x} %s%n",
    "\u202eokcehc fo 59p",
    "",
]


@pytest.fixture(scope="module")
def sources(demo_backend: DemoBackend) -> Sources:
    return sources_for(demo_backend)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_questions_get_a_clear_reply(text: str, sources: Sources) -> None:
    reply = ask(text, sources, DEMO_END)
    assert reply.kind in (AnswerKind.HELP, AnswerKind.ANSWER), reply.headline
    assert reply.headline and len(reply.headline) < 400
    words = " ".join([reply.headline, *reply.notes, *reply.examples])
    # Words may be echoed (cleaned), but no query syntax, markup or control characters.
    for fragment in ("vector(1)", '"}', "=~", "${", "<@", "<!", "\\", "\x1b", "\x00", "\x07"):
        assert fragment not in words
    if reply.kind is AnswerKind.HELP:
        assert 3 <= len(reply.examples) <= 5
        assert reply.table is None and reply.chart is None  # never a guess as an answer


def test_promql_next_to_a_name_is_help_not_an_answer(sources: Sources) -> None:
    reply = ask('checkout"} or vector(1)', sources, DEMO_END)
    assert reply.kind is AnswerKind.HELP
    assert reply.headline.startswith("I can't answer that as asked: ")
    assert any(note.startswith("Not understood: ") for note in reply.notes)
    assert any("POST /api/checkout" in example for example in reply.examples)


def test_help_says_what_was_and_was_not_understood(sources: Sources) -> None:
    reply = ask("p95 of chekout for the mobile app", sources, DEMO_END)
    assert reply.kind is AnswerKind.HELP
    understood = next(n for n in reply.notes if n.startswith("Understood: "))
    assert "POST /api/checkout" in understood
    assert any("'mobile app'" in n for n in reply.notes if n.startswith("Not understood: "))
    # The examples stay close: latency, about the endpoint it recognised.
    assert reply.examples[0] == "p95 latency of POST /api/checkout over the last 24h"


@pytest.mark.parametrize(
    "text",
    ["help", "what can you do?", "how do I use this", "deploy checkout", "latency of /api/menu",
     "cost of the mobile app", "what's the weather", "tell me a joke"],
)
def test_help_examples_are_questions_the_bot_answers(text: str, sources: Sources) -> None:
    reply = ask(text, sources, DEMO_END)
    assert reply.kind is AnswerKind.HELP
    for example in reply.examples:
        query = parse(example, sources.catalog, DEMO_END, UTC_ZONE)
        assert query.intent is not Intent.HELP, (example, query.not_understood)
        assert not query.not_understood, example


def test_examples_follow_the_measure() -> None:
    cost = examples_for(None, "POST /api/checkout", "payments")
    assert len(cost) == 5 and "cost of the payments service this month" in cost
    latency = examples_for(None, "x", "y")
    assert latency[0].startswith("p95 latency of x")
    from bot.ask.query import Measure

    assert examples_for(Measure.COST, "e", "s")[0] == "how much does e cost per day?"


def test_help_needs_no_metrics(sources: Sources) -> None:
    # A help query is answered from the catalog alone, even with the metrics server down.
    query = parse("help", sources.catalog, DEMO_END, UTC_ZONE)
    down = Sources(backend=_Unusable(), catalog=sources.catalog, tz=UTC_ZONE)  # type: ignore[arg-type]
    assert answer(query, down, DEMO_END).kind is AnswerKind.HELP


class _Unusable:
    """A backend no code path may touch (help must not read metrics)."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"help read the metrics: {name}")


def test_after_a_moment_is_a_before_and_after(sources: Sources) -> None:
    now = datetime(2026, 11, 20, 16, 2, tzinfo=DEMO_END.tzinfo)
    query = parse("did order history get slower after 14:02?", sources.catalog, now, UTC_ZONE)
    assert query.intent is Intent.COMPARE
    assert query.comparison_kind is ComparisonKind.BEFORE_AFTER
    assert query.window is not None and query.window.label == "2h after today 14:02"
    query = parse("p95 of checkout after 9am", sources.catalog, now, UTC_ZONE)
    assert query.window is not None and query.window.label == "since today 09:00"


def test_did_the_fix_help_asks_for_an_improvement(sources: Sources) -> None:
    query = parse("did the fix help? checkout p95 before and after 2026-11-22 18:00",
                  sources.catalog, DEMO_END, UTC_ZONE)
    assert query.intent is Intent.COMPARE and query.direction is Direction.BEST
