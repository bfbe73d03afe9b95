"""The question parser against its corpus (tests/data/questions.yaml) and hostile input."""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.ask.parsing.normalise import MAX_TEXT, normalise
from bot.ask.parsing.parser import parse
from bot.ask.query import (
    MAX_LIMIT,
    CostUnit,
    Intent,
    Measure,
    Query,
    Statistic,
)
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings, EndpointOverride
from bot.metrics.base import Endpoint, Signal
from bot.metrics.demo import DemoWorkload

CORPUS_FILE = Path(__file__).parent.parent / "data" / "questions.yaml"
CORPUS: dict[str, Any] = yaml.safe_load(CORPUS_FILE.read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(CORPUS["now"])
TZ = ZoneInfo(CORPUS["tz"])
INTERNAL_ERROR = "could not read this question"
UNSAFE = re.compile(r"[<>\"`\\*~|\x00-\x1f\x7f]")

# The demo's endpoints (bot/metrics/demo/platform.py serves the same list: see the test below);
# the catalog's default excludes drop /healthz.
DEMO_ENDPOINTS = [
    ("web", "GET", "/"),
    ("web", "GET", "/healthz"),
    ("search", "GET", "/api/search"),
    ("menu", "GET", "/api/restaurants"),
    ("menu", "GET", "/api/menu/{restaurant_id}"),
    ("orders", "POST", "/api/orders"),
    ("orders", "GET", "/api/orders/history"),
    ("orders", "GET", "/api/orders/{order_id}"),
    ("payments", "POST", "/api/checkout"),
    ("payments", "POST", "/api/payments/refund"),
    ("users", "POST", "/api/login"),
    ("users", "GET", "/api/users/me"),
    ("delivery", "GET", "/api/delivery/track/{order_id}"),
]


def demo_catalog(settings: CatalogSettings | None = None) -> Catalog:
    endpoints = [Endpoint(service=s, method=m, route=r) for s, m, r in DEMO_ENDPOINTS]
    return Catalog.build(endpoints, settings or CatalogSettings())


CATALOG = demo_catalog()
KEYS = {entry.key for entry in CATALOG.entries}
SERVICES = set(CATALOG.services)


def ask(text: str, now: datetime = NOW, catalog: Catalog = CATALOG) -> Query:
    return parse(text, catalog, now, TZ)


def assert_invariants(query: Query, now: datetime = NOW) -> None:
    """What must hold for any input: catalog names only, JSON-safe, sane windows."""
    assert set(query.subjects.endpoints) <= KEYS
    assert set(query.subjects.services) <= SERVICES
    assert len(query.text) <= MAX_TEXT
    assert not any(INTERNAL_ERROR in note for note in query.not_understood)
    if query.subjects.unresolved is not None:
        assert len(query.subjects.unresolved) <= 60
    # User text reaches the notes only normalised: nothing Slack or a query language would read.
    for note in (query.text, query.subjects.unresolved or "", *query.understood,
                 *query.not_understood):  # fmt: skip
        assert not UNSAFE.search(note), note
    assert set(query.subjects.suggestions) <= KEYS | SERVICES
    for window in (query.window, query.comparison):
        if window is not None:
            assert window.start.tzinfo is not None and window.end.tzinfo is not None
            assert window.start < window.end <= now
    if query.intent is Intent.RANK:
        assert query.limit is not None and 1 <= query.limit <= MAX_LIMIT
    again = Query.model_validate_json(query.model_dump_json())
    assert again == query
    json.loads(query.model_dump_json())


def _entry_id(index: int, entry: dict[str, Any]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(entry["q"]).lower()).strip("-")[:50]
    return f"{index:03d}-{slug or 'blank'}"


ENTRIES = CORPUS["questions"]


def test_the_catalog_is_the_demo_platform() -> None:
    workload = DemoWorkload.generate(NOW, days=1)
    assert {(e.service, e.method, e.route) for e in workload.endpoints} == set(DEMO_ENDPOINTS)
    assert "GET /healthz" not in KEYS


def test_corpus_is_large_and_varied() -> None:
    questions = [entry["q"] for entry in ENTRIES]
    assert len(questions) >= 200
    assert len(set(questions)) == len(questions), "each question once"
    intents = {entry.get("intent") for entry in ENTRIES}
    assert {"value", "rank", "compare", "slo", "help"} <= intents


@pytest.mark.parametrize(
    "entry", [pytest.param(e, id=_entry_id(i, e)) for i, e in enumerate(ENTRIES)]
)
def test_corpus_question(entry: dict[str, Any]) -> None:
    query = ask(entry["q"])
    assert_invariants(query)
    context = f"{entry['q']!r} → {query.model_dump(mode='json', exclude_defaults=True)}"
    for name in ("intent", "measure", "statistic", "cost_unit", "comparison_kind",
                 "limit", "direction", "rank_by", "group_by"):  # fmt: skip
        if name in entry:
            actual = getattr(query, name)
            actual = actual.value if hasattr(actual, "value") else actual
            assert actual == entry[name], f"{name}: {context}"
    if "endpoints" in entry:
        assert set(query.subjects.endpoints) == set(entry["endpoints"]), context
    if "services" in entry:
        assert set(query.subjects.services) == set(entry["services"]), context
    if "unresolved" in entry:
        assert query.subjects.unresolved == entry["unresolved"], context
    if "suggestions" in entry:
        assert set(entry["suggestions"]) <= set(query.subjects.suggestions), context
    if "window" in entry:
        assert query.window is not None, context
        assert query.window.label == entry["window"], context
    if "comparison" in entry:
        assert query.comparison is not None, context
        assert query.comparison.label == entry["comparison"], context
    if "not_understood" in entry:
        assert any(entry["not_understood"] in note for note in query.not_understood), context
    if "understood" in entry:
        assert any(entry["understood"] in note for note in query.understood), context


# --- windows: the defaults and the arithmetic behind the labels -------------------------------


def test_default_windows_follow_the_measure() -> None:
    latency = ask("p95 of checkout")
    assert latency.window is not None
    assert (latency.window.start, latency.window.end) == (NOW - timedelta(hours=24), NOW)
    total = ask("cost of checkout")
    assert total.window is not None
    assert total.window.start == datetime(2026, 11, 1, tzinfo=TZ)
    per_day = ask("cost of checkout per day")
    assert per_day.window is not None and per_day.window.span == timedelta(days=7)
    slo = ask("is checkout meeting its slo")
    assert slo.window is not None and slo.window.span == timedelta(days=30)
    now = ask("p95 of checkout right now")
    assert now.window is not None and now.window.span == timedelta(minutes=15)


def test_comparison_is_the_same_span_shifted_back() -> None:
    query = ask("checkout p95 vs last week")
    assert query.window is not None and query.comparison is not None
    assert query.comparison.start == query.window.start - timedelta(days=7)
    assert query.comparison.end == query.window.end - timedelta(days=7)


def test_before_and_after_are_equal_spans_capped_at_now() -> None:
    moment = NOW - timedelta(hours=5)
    query = ask(f"p95 of checkout before and after {moment:%Y-%m-%d %H:%M}")
    assert query.intent is Intent.COMPARE
    assert query.window is not None and query.comparison is not None
    assert query.window.start == query.comparison.end == moment
    assert query.window.end == NOW
    assert query.comparison.span == query.window.span == timedelta(hours=5)


def test_today_compared_to_yesterday_covers_the_same_hours() -> None:
    query = ask("search latency today compared to yesterday")
    assert query.window is not None and query.comparison is not None
    assert query.comparison.start == datetime(2026, 11, 23, tzinfo=TZ)
    assert query.comparison.end == datetime(2026, 11, 23, 10, tzinfo=TZ)


def test_change_ranking_without_reference_compares_with_the_span_before() -> None:
    query = ask("which endpoints regressed today")
    assert query.window is not None and query.comparison is not None
    assert query.comparison.label == "today, a day earlier"
    assert query.comparison.end == query.window.end - timedelta(days=1)


# --- the query model ----------------------------------------------------------------------------


def test_measures_map_to_signals() -> None:
    assert Measure.LATENCY.signal is Signal.LATENCY
    assert Measure.COST.signal is None
    assert Measure.ERROR_COUNT.signals == (Signal.THROUGHPUT, Signal.ERROR_RATIO)
    assert Statistic.P99.quantile == pytest.approx(0.99)
    assert Statistic.AVG.quantile is None


def test_query_rejects_inconsistent_fields() -> None:
    with pytest.raises(ValueError, match="needs a window"):
        Query(text="x", intent=Intent.VALUE)
    with pytest.raises(ValueError, match="limit"):
        Query(text="x", intent=Intent.HELP, limit=MAX_LIMIT + 1)


def test_rank_defaults() -> None:
    query = ask("slowest endpoints")
    assert query.limit == 5
    assert query.statistic is Statistic.P95
    assert query.cost_unit is None
    assert ask("most expensive endpoints").cost_unit is CostUnit.TOTAL


def test_help_records_what_was_understood() -> None:
    query = ask("p95 latency of checkout for the mobile app")
    # "mobile app" names nothing known: answering for all of checkout would answer another
    # question, so the asker gets what was understood and what was not.
    assert query.intent is Intent.HELP
    assert "endpoint: POST /api/checkout" in query.understood
    assert query.subjects.unresolved == "mobile app"
    unknown_only = ask("p95 latency of the mobile app yesterday")
    assert unknown_only.intent is Intent.HELP
    assert "measure: latency" in unknown_only.understood
    assert "window: yesterday" in unknown_only.understood
    assert unknown_only.subjects.unresolved == "mobile app"


def test_aliases_from_the_settings_are_names() -> None:
    settings = CatalogSettings(
        endpoints=[EndpointOverride(match="POST /api/checkout", aliases=["pay button"])]
    )
    query = ask("p95 of the pay button", catalog=demo_catalog(settings))
    assert query.subjects.endpoints == ("POST /api/checkout",)


def test_suggestions_for_an_unknown_name_come_from_the_catalog() -> None:
    query = ask("p95 of /api/chckout/v2/thing")
    assert query.intent is Intent.HELP
    assert set(query.subjects.suggestions) <= KEYS | SERVICES


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<@U123> *p95* of _checkout_", "p95 of checkout"),
        ("<https://x.example/api/orders/history|order history> p99", "order history p99"),
        ("<https://x.example/api/search>", "/api/search"),
        ("~latency~ errors", "errors"),
        ("What’s “checkout”’s  p95?!", "what checkout p95"),
        ("p95 :fire: 🔥 of\u0007 checkout", "p95 of checkout"),
        ("P99.9 of /api/menu/{restaurant_id}.", "p99.9 of /api/menu/{restaurant_id}"),
        ("12:00–14:00", "12:00-14:00"),
        ("ｃｈｅｃｋｏｕｔ", "checkout"),
        # A typed path is kept as typed: its dots stay, what no route holds becomes "%".
        ("p95 of /robots.txt.", "p95 of /robots.txt"),
        ("p95 of /api/orders/(history)", "p95 of /api/orders/%history"),
        ("p95 of /api/orders/history|x", "p95 of /api/orders/history%x"),
        ("p95 of /api/café", "p95 of /api/caf%"),
        ("how slow is (/api/checkout)?", "how slow is /api/checkout"),
        ("p95 of GET /<page>", "p95 of get /{page}"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_a_typed_path_is_never_answered_for_a_route_it_only_resembles() -> None:
    """"/robots.txt" is not the catch-all ``GET /<page>``: a "did you mean", not an answer."""
    endpoints = [Endpoint(service=s, method=m, route=r) for s, m, r in DEMO_ENDPOINTS]
    pages = Catalog.build([*endpoints, Endpoint(service="web", method="GET", route="/<page>")],
                          CatalogSettings())
    query = ask("p95 of /robots.txt", catalog=pages)
    assert query.intent is Intent.HELP
    assert query.subjects.endpoints == ()
    assert query.subjects.unresolved == "/robots.txt"
    assert query.subjects.suggestions[0] == "GET /<page>"
    assert "No endpoint called '/robots.txt' — did you mean GET /<page>?" in query.not_understood
    assert ask("p95 of /robots", catalog=pages).subjects.endpoints == ("GET /<page>",)


# --- robustness ---------------------------------------------------------------------------------


def test_ten_kilobytes_are_cut_to_the_first_500_characters() -> None:
    text = "p95 of checkout " + "and more words " * 700
    assert len(text) > 10_000
    query = ask(text)
    assert_invariants(query)
    assert query.subjects.endpoints == ("POST /api/checkout",)
    assert any("first 500 characters" in note for note in query.not_understood)


def test_ten_kilobytes_of_one_word_is_help() -> None:
    query = ask("x" * 10_240)
    assert_invariants(query)
    assert query.intent is Intent.HELP


def test_parse_is_deterministic() -> None:
    for entry in ENTRIES[:40]:
        assert ask(entry["q"]) == ask(entry["q"])


_ALPHABET = (
    [chr(c) for c in range(0x20, 0x7F)] * 3
    + list("\t\n\r\x00\x07\x1b\u200b\u202e\ufeff")
    + list("äöüßéçñ€£¥“”‘’–—…•")
    + list("日本語中文한국어русскийعربى")
    + ["🔥", "👍", "🚀", "🤔", "\U0001f600", "\ud7ff", "\U0010ffff"]
)
_WORDS = [
    "p95", "latency", "checkout", "errors", "last", "week", "vs", "top", "5", "slowest", "<@U1>",
    "<https://a.b/c|d>", "*", "_", "`", "~", ":fire:", "before", "and", "after", "2026-11-20",
    "14:00", "between", "since", "cost", "per", "day", "{", "}", '"', "\\", "slo", "help",
]  # fmt: skip


def test_random_unicode_never_breaks_the_parser() -> None:
    rng = random.Random(20261124)
    for _ in range(300):
        size = rng.randint(0, 120)
        text = "".join(rng.choice(_ALPHABET) for _ in range(size))
        assert_invariants(ask(text))


def test_random_word_salad_never_breaks_the_parser() -> None:
    rng = random.Random(7)
    for _ in range(300):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 14))]
        text = rng.choice([" ", "", "  ", ", "]).join(words)
        assert_invariants(ask(text))


def test_every_now_in_a_year_gives_valid_windows() -> None:
    # DST changes, month ends and the first instant of a day or month must not break anything.
    moments = [datetime(2026, 3, 29, 2, 30, tzinfo=TZ), datetime(2026, 10, 25, 2, 30, tzinfo=TZ)]
    moments += [datetime(2026, 12, 1, 0, 0, tzinfo=TZ), datetime(2027, 1, 1, 0, 0, tzinfo=TZ)]
    moments += [datetime(2026, 3, 31, 12, 0, tzinfo=TZ)]
    questions = ["p95 today", "cost this month", "errors vs last month", "slos", "p95 this week",
                 "latency yesterday vs the day before", "top 5 slowest today"]  # fmt: skip
    for now in moments:
        for text in questions:
            query = ask(text, now=now)
            assert not any(INTERNAL_ERROR in note for note in query.not_understood), text
            if query.window is not None:
                assert query.window.end <= now
