"""Answers to "how is X doing?": latency, errors and traffic at once, against the SLOs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from bot.ask import timerange
from bot.ask.context import Context, all_endpoints, subjects_of
from bot.ask.series import HEADLINE_SPARK, bars_chart, line_chart, onto, spark
from bot.ask.words import change_text, sentence
from bot.catalog import EndpointInfo
from bot.figures import series_window, whole_window
from bot.metrics import batch
from bot.metrics.base import NoDataError, Window
from bot.render.message import Answer, AnswerKind, Table
from bot.render.text import format_count, format_rate, format_ratio, format_seconds

_QUANTILE_COLUMNS = {0.5: "p50", 0.95: "p95", 0.99: "p99"}


def overview_answer(ctx: Context) -> Answer:
    subjects = subjects_of(ctx.query, ctx.sources.catalog)
    entries = all_endpoints(subjects)
    if not entries:
        raise NoDataError("the catalog has no endpoints: no traffic was recorded recently")
    window = ctx.window
    before = ctx.before or timerange.previous(window)
    whole = whole_window(window.start, window.end)
    endpoints = [e.endpoint for e in entries]

    def earlier() -> pd.DataFrame | None:
        try:
            return ctx.backend.summary(whole.end - whole.lookback, whole.lookback, endpoints)
        except NoDataError:
            return None

    scope = batch.current()
    if scope is not None:  # the two windows' figures: one query of two points
        scope.join(Window.figure(whole.end - whole.lookback, whole.lookback), whole)
    # Independent reads: they wait for the server at the same time.
    current, previous, p95 = batch.run_all(
        lambda: ctx.backend.summary(whole.end, whole.lookback, endpoints), earlier,
        lambda: _p95_series(ctx, entries))
    notes = [
        "p50, p95 and p99 over all requests in the window; error ratio: 5xx over all "
        "requests; throughput: requests per second averaged over the window",
    ]
    if previous is None:
        notes.append(f"no data for {before.label} to compare with")
    if len(entries) == 1 and len(subjects) == 1 and subjects[0].service is None:
        return _one(ctx, entries[0], current, previous, p95, before, notes)
    return _many(ctx, entries, current, previous, p95, before, notes)


def _p95_series(ctx: Context, entries: Sequence[EndpointInfo]) -> pd.DataFrame | None:
    window = series_window(ctx.window.start, ctx.window.end)
    try:
        return ctx.backend.latency(window, 0.95, [e.endpoint for e in entries])
    except NoDataError:
        return None


def _figure(frame: pd.DataFrame | None, row: str, column: str) -> float:
    """A summary figure; ``row`` is the endpoint's ``Endpoint.column``."""
    if frame is None or row not in frame.index:
        return math.nan
    value = frame.at[row, column]
    return float(value) if isinstance(value, int | float) else math.nan


def latency_check(entry: EndpointInfo, frame: pd.DataFrame | None) -> tuple[str, float, float
                                                                            ] | None:
    """(column, value, threshold) for the endpoint's latency SLO, when the summary has it."""
    slo = entry.slo.latency
    if slo is None:
        return None
    column = next((c for q, c in _QUANTILE_COLUMNS.items() if math.isclose(q, slo.quantile)),
                  None)
    if column is None:
        return None
    return column, _figure(frame, entry.column, column), slo.threshold.total_seconds()


def slo_problems(entry: EndpointInfo, frame: pd.DataFrame | None) -> list[str]:
    """What misses its SLO, in words: ``p95 612 ms > 500 ms``."""
    problems = []
    check = latency_check(entry, frame)
    if check is not None:
        column, value, threshold = check
        if math.isfinite(value) and value > threshold:
            problems.append(f"{column} {format_seconds(value)} > {format_seconds(threshold)}")
    target = entry.slo.error_ratio
    ratio = _figure(frame, entry.column, "error_ratio")
    if target is not None and math.isfinite(ratio) and ratio > target:
        problems.append(f"errors {format_ratio(ratio)} > {format_ratio(target)}")
    return problems


def _one(
    ctx: Context,
    entry: EndpointInfo,
    current: pd.DataFrame,
    previous: pd.DataFrame | None,
    p95: pd.DataFrame | None,
    before: timerange.TimeRange,
    notes: list[str],
) -> Answer:
    key = entry.column
    name = entry.label
    window = ctx.window
    seconds = window.span.total_seconds()
    rate = _figure(current, key, "throughput")
    if not math.isfinite(rate) or rate <= 0:
        return Answer(kind=AnswerKind.NO_DATA,
                      headline=f"No requests to {name}, {window.label}: nothing to report.",
                      notes=("the metrics have no samples for it in that window",))
    value = _figure(current, key, "p95")
    parts: list[str | None] = []
    check = latency_check(entry, current)
    lead = f"{name}, {window.label}: p95 {format_seconds(value)}"
    if check is not None and check[0] == "p95":
        verdict = "met" if value <= check[2] else "missed"
        lead += f" (SLO {format_seconds(check[2])} {verdict})"
    elif check is not None:
        column, figure, threshold = check
        verdict = "met" if figure <= threshold else "missed"
        parts.append(f"{column} {format_seconds(figure)} (SLO {format_seconds(threshold)} "
                     f"{verdict})")
    ratio = _figure(current, key, "error_ratio")
    errors = f"error ratio {format_ratio(ratio)}"
    if entry.slo.error_ratio is not None and math.isfinite(ratio):
        verdict = "met" if ratio <= entry.slo.error_ratio else "missed"
        errors += f" (SLO {format_ratio(entry.slo.error_ratio)} {verdict})"
    parts.append(errors)
    parts.append(f"{format_rate(rate)}, {format_count(rate * seconds, 'request')}")
    change = change_text(value, _figure(previous, key, "p95"))
    if change:
        parts.append(f"p95 {change} on {before.label}")
    rows = []
    for column, title, fmt in (
        ("p50", "p50", format_seconds), ("p95", "p95", format_seconds),
        ("p99", "p99", format_seconds), ("error_ratio", "error ratio", format_ratio),
        ("throughput", "throughput", format_rate),
    ):
        now_value = _figure(current, key, column)
        old = _figure(previous, key, column)
        rows.append((title, fmt(now_value), fmt(old) if math.isfinite(old) else "–",
                     change_text(now_value, old) or "–"))
    old_rate = _figure(previous, key, "throughput")
    rows.append(("requests", format_count(rate * seconds),
                 format_count(old_rate * seconds) if math.isfinite(old_rate) else "–",
                 change_text(rate, old_rate) or "–"))
    series = p95[key] if p95 is not None and key in p95.columns else None
    chart = None
    if series is not None and ctx.chart:
        earlier = None
        try:
            grid = series_window(window.start, window.end)
            steps = series_window(before.start, before.end, grid.step)
            earlier = ctx.backend.latency(steps, 0.95, [entry.endpoint])[key]
        except NoDataError:
            pass
        slo_line = check[2] if check is not None and check[0] == "p95" else None
        chart = line_chart(ctx, f"p95 of {name}, {window.label}", series, format_seconds,
                           label=window.label, comparison=onto(earlier, window, before),
                           comparison_label=before.label, slo=slo_line)
    return Answer(
        kind=AnswerKind.ANSWER,
        headline=sentence(lead, parts),
        table=Table(headers=("FIGURE", window.label.upper(), before.label.upper(), "CHANGE"),
                    rows=tuple(rows), numeric=(1, 2)),
        chart=chart,
        sparkline=spark(series, HEADLINE_SPARK),
        notes=tuple(notes),
    )


def _many(
    ctx: Context,
    entries: Sequence[EndpointInfo],
    current: pd.DataFrame,
    previous: pd.DataFrame | None,
    p95: pd.DataFrame | None,
    before: timerange.TimeRange,
    notes: list[str],
) -> Answer:
    window = ctx.window
    seconds = window.span.total_seconds()
    # Figures by ``Endpoint.column``; people see ``labels``.
    labels = {e.column: e.label for e in entries}
    rates = {e.column: _figure(current, e.column, "throughput") for e in entries}
    served = {k: r for k, r in rates.items() if math.isfinite(r) and r > 0}
    if not served:
        return Answer(kind=AnswerKind.NO_DATA,
                      headline=f"No requests to {_who(ctx, entries)}, {window.label}.",
                      notes=("the metrics have no samples for them in that window",))
    requests = sum(served.values()) * seconds
    errors = sum(r * _zero(_figure(current, k, "error_ratio")) for k, r in served.items()) * seconds
    problems = {e.column: slo_problems(e, current) for e in entries}
    missing = [k for k, found in problems.items() if found]
    slowest = max(served, key=lambda k: _zero(_figure(current, k, "p95")))
    lead = (
        f"{_who(ctx, entries)}, {window.label}: {format_count(requests, 'request')}, error "
        f"ratio {format_ratio(errors / requests if requests else math.nan)}, slowest "
        f"{labels[slowest]} (p95 {format_seconds(_figure(current, slowest, 'p95'))})"
    )
    if missing:
        listed = "; ".join(f"{labels[k]} ({', '.join(problems[k])})" for k in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        verdict = (f"{len(missing)} of {len(entries)} miss an SLO: {listed}{more}"
                   if len(entries) > 1 else f"SLO missed: {listed}")
    else:
        verdict = "all within SLO"
    rows = []
    ordered = sorted(entries, key=lambda e: -_zero(_figure(current, e.column, "p95")))
    for entry in ordered:
        key = entry.column
        old = _figure(previous, key, "p95")
        now_p95 = _figure(current, key, "p95")
        series = p95[key] if p95 is not None and key in p95.columns else None
        rows.append((
            entry.label, entry.service, format_seconds(now_p95),
            change_text(now_p95, old) or "–",
            format_ratio(_figure(current, key, "error_ratio")),
            format_rate(rates[key]),
            "missed: " + ", ".join(problems[key]) if problems[key] else "met",
            spark(series),
        ))
    table = Table(
        headers=("ENDPOINT", "SERVICE", "P95", f"P95 VS {before.label.upper()}", "ERRORS",
                 "TRAFFIC", "SLO", "P95 TREND"),
        rows=tuple(rows), numeric=(2, 4, 5),
    )
    chart = bars_chart(ctx, f"p95 by endpoint, {window.label}", [e.label for e in ordered],
                       [_figure(current, e.column, "p95") for e in ordered], format_seconds)
    return Answer(kind=AnswerKind.ANSWER, headline=sentence(lead, [verdict]), table=table,
                  chart=chart, notes=tuple(notes))


def _who(ctx: Context, entries: Sequence[EndpointInfo]) -> str:
    query = ctx.query
    if query.subjects.everything:
        return f"All {len(entries)} endpoints"
    if len(query.subjects.services) == 1 and not query.subjects.endpoints:
        return f"The {query.subjects.services[0]} service ({len(entries)} endpoints)"
    return f"{len(entries)} endpoints"


def _zero(value: float) -> float:
    return value if math.isfinite(value) else 0.0
