"""Names before vocabulary: the parser on another business's catalog
(tests/data/questions_other.yaml), whose services and routes are named like the parser's words,
and the rules of ``bot.ask.parsing.names``, spelling and shorthands one by one."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.ask.parsing.normalise import normalise
from bot.ask.parsing.parser import parse
from bot.ask.parsing.phrases import PHRASES
from bot.ask.parsing.vocabulary import lexicon_for
from bot.ask.query import Intent, Measure, Query
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings
from bot.metrics.base import Endpoint

CORPUS_FILE = Path(__file__).parent.parent / "data" / "questions_other.yaml"
CORPUS: dict[str, Any] = yaml.safe_load(CORPUS_FILE.read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(CORPUS["now"])
TZ = ZoneInfo(CORPUS["tz"])
ENDPOINTS = [Endpoint(service=s, method=m, route=r) for s, m, r in CORPUS["endpoints"]]
CATALOG = Catalog.build(ENDPOINTS, CatalogSettings())
KEYS = {entry.key for entry in CATALOG.entries}
ENTRIES = CORPUS["questions"]
# The vocabulary words the issue lists, each a service or a route word of this catalog.
VOCABULARY_NAMES = ("pricing", "billing", "cost", "traffic", "errors", "latency", "search",
                    "orders", "users", "health", "status", "promotions")


def ask(text: str, catalog: Catalog = CATALOG) -> Query:
    return parse(text, catalog, NOW, TZ)


def _entry_id(index: int, entry: dict[str, Any]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(entry["q"]).lower()).strip("-")[:50]
    return f"{index:03d}-{slug}"


def test_the_catalog_names_every_listed_word() -> None:
    words = {w for e in ENDPOINTS for w in re.findall(r"[a-z]+", f"{e.service} {e.route}")}
    assert {w.removesuffix("s") for w in VOCABULARY_NAMES} <= {
        w.removesuffix("s") for w in words}
    asked = " ".join(entry["q"] for entry in ENTRIES)
    for word in VOCABULARY_NAMES:
        assert word.removesuffix("s") in asked, word
    assert len({entry["q"] for entry in ENTRIES}) == len(ENTRIES), "each question once"


@pytest.mark.parametrize(
    "entry", [pytest.param(e, id=_entry_id(i, e)) for i, e in enumerate(ENTRIES)]
)
def test_corpus_question(entry: dict[str, Any]) -> None:
    query = ask(entry["q"])
    context = f"{entry['q']!r} → {query.model_dump(mode='json', exclude_defaults=True)}"
    assert set(query.subjects.endpoints) <= KEYS
    assert set(query.subjects.services) <= set(CATALOG.services)
    for window in (query.window, query.comparison):
        assert window is None or window.end <= NOW
    for name in ("intent", "measure", "statistic", "cost_unit", "usual", "broken"):
        if name in entry:
            actual = getattr(query, name)
            assert getattr(actual, "value", actual) == entry[name], f"{name}: {context}"
    if "endpoints" in entry:
        assert set(query.subjects.endpoints) == set(entry["endpoints"]), context
    if "services" in entry:
        assert set(query.subjects.services) == set(entry["services"]), context
    if "window" in entry:
        assert query.window is not None and query.window.label == entry["window"], context
    if "comparison" in entry:
        assert query.comparison is not None, context
        assert query.comparison.label == entry["comparison"], context
    if "understood" in entry:
        assert any(entry["understood"] in note for note in query.understood), context
    if entry.get("clean"):
        assert query.not_understood == (), context


# --- rule by rule ---------------------------------------------------------------------------


def _catalog(*endpoints: tuple[str, str, str]) -> Catalog:
    return Catalog.build([Endpoint(service=s, method=m, route=r) for s, m, r in endpoints],
                         CatalogSettings())


def test_a_measure_word_is_the_measure_without_such_a_name() -> None:
    """The same questions on a catalog without those names: the words stay measures."""
    plain = _catalog(("shop", "GET", "/api/checkout"), ("shop", "GET", "/api/search"))
    assert ask("cost of pricing", plain).measure is Measure.COST
    assert ask("pricing today", plain).measure is Measure.COST
    assert ask("traffic today", plain).measure is Measure.THROUGHPUT
    assert not any("read as" in note for note in ask("traffic today", plain).understood)


@pytest.mark.parametrize("word", ["pricing", "billing", "cost", "traffic", "errors", "latency"])
def test_a_service_named_like_a_measure_is_the_subject_of_another_measure(word: str) -> None:
    catalog = _catalog((word, "GET", "/api/a"), (word, "POST", "/api/b"), ("web", "GET", "/"))
    for text in (f"is {word} slower than last week", f"{word} p95 vs last week",
                 f"{word} error rate today", f"how many requests did {word} serve today",
                 f"p95 of the {word} service"):
        query = ask(text, catalog)
        assert query.subjects.services == (word,), (text, query)
        assert query.subjects.endpoints == ()
    alone = ask(f"{word} today", catalog)  # the only measure word: the measure, said so
    assert alone.subjects.everything and alone.measure is not None
    assert any(f"'{word}' read as the" in note and "service" in note
               for note in alone.understood)


@pytest.mark.parametrize("word", ["status", "health", "summary", "report"])
def test_a_skipped_word_names_the_subject_unless_another_is_named(word: str) -> None:
    catalog = _catalog(("shop", "GET", f"/api/{word}"), ("shop", "POST", "/api/checkout"))
    assert ask(f"p95 of {word}", catalog).subjects.endpoints == (f"GET /api/{word}",)
    assert ask(f"{word} of checkout", catalog).subjects.endpoints == ("POST /api/checkout",)


def test_of_says_which_of_two_names_is_the_measure() -> None:
    catalog = _catalog(("latency", "GET", "/a"), ("traffic", "GET", "/b"))
    of = ask("latency of traffic", catalog)
    assert (of.measure, of.subjects.services) == (Measure.LATENCY, ("traffic",))
    last = ask("traffic latency", catalog)
    assert (last.measure, last.subjects.services) == (Measure.LATENCY, ("traffic",))


def test_a_typo_goes_to_the_catalog_word_before_a_vocabulary_word() -> None:
    """'ruote' is one edit from the route word 'quote' and from the filler 'route': read
    as the filler it named nothing and the question widened to all endpoints."""
    query = ask("p95 of ruote")
    assert query.subjects.endpoints == ("GET /api/pricing/quote",)
    assert not query.subjects.everything
    assert "read 'ruote' as 'quote'" in query.understood


def test_a_word_is_not_corrected_into_a_parser_word_when_the_catalog_has_it() -> None:
    """'orser' is as near 'worse' (a change word) as the route word 'order'."""
    query = ask("p95 of orser history")
    assert query.intent is Intent.VALUE and query.subjects.endpoints == ("GET /orders/history",)


@pytest.mark.parametrize("text,expected", [
    ("p95 of search yday", "yesterday"), ("p95 of search this wk", "this week"),
    ("p95 of search last hr", "last hour"), ("p95 of search last 2 hrs", "last 2h"),
])
def test_shorthands(text: str, expected: str) -> None:
    query = ask(text)
    assert query.intent is Intent.VALUE and query.window is not None
    assert query.window.label == expected


def test_a_shorthand_the_catalog_uses_is_a_name() -> None:
    catalog = _catalog(("hr", "GET", "/api/payroll"), ("web", "GET", "/"))
    assert ask("p95 of hr", catalog).subjects.services == ("hr",)


def test_a_prefix_of_one_catalog_word_names_it_and_of_several_nothing() -> None:
    assert ask("p95 of promos").subjects.endpoints == ("GET /promotions",)
    catalog = _catalog(("a", "GET", "/promotions"), ("a", "GET", "/promoters"))
    assert ask("p95 of promos", catalog).intent is Intent.HELP


def test_a_route_typed_without_its_slash() -> None:
    assert normalise("p95 of orders/{order_id}") == "p95 of /orders/{order_id}"
    assert normalise("p95 of api/checkout") == "p95 of /api/checkout"
    assert normalise("errors/min of req/s") == "errors/min of req/s"


def test_only_measure_words_and_skipped_words_clash() -> None:
    """The rule applies to the catalog's words the phrases read; others are untouched."""
    from bot.ask.parsing.names import _clashing

    clashing = _clashing(lexicon_for(CATALOG))
    assert {"pricing", "billing", "traffic", "errors", "latency", "costs"} <= {
        w for w, measure in clashing.items() if measure}
    assert {"status", "health"} <= {w for w, measure in clashing.items() if not measure}
    assert "search" not in clashing and "orders" not in clashing
    assert PHRASES  # the rule is derived from the phrases, not a list of its own


def test_a_near_miss_where_the_subject_goes_is_not_made_a_measure() -> None:
    """'coast' is one letter from 'cost': after "p95 of" it names something the catalog
    lacks; read as cost it became a cost figure for all endpoints."""
    catalog = _catalog(("shop", "POST", "/api/checkout"), ("shop", "GET", "/api/search"))
    query = ask("p95 of coast", catalog)
    assert query.intent is Intent.HELP and query.measure is Measure.LATENCY
    assert query.subjects.unresolved == "coast"
    # Where no subject goes, the near miss is still a measure word.
    assert ask("number of erors today", catalog).measure is Measure.ERROR_COUNT
    assert ask("p95 latnecy of checkout", catalog).measure is Measure.LATENCY


@pytest.mark.parametrize("word", VOCABULARY_NAMES)
def test_every_listed_word_as_a_service_and_as_a_route(word: str) -> None:
    """Each word the issue lists, as a service's name and as a route's: in questions that
    say what to measure, the name is the subject, never all endpoints."""
    as_service = _catalog((word, "GET", "/api/a"), (word, "POST", "/api/b"),
                          ("web", "GET", "/api/other"))
    as_route = _catalog(("shop", "GET", f"/api/{word}"), ("shop", "GET", "/api/other"))
    questions = (f"p95 of {word}", f"{word} p95 vs last week", f"is {word} slower than last week",
                 f"{word} error rate today", f"error rate of {word} yesterday",
                 f"how many requests did {word} get today")
    for text in questions:
        service = ask(text, as_service)
        assert service.intent is not Intent.HELP, (text, service.not_understood)
        assert service.subjects.services == (word,), (text, service)
        route = ask(text, as_route)
        assert route.intent is not Intent.HELP, (text, route.not_understood)
        assert route.subjects.endpoints == (f"GET /api/{word}",), (text, route)
