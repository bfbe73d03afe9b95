"""Answers to "what is X?": one figure for an endpoint, a service, several, or everything.

Every figure is set against the equal span just before the window ("up 12% on the 24h
before") and against the SLO when the figure is what the SLO is about.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bot.ask import timerange
from bot.ask.context import (
    Context,
    Subject,
    endpoint_subject,
    services_of,
    slo_target,
    subjects_of,
)
from bot.ask.measures import Reading, per_service, read_services, read_with_previous
from bot.ask.overview import overview_answer
from bot.ask.query import Measure, Statistic
from bot.ask.series import HEADLINE_SPARK, bars_chart, line_chart, onto, spark, spread_rows
from bot.ask.spend import cost_answer
from bot.ask.timerange import TimeRange
from bot.ask.words import (
    Formatter,
    change_on,
    change_text,
    how_made,
    measure_name,
    sentence,
    series_formatter,
    slo_words,
    value_formatter,
)
from bot.catalog import EndpointInfo
from bot.figures import series_window
from bot.metrics.base import NoDataError
from bot.render.message import Answer, AnswerKind, Table
from bot.render.text import format_count, format_share


def value_answer(ctx: Context) -> Answer:
    query = ctx.query
    if query.measure is None:
        return overview_answer(ctx)
    if query.measure is Measure.COST:
        return cost_answer(ctx)
    subjects = subjects_of(query, ctx.sources.catalog)
    if not subjects:
        raise NoDataError("the catalog has no endpoints: no traffic was recorded recently")
    if per_service(query.measure):
        return _service_measure(ctx, subjects)
    return _endpoint_measure(ctx, subjects)


# ---- latency, errors, traffic ----------------------------------------------------------------


def _endpoint_measure(ctx: Context, subjects: list[Subject]) -> Answer:
    query = ctx.query
    measure = query.measure
    assert measure is not None
    window = ctx.window
    (raw, reading), before, previous = read_with_previous(ctx, subjects, window)
    notes = [how_made(measure, query.statistic)]
    if previous is None:
        notes.append(f"no data for {before.label} to compare with")
    if len(subjects) == 1 and subjects[0].service is None:
        return _one_endpoint(ctx, subjects[0], reading, before, previous, notes)
    if len(subjects) == 1:
        return _one_service(ctx, subjects[0], raw, reading, before, previous, notes)
    return _side_by_side(ctx, subjects, reading, before, previous, notes)


def _figure_words(ctx: Context) -> tuple[Measure, str, Formatter]:
    """The question's measure, its name in sentences, and how its figures are written."""
    measure = ctx.query.measure
    assert measure is not None
    return measure, measure_name(measure, ctx.query.statistic), value_formatter(measure)


def _no_figure(ctx: Context, what: str) -> Answer:
    return Answer(
        kind=AnswerKind.NO_DATA,
        headline=f"No figures for {what}, {ctx.window.label}: no requests were recorded then.",
        notes=("the metrics have no samples for it in that window",),
    )


def _one_endpoint(
    ctx: Context,
    subject: Subject,
    reading: Reading,
    before: TimeRange,
    previous: Reading | None,
    notes: list[str],
) -> Answer:
    query = ctx.query
    measure, name, fmt = _figure_words(ctx)
    column = subject.column
    value = reading.value(column)
    if not math.isfinite(value):
        return _no_figure(ctx, f"{name} of {subject.label}")
    target = slo_target(measure, query.statistic, subject)
    old = previous.value(column) if previous is not None else math.nan
    series = reading.column(column)
    headline = sentence(f"{name} of {subject.label}, {ctx.window.label}: {fmt(value)}", [
        slo_words(value, target, fmt),
        change_on(value, old, before),
    ])
    rows = [[f"{name}, {ctx.window.label}", fmt(value)]]
    if math.isfinite(old):
        rows.append([f"{name}, {before.label}", fmt(old)])
    rows.extend(spread_rows(series, measure, ctx.sources.tz))
    if column in reading.traffic and measure is not Measure.REQUEST_COUNT:
        rows.append(["requests", format_count(reading.traffic[column])])
    previous_series = previous.column(column) if previous is not None else None
    chart = line_chart(
        ctx, f"{name} of {subject.label}, {ctx.window.label}", series, series_formatter(measure),
        label=ctx.window.label,
        comparison=onto(previous_series, ctx.window, before),
        comparison_label=before.label, slo=target,
    )
    return Answer(
        kind=AnswerKind.ANSWER, headline=headline,
        table=Table(headers=("FIGURE", "VALUE"), rows=tuple(tuple(r) for r in rows), numeric=(1,)),
        chart=chart, sparkline=spark(series, HEADLINE_SPARK), notes=tuple(notes),
    )


def _one_service(
    ctx: Context,
    subject: Subject,
    raw: Reading,
    reading: Reading,
    before: TimeRange,
    previous: Reading | None,
    notes: list[str],
) -> Answer:
    """A service: its figure over all its requests, then how its endpoints spread."""
    query = ctx.query
    measure, name, fmt = _figure_words(ctx)
    entries = {entry.column: entry for entry in subject.entries}
    values = {column: raw.value(column) for column in entries}
    known = {k: v for k, v in values.items() if math.isfinite(v)}
    if not known:
        return _no_figure(ctx, f"{name} of {subject.label}")
    count = f"{len(subject.entries)} endpoints" if len(subject.entries) > 1 else "1 endpoint"
    total = reading.value(subject.column)
    old = previous.value(subject.column) if previous is not None else math.nan
    parts = [slo_words(total, slo_target(measure, query.statistic, subject), fmt),
             change_on(total, old, before)]
    if measure is Measure.LATENCY and len(known) > 1:
        worst = max(known, key=lambda k: known[k])
        best = min(known, key=lambda k: known[k])
        # The service's figure is that of all its requests; the endpoints' own span it.
        parts.append(f"its endpoints range from {fmt(known[best])} to {fmt(known[worst])} "
                     f"(slowest {entries[worst].label})")
        notes.append(f"the service's {name} is that of all its requests: its endpoints' "
                     "histograms merged, not the slowest endpoint's figure")
    headline = sentence(
        f"{name} of {subject.label}, {ctx.window.label}: {fmt(total)} across {count}", parts)
    table = _endpoint_rows(ctx, subject.entries, raw)
    series = reading.column(subject.column)
    ordered = sorted(known, key=lambda k: -known[k])
    chart = bars_chart(ctx, f"{name} by endpoint of {subject.label}, {ctx.window.label}",
                       [entries[k].label for k in ordered], [known[k] for k in ordered], fmt,
                       highlight_over=slo_target(measure, query.statistic, subject))
    return Answer(kind=AnswerKind.ANSWER, headline=headline, table=table, chart=chart,
                  sparkline=spark(series, HEADLINE_SPARK), notes=tuple(notes))


def _side_by_side(
    ctx: Context,
    subjects: list[Subject],
    reading: Reading,
    before: TimeRange,
    previous: Reading | None,
    notes: list[str],
) -> Answer:
    query = ctx.query
    measure, name, fmt = _figure_words(ctx)
    values = {s.column: reading.value(s.column) for s in subjects}
    known = {k: v for k, v in values.items() if math.isfinite(v)}
    if not known:
        return _no_figure(ctx, f"{name} of {len(subjects)} endpoints")
    labels = {s.column: s.label for s in subjects}
    names = {s.column: s.key for s in subjects}
    missed = [
        s.label for s in subjects
        if (t := slo_target(measure, query.statistic, s)) is not None
        and math.isfinite(values[s.column]) and values[s.column] > t
    ]
    ordered = sorted(known, key=lambda k: -known[k])
    if query.subjects.everything:
        top = ordered[0]
        adjective = "highest" if measure is not Measure.LATENCY else "slowest"
        lead = f"{name} of all {len(subjects)} endpoints, {ctx.window.label}: "
        if measure in (Measure.REQUEST_COUNT, Measure.ERROR_COUNT) or (
            measure is Measure.THROUGHPUT and query.statistic is not Statistic.MAX
        ):
            lead += (f"{fmt(sum(known.values()))} in all; {adjective} {names[top]} "
                     f"{fmt(known[top])}")
        else:
            lead += f"{adjective} {names[top]} at {fmt(known[top])}"
        headline = sentence(lead, [_missed_text(missed)])
    else:
        listing = ", ".join(f"{labels[k]} {fmt(known[k])}" for k in ordered[:5])
        headline = sentence(f"{name}, {ctx.window.label}: {listing}", [_missed_text(missed)])
    table = _subject_rows(ctx, subjects, reading, before, previous)
    chart = bars_chart(ctx, f"{name}, {ctx.window.label}", [labels[k] for k in ordered],
                       [known[k] for k in ordered], fmt,
                       highlight_over=_common_target(ctx, subjects))
    return Answer(kind=AnswerKind.ANSWER, headline=headline, table=table, chart=chart,
                  notes=tuple(notes))


def _common_target(ctx: Context, subjects: Sequence[Subject]) -> float | None:
    query = ctx.query
    assert query.measure is not None
    targets = {slo_target(query.measure, query.statistic, s) for s in subjects}
    return targets.pop() if len(targets) == 1 else None


def _missed_text(missed: list[str]) -> str | None:
    if not missed:
        return None
    if len(missed) == 1:
        return f"{missed[0]} misses its SLO"
    return f"{len(missed)} miss their SLO: {', '.join(missed[:3])}" + (
        "…" if len(missed) > 3 else ""
    )


def _subject_rows(
    ctx: Context,
    subjects: Sequence[Subject],
    reading: Reading,
    before: TimeRange,
    previous: Reading | None,
) -> Table:
    query = ctx.query
    measure = query.measure
    assert measure is not None
    fmt = value_formatter(measure)
    rows = []
    for s in sorted(subjects, key=lambda s: -_sort_value(reading.value(s.column))):
        value = reading.value(s.column)
        old = previous.value(s.column) if previous is not None else math.nan
        target = slo_target(measure, query.statistic, s)
        rows.append((
            s.label, fmt(value), fmt(old) if math.isfinite(old) else "–",
            change_text(value, old) or "–",
            slo_words(value, target, fmt) or "–", spark(reading.column(s.column)),
        ))
    name = measure_name(measure, query.statistic).upper()
    return Table(headers=("SUBJECT", name, before.label.upper(), "CHANGE", "SLO", "TREND"),
                 rows=tuple(rows), numeric=(1, 2))


def _endpoint_rows(ctx: Context, entries: Sequence[EndpointInfo], raw: Reading) -> Table:
    query = ctx.query
    measure = query.measure
    assert measure is not None
    fmt = value_formatter(measure)
    rows = []
    for entry in sorted(entries, key=lambda e: -_sort_value(raw.value(e.column))):
        value = raw.value(entry.column)
        target = slo_target(measure, query.statistic, endpoint_subject(entry))
        rows.append((entry.label, fmt(value), slo_words(value, target, fmt) or "–",
                     spark(raw.column(entry.column))))
    name = measure_name(measure, query.statistic).upper()
    return Table(headers=("ENDPOINT", name, "SLO", "TREND"), rows=tuple(rows), numeric=(1,))


def _sort_value(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


# ---- CPU and memory ---------------------------------------------------------------------------


def _service_measure(ctx: Context, subjects: list[Subject]) -> Answer:
    query = ctx.query
    measure = query.measure
    assert measure is not None
    window = ctx.window
    services = services_of(subjects)
    notes = [how_made(measure, query.statistic)]
    named = [s.key for s in subjects if s.service is None and not query.subjects.everything]
    if named:
        notes.append(f"{measure.value} is per service: {', '.join(named)} "
                     f"{'runs' if len(named) == 1 else 'run'} in {', '.join(services)}")
    reading = read_services(ctx.backend, measure, query.statistic, services, window.start,
                            window.end)
    before = ctx.before or timerange.previous(window)
    try:
        grid = series_window(window.start, window.end)
        previous: Reading | None = read_services(
            ctx.backend, measure, query.statistic, services, before.start, before.end,
            series=series_window(before.start, before.end, grid.step),
        )
    except NoDataError:
        previous = None
        notes.append(f"no data for {before.label} to compare with")
    name = measure_name(measure, query.statistic)
    if len(services) == 1:
        service = services[0]
        value = reading.value(service)
        if not math.isfinite(value):
            return _no_figure(ctx, f"{name} of the {service} service")
        series = reading.column(service)
        old = previous.value(service) if previous is not None else math.nan
        peak = float(np.nanmax(series.to_numpy(dtype=float)))
        how = "at its peak" if query.statistic is Statistic.MAX else "on average"
        headline = sentence(
            f"{name} of the {service} service, {window.label}: {format_share(value)} of its "
            f"limit {how}",
            [f"peak {format_share(peak)}" if query.statistic is not Statistic.MAX else None,
             change_on(value, old, before)],
        )
        rows = [[f"{name}, {window.label}", format_share(value)]]
        if math.isfinite(old):
            rows.append([f"{name}, {before.label}", format_share(old)])
        rows.extend(spread_rows(series, measure, ctx.sources.tz))
        previous_series = previous.column(service) if previous is not None else None
        chart = line_chart(
            ctx, f"{name} of {service} (share of its limit), {window.label}", series,
            format_share, label=window.label,
            comparison=onto(previous_series, window, before), comparison_label=before.label,
        )
        return Answer(
            kind=AnswerKind.ANSWER, headline=headline,
            table=Table(headers=("FIGURE", "VALUE"), rows=tuple(tuple(r) for r in rows),
                        numeric=(1,)),
            chart=chart, sparkline=spark(series, HEADLINE_SPARK), notes=tuple(notes),
        )
    known = {s: reading.value(s) for s in services if math.isfinite(reading.value(s))}
    if not known:
        return _no_figure(ctx, f"{name} of {len(services)} services")
    ordered = sorted(known, key=lambda s: -known[s])
    listing = ", ".join(f"{s} {format_share(known[s])}" for s in ordered[:5])
    headline = f"{name} (share of the limit), {window.label}: {listing}."
    service_rows = []
    for service in ordered:
        old = previous.value(service) if previous is not None else math.nan
        service_rows.append((service, format_share(known[service]),
                     format_share(old) if math.isfinite(old) else "–",
                     change_text(known[service], old) or "–", spark(reading.column(service))))
    table = Table(headers=("SERVICE", name.upper(), before.label.upper(), "CHANGE", "TREND"),
                  rows=tuple(service_rows), numeric=(1, 2))
    chart = bars_chart(ctx, f"{name} (share of the limit), {window.label}", ordered,
                       [known[s] for s in ordered], format_share)
    return Answer(kind=AnswerKind.ANSWER, headline=headline, table=table, chart=chart,
                  notes=tuple(notes))
