"""Answers on the demo backend, checked against figures computed from the workload's arrays.

"Now" is DEMO_END (Mon 23 Nov 2026, 12:00 UTC) and the asker is in UTC, so "yesterday" is
Sun 22 Nov 00:00–24:00 and "the 24h before" it is Sat 21 Nov: both inside the three days
the workload holds.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from bot.analytics.slo import SLO, LatencySLO
from bot.ask.answer import Sources
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings
from bot.cost import endpoint_costs
from bot.durations import parse_duration
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.render.message import Answer, AnswerKind
from bot.render.text import (
    format_change,
    format_count,
    format_money,
    format_ratio,
    format_seconds,
    format_share,
)
from tests.answer_support import (
    UTC_ZONE,
    answer_to,
    busy_seconds,
    column,
    cpu_share,
    errors,
    quantile_bucket,
    requests,
    row,
    seconds_in,
    sources_for,
    within,
)
from tests.conftest import DEMO_END

YESTERDAY = (datetime(2026, 11, 22, tzinfo=DEMO_END.tzinfo), datetime(2026, 11, 23,
                                                                      tzinfo=DEMO_END.tzinfo))
DAY_BEFORE = (YESTERDAY[0] - timedelta(days=1), YESTERDAY[0])
CHECKOUT = "POST /api/checkout"
HISTORY = "GET /api/orders/history"


@pytest.fixture(scope="module")
def sources(demo_backend: DemoBackend) -> Sources:
    return sources_for(demo_backend)


def say(text: str, sources: Sources, now: datetime = DEMO_END, chart: bool = False) -> Answer:
    reply = answer_to(text, sources, now, chart)
    assert reply.kind is not AnswerKind.ERROR, reply.headline
    return reply


def test_request_and_error_counts_are_the_workloads(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    served = requests(demo_workload, CHECKOUT, *YESTERDAY)
    before = requests(demo_workload, CHECKOUT, *DAY_BEFORE)
    reply = say("how many requests did checkout get yesterday", sources)
    assert reply.kind is AnswerKind.ANSWER
    assert reply.headline.startswith(
        f"request count of {CHECKOUT}, yesterday: {format_count(served)} — "
        f"{format_change((served - before) / before)} on the 24h before"
    )
    failed = errors(demo_workload, CHECKOUT, *YESTERDAY)
    assert failed > 0
    reply = say("how many errors on checkout yesterday", sources)
    assert f"yesterday: {format_count(failed)}" in reply.headline
    assert row(reply, "requests")[1] == format_count(served)
    reply = say("error rate of checkout yesterday", sources)
    assert f"yesterday: {format_ratio(failed / served)} — SLO 1.00% met" in reply.headline


def test_p95_lies_in_the_bucket_the_workload_puts_it_in(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    for key, phrase in ((CHECKOUT, "checkout"), (HISTORY, "order history")):
        reply = say(f"p95 of {phrase} yesterday", sources)
        value = seconds_in(reply.headline.split(": ", 1)[1])
        low, high = quantile_bucket(demo_workload, key, 0.95, *YESTERDAY)
        assert low - 0.0005 <= value <= high + 0.0005, (key, value, low, high)
        verdict = "met" if value <= 0.5 else "missed"
        assert f"SLO 500 ms {verdict}" in reply.headline
    assert "missed" in say("p95 of order history yesterday", sources).headline  # the slow index


def test_average_latency_is_the_histograms_sum_over_count(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    mean = busy_seconds(demo_workload, CHECKOUT, *YESTERDAY) / requests(
        demo_workload, CHECKOUT, *YESTERDAY)
    reply = say("avg latency of checkout yesterday", sources)
    assert f"yesterday: {format_seconds(mean)}" in reply.headline
    assert "sum of durations over its request count" in " ".join(reply.notes)


def test_a_service_adds_up_its_endpoints(sources: Sources, demo_workload: DemoWorkload) -> None:
    keys = [e.key for e in demo_workload.endpoints if e.service == "orders"]
    total = sum(requests(demo_workload, k, *YESTERDAY) for k in keys)
    reply = say("how many requests did the orders service get yesterday", sources)
    assert f"the orders service, yesterday: {format_count(total)} across 3 endpoints" in (
        reply.headline)
    assert sorted(column(reply, "ENDPOINT")) == sorted(keys)
    failed = sum(errors(demo_workload, k, *YESTERDAY) for k in keys)
    reply = say("error rate of the orders service yesterday", sources)
    assert f"yesterday: {format_ratio(failed / total)} across 3 endpoints" in reply.headline


def test_cpu_is_the_average_share_of_the_limit(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    share = cpu_share(demo_workload, "search", *YESTERDAY)
    reply = say("average cpu of search yesterday", sources)
    assert reply.headline.startswith(
        f"average CPU of the search service, yesterday: {format_share(share)} of its limit"
    )
    reply = say("cpu of checkout yesterday", sources)  # an endpoint: its service's CPU
    assert "the payments service" in reply.headline
    assert any("cpu is per service" in note for note in reply.notes)


def test_ranking_by_traffic_follows_the_workload(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    keys = [e.key for e in demo_workload.endpoints if e.route != "/healthz"]
    counts = {k: requests(demo_workload, k, *YESTERDAY) for k in keys}
    expected = sorted(keys, key=lambda k: -counts[k])[:5]
    reply = say("which endpoints have the most traffic yesterday", sources)
    assert column(reply, "ENDPOINT") == expected
    assert column(reply, "REQUEST COUNT") == [format_count(counts[k]) for k in expected]
    reply = say("bottom 3 endpoints by traffic yesterday", sources)
    quietest = sorted(keys, key=lambda k: counts[k])[:3]
    assert column(reply, "ENDPOINT") == quietest


def test_slowest_endpoints_are_ranked_by_their_p95(sources: Sources) -> None:
    reply = say("top 3 slowest endpoints yesterday", sources)
    assert reply.headline.startswith("Top 3 endpoints by p95, yesterday (highest first): ")
    values = [seconds_in(cell) for cell in column(reply, "P95")]
    assert values == sorted(values, reverse=True)
    assert column(reply, "ENDPOINT")[0] == HISTORY
    assert column(reply, "SLO")[0] == "SLO 500 ms missed"


def test_error_budget_follows_the_sre_definitions(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    served = requests(demo_workload, CHECKOUT, *YESTERDAY)
    failed = errors(demo_workload, CHECKOUT, *YESTERDAY)
    slow = served - within(demo_workload, CHECKOUT, 0.5, *YESTERDAY)
    reply = say("is checkout meeting its SLO yesterday", sources)
    assert reply.kind is AnswerKind.ANSWER
    errors_row = row(reply, "99% of requests without a 5xx")
    assert errors_row[3:5] == (format_count(0.01 * served), format_count(failed))
    assert errors_row[5] == f"{(1 - failed / (0.01 * served)) * 100:.0f}%"
    assert errors_row[6] == f"{failed / served / 0.01:.2f}"
    latency_row = row(reply, "95% of requests within 500 ms")
    assert latency_row[3:5] == (format_count(0.05 * served), format_count(slow))
    assert latency_row[6] == f"{slow / served / 0.05:.2f}"
    assert any("exact at its bucket bound" in note for note in reply.notes)


def test_the_slo_overview_names_exactly_the_endpoints_that_miss(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    keys = [e.key for e in demo_workload.endpoints if e.route != "/healthz"]
    missing = set()
    for key in keys:
        served = requests(demo_workload, key, *YESTERDAY)
        slow = served - within(demo_workload, key, 0.5, *YESTERDAY)
        if errors(demo_workload, key, *YESTERDAY) > 0.01 * served or slow > 0.05 * served:
            missing.add(key)
    assert HISTORY in missing
    reply = say("which endpoints are breaching their SLO yesterday", sources)
    verdicts = dict(zip(column(reply, "ENDPOINT"), column(reply, "VERDICT"), strict=True))
    assert {k for k, v in verdicts.items() if v == "missed"} == missing
    assert reply.headline.startswith(f"{len(missing)} of {len(keys)} endpoints miss an SLO")


def test_a_latency_step_is_a_significant_yes(sources: Sources) -> None:
    # The missing index lands at Fri 20 Nov 14:02; two hours later, compare the hours around it.
    now = datetime(2026, 11, 20, 16, 2, tzinfo=DEMO_END.tzinfo)
    reply = say("did order history get slower after 14:02?", sources, now)
    assert reply.headline.startswith(f"Yes — p95 of {HISTORY} rose ")
    assert "(significant, p<0.001)" in reply.headline
    reply = say("did the fix help? order history p95 before and after 14:02", sources, now)
    assert reply.headline.startswith(f"No — p95 of {HISTORY} rose ")
    assert any("Mann–Whitney U on 60 vs 60 per-step values" in n for n in reply.notes)


def test_a_short_error_burst_is_not_a_lasting_shift(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    reply = say("checkout error rate yesterday vs the day before", sources)
    now_ratio = errors(demo_workload, CHECKOUT, *YESTERDAY) / requests(
        demo_workload, CHECKOUT, *YESTERDAY)
    then_ratio = errors(demo_workload, CHECKOUT, *DAY_BEFORE) / requests(
        demo_workload, CHECKOUT, *DAY_BEFORE)
    cells = row(reply, "POST /api/checkout")
    assert cells[2:5] == (format_ratio(then_ratio), format_ratio(now_ratio),
                          format_change(now_ratio / then_ratio - 1))
    assert cells[5].startswith("a burst, not a lasting shift")


def test_cost_comes_from_the_cost_module_with_its_note(
    sources: Sources, demo_backend: DemoBackend
) -> None:
    window = (DEMO_END - timedelta(days=2), DEMO_END)
    entry = sources.catalog.get(CHECKOUT)
    assert entry is not None
    figures = endpoint_costs(demo_backend, sources.cost, *window, [entry.endpoint])[0]
    reply = say("how much does checkout cost per day over the last 2 days", sources)
    assert reply.headline.startswith(
        f"cost per day of {CHECKOUT}, last 2d: {format_money(figures.per_day)}")
    assert any(note.startswith("price table") for note in reply.notes)
    reply = say("most expensive endpoints over the last 2 days", sources)
    everything = endpoint_costs(demo_backend, sources.cost, *window)
    expected = [f.subject for f in sorted(everything, key=lambda f: -f.total)][:5]
    assert column(reply, "SUBJECT") == expected


def test_an_overview_sets_every_figure_against_the_day_before(
    sources: Sources, demo_workload: DemoWorkload
) -> None:
    reply = say("how is checkout doing yesterday?", sources)
    served = requests(demo_workload, CHECKOUT, *YESTERDAY)
    before = requests(demo_workload, CHECKOUT, *DAY_BEFORE)
    assert row(reply, "requests")[1:] == (format_count(served), format_count(before),
                                          format_change(served / before - 1))
    assert "p95" in reply.headline and "error ratio" in reply.headline
    reply = say("how is the payments service doing yesterday", sources)
    assert set(column(reply, "ENDPOINT")) == {CHECKOUT, "POST /api/payments/refund"}


def test_a_window_without_data_is_a_no_data_answer(sources: Sources) -> None:
    reply = answer_to("p95 of checkout on nov 10", sources, DEMO_END)
    assert reply.kind is AnswerKind.NO_DATA
    assert reply.headline.startswith(f"No data for p95 of {CHECKOUT}, Tue 10 Nov")
    reply = answer_to("checkout p95 vs last week", sources, DEMO_END)
    assert reply.kind is AnswerKind.NO_DATA
    # Where the data is, not only that there is none to compare with.
    assert ("last 24h, a week earlier has no data: it is entirely before the first sample: "
            "the data runs from Fri 20 Nov 12:00 to today 12:00") in reply.headline
    assert "metrics: nothing to compare with in last 24h, a week earlier" in reply.notes
    assert any(note.startswith("metrics: no demo data") for note in reply.notes)


def test_answers_survive_a_json_round_trip_with_their_chart(sources: Sources) -> None:
    reply = say("p95 of checkout vs yesterday", sources, chart=True)
    assert reply.chart is not None
    again = Answer.model_validate_json(reply.model_dump_json())
    assert again == reply


@pytest.mark.parametrize(
    "question",
    [
        "p95 latency of checkout over the last 24h",
        "how is checkout doing",
        "top 5 slowest endpoints",
        "which endpoints got slower since yesterday",
        "is checkout meeting its SLO over the last 2 days",
        "error rate of payments today",
        "cpu of search",
        "memory by service",
        "cost of the orders service this month",
        "projected monthly cost of payments",
        "cheapest services",
        "errors on the payments service vs yesterday",
        "checkout and login p95",
        "slos today",
        "requests per second on search",
        "peak rps on checkout yesterday",
    ],
)
def test_every_intent_gives_a_sentence_and_figures(question: str, sources: Sources) -> None:
    reply = say(question, sources)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert reply.headline.endswith(".") and "nan" not in reply.headline.lower()
    assert reply.table is not None and reply.table.rows
    assert not any("nan" in cell.lower() for r in reply.table.rows for cell in r)
    assert any(note.startswith("Read as: ") for note in reply.notes)


def test_figures_are_finite_numbers(sources: Sources) -> None:
    reply = say("p99 of checkout yesterday", sources)
    assert math.isfinite(seconds_in(reply.headline))


def test_a_threshold_between_buckets_compares_the_quantile_and_says_so(
    demo_backend: DemoBackend,
) -> None:
    settings = CatalogSettings(default_slo=SLO(
        latency=LatencySLO(quantile=0.95, threshold=parse_duration("300ms")), error_ratio=0.01,
    ))
    catalog = Catalog.build(demo_backend.endpoints(), settings)
    sources = Sources(backend=demo_backend, catalog=catalog, tz=UTC_ZONE)
    reply = say("latency SLO for checkout yesterday", sources)
    p95 = seconds_in(say("p95 of checkout yesterday", sources).headline.split(": ", 1)[1])
    verdict = "met" if p95 <= 0.3 else "missed"
    assert f"latency SLO {verdict}: p95 {format_seconds(p95)} against 300 ms" in reply.headline
    assert any("no bucket at 0.3s" in note and "no budget" in note for note in reply.notes)
    assert row(reply, "p95 ≤ 300 ms")[7] == verdict


def test_a_cost_says_nothing_of_the_span_before_it(sources: Sources) -> None:
    # A cost is never set against the span before its window; its headline said "The 2d
    # before: only …h … have data" all the same (the demo's history is shorter than 4 days).
    reply = say("how much does checkout cost over the last 2 days", sources)
    assert reply.headline.startswith(f"cost of {CHECKOUT}, last 2d: ")
    assert "before" not in reply.headline, reply.headline
    assert not [n for n in reply.notes if n.startswith("coverage")], reply.notes
