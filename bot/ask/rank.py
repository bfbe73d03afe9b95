"""Answers to "top 5 slowest endpoints", "which endpoints got slower?", "cheapest services".

By level: the measure in the window, highest first for "worst" (slowest, most errors, most
expensive, busiest), lowest first for "best". By change: the relative change against the
comparison window, largest rise first for "worst" ("got slower"), largest fall first for
"best" ("improved"), each tested for being real. Endpoints with no figure (no traffic) are
left out, and the notes say how many.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.ask.changes import Change, changes_for
from bot.ask.context import (
    Context,
    Subject,
    all_endpoints,
    endpoint_subject,
    service_subject,
    slo_target,
    subjects_of,
)
from bot.ask.measures import per_service, read_services, read_subjects
from bot.ask.query import Direction, GroupBy, Measure, RankBy, Statistic
from bot.ask.series import bars_chart, spark
from bot.ask.spend import column_of, cost_notes, name_of, rank_costs
from bot.ask.spend import table_of as cost_table
from bot.ask.words import (
    UNIT_WORDS,
    how_made,
    measure_name,
    signed_percent,
    slo_words,
    value_formatter,
    versus,
)
from bot.metrics.base import NoDataError
from bot.render.message import Answer, AnswerKind, Table
from bot.render.text import format_change, format_money


def rank_answer(ctx: Context) -> Answer:
    query = ctx.query
    measure = query.measure
    if measure is None or query.limit is None:
        raise ValueError("a rank query has a measure and a limit")
    by_service = query.group_by is GroupBy.SERVICE or per_service(measure)
    if measure is Measure.COST:
        return _cost(ctx, by_service)
    subjects = _candidates(ctx, by_service)
    if not subjects:
        raise NoDataError("the catalog has no endpoints: no traffic was recorded recently")
    if query.rank_by is RankBy.CHANGE and query.comparison is not None:
        return _by_change(ctx, subjects)
    return _by_level(ctx, subjects, by_service)


def _candidates(ctx: Context, by_service: bool) -> list[Subject]:
    """What is ranked: endpoints (of the named services, or all), or services."""
    catalog = ctx.sources.catalog
    entries = all_endpoints(subjects_of(ctx.query, catalog))
    if not by_service:
        return [endpoint_subject(e) for e in entries]
    services = list(dict.fromkeys(e.service for e in entries))
    return [service_subject(name, catalog.for_service(name)) for name in services]


def _noun(ctx: Context, by_service: bool) -> str:
    return "services" if by_service else "endpoints"


def _order_words(ctx: Context) -> str:
    return "lowest first" if ctx.query.direction is Direction.BEST else "highest first"


def _by_level(ctx: Context, subjects: list[Subject], by_service: bool) -> Answer:
    query = ctx.query
    measure = query.measure
    assert measure is not None and query.limit is not None
    window = ctx.window
    # Endpoints are ranked on their one-point figures; only the shown ones' series are read
    # (for the sparklines), unless the figure is a peak of the series (max).
    later_series = not per_service(measure) and query.statistic is not Statistic.MAX
    if per_service(measure):
        reading = read_services(ctx.backend, measure, query.statistic, [s.key for s in subjects],
                                window.start, window.end)
    else:
        reading = read_subjects(ctx, subjects, window, with_series=not later_series)[1]
    values = {s.column: reading.value(s.column) for s in subjects}
    ranked = [s for s in subjects if math.isfinite(values[s.column])]
    ranked.sort(key=lambda s: values[s.column], reverse=query.direction is not Direction.BEST)
    if not ranked:
        raise NoDataError(f"no {measure_name(measure, query.statistic)} figures for any of "
                          f"the {len(subjects)} {_noun(ctx, by_service)} in {window.label}")
    top = ranked[: query.limit]
    if later_series:
        reading = read_subjects(ctx, top, window, with_figures=False)[1]
    fmt = value_formatter(measure)
    name = measure_name(measure, query.statistic)
    targets = {s.column: slo_target(measure, query.statistic, s) if not by_service else None
               for s in top}
    with_slo = any(t is not None for t in targets.values())
    rows = []
    for place, s in enumerate(top, start=1):
        slo_cell = ([slo_words(values[s.column], targets[s.column], fmt) or "–"] if with_slo
                    else [])
        rows.append((str(place), s.key, fmt(values[s.column]), *slo_cell,
                     spark(reading.column(s.column))))
    noun = _noun(ctx, by_service)
    listing = ", ".join(f"{s.key} {fmt(values[s.column])}" for s in top[:3])
    headline = (f"Top {len(top)} {noun} by {name}, {window.label} ({_order_words(ctx)}): "
                f"{listing}{_more(top)}.")
    notes = [how_made(measure, query.statistic)]
    left_out = len(subjects) - len(ranked)
    if left_out:
        notes.append(f"{left_out} {noun} had no figure in the window (no traffic) and are "
                     "not ranked")
    if by_service and measure is Measure.LATENCY:
        notes.append("a service's latency is that of all its requests (its endpoints' "
                     "histograms merged), not its slowest endpoint's")
    if per_service(measure) and query.group_by is not GroupBy.SERVICE:
        notes.append(f"{measure.value} is per service: services are ranked")
    lines = set(targets.values())
    chart = bars_chart(ctx, f"top {len(top)} {noun} by {name}, {window.label}",
                       [s.key for s in top], [values[s.column] for s in top], fmt,
                       highlight_over=lines.pop() if len(lines) == 1 else None)
    headers = ("#", noun[:-1].upper(), name.upper(), *(("SLO",) if with_slo else ()), "TREND")
    return Answer(
        kind=AnswerKind.ANSWER, headline=headline,
        table=Table(headers=headers, rows=tuple(rows), numeric=(0, 2)),
        chart=chart, notes=tuple(notes),
    )


def _by_change(ctx: Context, subjects: list[Subject]) -> Answer:
    query = ctx.query
    measure = query.measure
    comparison = query.comparison
    assert measure is not None and query.limit is not None and comparison is not None
    window = ctx.window
    changes = changes_for(ctx, subjects, measure, query.statistic, comparison)
    known = [c for c in changes if c.relative is not None]
    rising = query.direction is not Direction.BEST
    ranked = sorted(known, key=lambda c: c.relative or 0.0, reverse=rising)
    # Below half a percent a change reads "unchanged": not worth a place in the list.
    moved = [c for c in ranked if (c.relative or 0.0) * (1 if rising else -1) >= 0.005]
    name = measure_name(measure, query.statistic)
    noun = "services" if per_service(measure) else "endpoints"
    span = versus(window, comparison)
    notes = [how_made(measure, query.statistic),
             "each change tested with Mann–Whitney U on the per-step values of both windows"]
    left_out = len(changes) - len(known)
    if left_out:
        notes.append(f"{left_out} {noun} had no figure in one of the windows and are not ranked")
    if not ranked:
        raise NoDataError(f"no {name} figures in both windows for any of the {len(changes)} "
                          f"{noun}")
    if moved:
        top = moved[: query.limit]
        real = [c for c in top if c.real]
        word = "rises" if rising else "falls"
        listing = ", ".join(f"{c.subject.key} {format_change(c.relative)}" for c in top[:3])
        headline = f"Biggest {name} {word}, {span}: {listing}"
        if real:
            headline += f" — {len(real)} of {len(top)} significant."
        else:
            headline += " — none of them significant."
    else:
        top = ranked[: query.limit]  # the closest to what was asked, to show how close
        way = "rose" if rising else "fell"
        headline = (f"No {noun[:-1]}'s {name} {way}, {span}; the nearest: {top[0].subject.key} "
                    f"{format_change(top[0].relative)}.")
    rows = tuple(_change_row(place, c) for place, c in enumerate(top, start=1))
    chart = bars_chart(ctx, f"{name} change, {span}", [c.subject.key for c in top],
                       [c.relative or 0.0 for c in top], signed_percent)
    return Answer(
        kind=AnswerKind.ANSWER, headline=headline,
        table=Table(headers=("#", noun[:-1].upper(), comparison.label.upper(),
                             window.label.upper(), "CHANGE", "DIFFERENCE"),
                    rows=rows, numeric=(0, 2, 3)),
        chart=chart, notes=tuple(notes),
    )


def _change_row(place: int, change: Change) -> tuple[str, ...]:
    fmt = value_formatter(change.measure)
    return (str(place), change.subject.key, fmt(change.old), fmt(change.new),
            format_change(change.relative), change.verdict())


def _cost(ctx: Context, by_service: bool) -> Answer:
    query = ctx.query
    assert query.limit is not None
    unit = query.cost_unit
    assert unit is not None
    subjects = subjects_of(query, ctx.sources.catalog)
    figures, values = rank_costs(ctx, subjects, by_service)
    if not figures:
        raise NoDataError("no cost figures for what was asked")
    top = figures[: query.limit]
    name = UNIT_WORDS[unit]
    noun = "services" if by_service else "endpoints"
    currency = top[0].currency
    listing = ", ".join(f"{name_of(ctx, f)} {format_money(values[column_of(f)], currency)}"
                        for f in top[:3])
    headline = (f"Top {len(top)} {noun} by {name}, {ctx.window.label} "
                f"({_order_words(ctx)}): {listing}{_more(top)}.")
    chart = bars_chart(ctx, f"{name} by {noun[:-1]}, {ctx.window.label}",
                       [name_of(ctx, f) for f in top], [values[column_of(f)] for f in top],
                       lambda v: format_money(v, currency))
    return Answer(kind=AnswerKind.ANSWER, headline=headline, table=cost_table(ctx, top),
                  chart=chart, notes=tuple(cost_notes(top)))


def _more(top: Sequence[object]) -> str:
    return f" and {len(top) - 3} more" if len(top) > 3 else ""
