"""The help reply: what was understood, what was not, and a few questions to try.

Examples are built from what the question did name (its measure, endpoint, service, or the
catalog's suggestions for a near miss), so they sit close to what was typed, and they only
use names the catalog knows. Nothing here reads metrics: help is never a guessed answer.
"""

from __future__ import annotations

from bot.ask.query import Measure, Query
from bot.catalog import Catalog
from bot.render.message import Answer, AnswerKind

MAX_EXAMPLES = 5
MIN_EXAMPLES = 3

_GREETING = ("I answer questions about your endpoints' latency, errors, traffic, cost and SLOs, "
             "in plain words.")


def help_answer(query: Query, catalog: Catalog) -> Answer:
    endpoint, service = _names(query, catalog)
    examples = examples_for(query.measure, endpoint, service)
    notes = []
    if query.understood:
        notes.append("Understood: " + "; ".join(query.understood) + ".")
    if query.not_understood:
        notes.append("Not understood: " + "; ".join(query.not_understood) + ".")
    if query.not_understood:
        first = query.not_understood[0].rstrip(".")
        headline = f"I can't answer that as asked: {first}. Try one of these:"
    elif query.text.strip() and not _asked_for_help(query):
        headline = f"{_GREETING} I'm not sure what to look up — try one of these:"
    else:
        headline = f"{_GREETING} For example:"
    return Answer(kind=AnswerKind.HELP, headline=headline, notes=tuple(notes),
                  examples=tuple(examples))


def _asked_for_help(query: Query) -> bool:
    return any(note == "asked for help" for note in query.understood)


def _names(query: Query, catalog: Catalog) -> tuple[str, str]:
    """An endpoint and a service to put in the examples: named, suggested, else the catalog's."""
    keys = {name for e in catalog.entries for name in (e.key, e.label)}
    services = set(catalog.services)
    endpoint = next((k for k in query.subjects.endpoints if k in keys), None)
    service = next((s for s in query.subjects.services if s in services), None)
    for suggestion in query.subjects.suggestions:
        if endpoint is None and suggestion in keys:
            endpoint = suggestion
        elif service is None and suggestion in services:
            service = suggestion
    if endpoint is None and service is not None:
        members = catalog.for_service(service)
        endpoint = members[0].key if members else None
    if endpoint is None:
        endpoint = _plain_endpoint(catalog)
    if service is None:
        entry = catalog.get(endpoint)
        service = entry.service if entry is not None else (catalog.services or ("web",))[0]
    return endpoint, service


def _plain_endpoint(catalog: Catalog) -> str:
    """An endpoint whose route reads well in an example: words, no placeholder, not the root."""
    for entry in catalog.entries:
        route = entry.endpoint.route
        if len(route) > 1 and "{" not in route and ":" not in route:
            return entry.key
    return catalog.entries[0].key if catalog.entries else "/api/checkout"


def examples_for(measure: Measure | None, endpoint: str, service: str) -> list[str]:
    """3 to 5 questions, about ``measure`` first, with the names given."""
    by_measure = {
        Measure.LATENCY: [f"p95 latency of {endpoint} over the last 24h",
                          f"{endpoint} p95 vs last week", "top 5 slowest endpoints today"],
        Measure.ERROR_RATIO: [f"error rate of {endpoint} today",
                              f"how many errors on {endpoint} yesterday",
                              "worst error rates today"],
        Measure.THROUGHPUT: [f"requests per second on {endpoint}",
                             f"traffic on the {service} service this week",
                             "top 5 busiest endpoints this week"],
        Measure.COST: [f"how much does {endpoint} cost per day?",
                       f"cost of the {service} service this month",
                       "most expensive endpoints this week"],
        Measure.CPU: [f"cpu of {service}", f"memory usage of {service} this week"],
    }
    by_measure[Measure.ERROR_COUNT] = by_measure[Measure.ERROR_RATIO]
    by_measure[Measure.REQUEST_COUNT] = by_measure[Measure.THROUGHPUT]
    by_measure[Measure.MEMORY] = by_measure[Measure.CPU]
    general = [
        f"p95 latency of {endpoint} over the last 24h",
        f"error rate of {endpoint} today",
        f"is {endpoint} meeting its SLO?",
        "which endpoints got slower since last week?",
        f"cost of the {service} service this month",
    ]
    chosen = list(by_measure.get(measure, [])) if measure is not None else []
    for example in general:
        if len(chosen) >= MAX_EXAMPLES:
            break
        chosen.append(example)
    return list(dict.fromkeys(chosen))[:MAX_EXAMPLES]
