"""Answers about cost: what an endpoint, a service or everything cost, per day, per 1k requests.

The figures come from ``bot.cost`` (OpenCost, or the price table on measured usage, shared
out to endpoints by busy time); every answer carries its one-line note of how.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.ask.context import Context, Subject, subjects_of
from bot.ask.query import CostUnit, Direction
from bot.ask.series import bars_chart
from bot.ask.words import UNIT_WORDS, sentence
from bot.cost import CostFigures, endpoint_costs, service_costs
from bot.metrics.base import Endpoint, NoDataError
from bot.render.message import Answer, AnswerKind, Table
from bot.render.text import format_count, format_money


def amount(figures: CostFigures, unit: CostUnit, ctx: Context) -> float:
    """The figure in the unit asked for; NaN for per-1k-requests without requests."""
    if unit is CostUnit.PER_DAY:
        return figures.per_day
    if unit is CostUnit.PER_1K_REQUESTS:
        per_1k = figures.per_1k_requests
        return math.nan if per_1k is None else per_1k
    if unit is CostUnit.PROJECTED_MONTH:
        return figures.projected_month(ctx.now, ctx.sources.tz)
    return figures.total


def costs_for(ctx: Context, subjects: Sequence[Subject], everything: bool,
              by_service: bool = False) -> list[CostFigures]:
    """Cost figures per subject (every endpoint, or every service, when ``everything``)."""
    window = ctx.window
    backend, prices, known = ctx.backend, ctx.sources.cost, catalog_endpoints(ctx)
    if everything:
        if by_service:
            return service_costs(backend, prices, window.start, window.end, known=known)
        return endpoint_costs(backend, prices, window.start, window.end, known=known)
    figures: dict[str, CostFigures] = {}
    endpoints = [s.entries[0].endpoint for s in subjects if s.service is None]
    services = [s.service for s in subjects if s.service is not None]
    if endpoints:
        for f in endpoint_costs(backend, prices, window.start, window.end, endpoints,
                                known=known):
            figures[column_of(f)] = f
    if services:
        for f in service_costs(backend, prices, window.start, window.end, services,
                               known=known):
            figures[column_of(f)] = f
    return [figures[s.column] for s in subjects if s.column in figures]


def catalog_endpoints(ctx: Context) -> list[Endpoint]:
    """The endpoints the bot discovered (its catalog's, refreshed on its own schedule,
    excluded ones too): an answer shares a service's cost among them without discovering
    them again (one request per answer, issue 13)."""
    return list(ctx.sources.catalog.discovered)


def column_of(figures: CostFigures) -> str:
    """Which subject the figures are about, as ``Subject.column`` names it."""
    return figures.endpoint.column if figures.endpoint is not None else figures.subject


def name_of(ctx: Context, figures: CostFigures) -> str:
    """The figures' subject for people: an endpoint's catalog label, or the service name."""
    if figures.endpoint is None:
        return figures.subject
    entry = ctx.sources.catalog.entry(figures.endpoint)
    return entry.label if entry is not None else figures.subject


def cost_answer(ctx: Context) -> Answer:
    query = ctx.query
    unit = query.cost_unit or CostUnit.TOTAL
    subjects = subjects_of(query, ctx.sources.catalog)
    everything = query.subjects.everything
    figures = costs_for(ctx, subjects, everything, by_service=everything)
    if not figures:
        raise NoDataError("no cost figures for what was asked")
    currency = figures[0].currency
    name = UNIT_WORDS[unit]
    window = ctx.window
    labels = {s.column: s.label for s in subjects}
    notes = cost_notes(figures)
    if unit is CostUnit.PROJECTED_MONTH:
        month = ctx.now.astimezone(ctx.sources.tz)
        notes.append(f"projected: the daily run rate of {window.label} times the days of "
                     f"{month:%B}")
    values = {column_of(f): amount(f, unit, ctx) for f in figures}

    def label(f: CostFigures) -> str:
        return labels.get(column_of(f)) or name_of(ctx, f)

    if len(figures) == 1 and not everything:
        f = figures[0]
        value = values[column_of(f)]
        if not math.isfinite(value):
            return Answer(kind=AnswerKind.NO_DATA,
                          headline=f"No {name} for {label(f)}, "
                                   f"{window.label}: it served no requests then.",
                          notes=tuple(notes))
        headline = sentence(
            f"{name} of {label(f)}, {_when(ctx, unit)}: "
            f"{format_money(value, currency)}",
            [_context(f, unit, currency)],
        )
        return Answer(kind=AnswerKind.ANSWER, headline=headline, table=table_of(ctx, figures),
                      notes=tuple(notes))
    ordered = sorted(figures, key=lambda f: -_finite(values[column_of(f)]))
    total = sum(f.total for f in figures)
    what = "all services" if everything else f"{len(figures)} subjects"
    listing = ", ".join(
        f"{label(f)} {format_money(values[column_of(f)], currency)}"
        for f in ordered[:3]
    )
    lead = f"{name} of {what}, {_when(ctx, unit)}: "
    lead += (f"{format_money(total, currency)} in all — {listing}" if unit is CostUnit.TOTAL
             else listing)
    chart = bars_chart(ctx, f"{name}, {window.label}",
                       [label(f) for f in ordered],
                       [values[column_of(f)] for f in ordered],
                       lambda v: format_money(v, currency))
    return Answer(kind=AnswerKind.ANSWER, headline=lead + ".", table=table_of(ctx, ordered),
                  chart=chart, notes=tuple(notes))


def rank_costs(ctx: Context, subjects: Sequence[Subject], by_service: bool
               ) -> tuple[list[CostFigures], dict[str, float]]:
    """Endpoints' (or services') costs with a figure, ordered as the ranking asks; the
    figures by ``column_of``."""
    query = ctx.query
    unit = query.cost_unit or CostUnit.TOTAL
    window = ctx.window
    backend, prices = ctx.backend, ctx.sources.cost
    everything = query.subjects.everything
    if by_service:
        names = None if everything else list(dict.fromkeys(e.service for s in subjects
                                                             for e in s.entries))
        figures = service_costs(backend, prices, window.start, window.end, names,
                                known=catalog_endpoints(ctx))
    else:
        # "costliest endpoints in payments": the services' endpoints, each on its own.
        endpoints = None if everything else [e.endpoint for s in subjects for e in s.entries]
        figures = endpoint_costs(backend, prices, window.start, window.end, endpoints,
                                 known=catalog_endpoints(ctx))
    values = {column_of(f): amount(f, unit, ctx) for f in figures}
    known = [f for f in figures if math.isfinite(values[column_of(f)])]
    known.sort(key=lambda f: values[column_of(f)],
               reverse=query.direction is not Direction.BEST)
    return known, values


def cost_notes(figures: Sequence[CostFigures]) -> list[str]:
    """How the figures were made, once: several endpoints differ only in their share."""
    shared = "; shared by busy time"
    notes = list(dict.fromkeys(f.note.split(shared)[0] for f in figures))
    if len(figures) > 1 and any(shared in f.note for f in figures):
        notes.append("an endpoint's cost is its share of its service's cost by busy time "
                     "(the seconds spent answering its requests)")
    elif len(figures) == 1:
        notes = [figures[0].note]
    return notes


def table_of(ctx: Context, figures: Sequence[CostFigures]) -> Table:
    rows = []
    for f in figures:
        per_1k = f.per_1k_requests
        rows.append((
            name_of(ctx, f), format_money(f.total, f.currency),
            format_money(f.per_day, f.currency),
            format_money(per_1k, f.currency) if per_1k is not None else "–",
            format_money(f.projected_month(ctx.now, ctx.sources.tz), f.currency),
            format_count(f.requests),
        ))
    return Table(
        headers=("SUBJECT", f"TOTAL, {ctx.window.label.upper()}", "PER DAY", "PER 1K REQUESTS",
                 "PROJECTED MONTH", "REQUESTS"),
        rows=tuple(rows), numeric=(1, 2, 3, 4, 5),
    )


def _when(ctx: Context, unit: CostUnit) -> str:
    if unit is CostUnit.PROJECTED_MONTH:
        return f"for {ctx.now.astimezone(ctx.sources.tz):%B} (run rate of {ctx.window.label})"
    return ctx.window.label


def _context(f: CostFigures, unit: CostUnit, currency: str) -> str | None:
    if unit is CostUnit.TOTAL:
        return f"{format_money(f.per_day, currency)} a day"
    if unit is CostUnit.PER_1K_REQUESTS:
        return f"{format_count(f.requests, 'request')} for {format_money(f.total, currency)}"
    if unit is CostUnit.PER_DAY:
        return f"{format_money(f.total, currency)} over the window"
    return None


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf
