"""Answers to "X vs then", "did it get slower?", "did the fix help?".

The whole-window figures give the size of the change ("p95 fell 62%, from 1.2 s to 460 ms");
the per-step values of both windows, on the same step, say whether it is real (Mann–Whitney
U, ``analytics.compare``). A question that asks for a direction ("did it get slower?", "did
the fix help?") gets a yes or a no first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from bot.analytics.stats import relative_change
from bot.ask.changes import Change, changes_for, no_comparison
from bot.ask.context import Context, slo_target, subjects_of
from bot.ask.query import ComparisonKind, Direction, Measure, Query, Statistic
from bot.ask.series import HEADLINE_SPARK, bars_chart, line_chart, onto, spark
from bot.ask.spend import amount, column_of, cost_notes, costs_for, name_of
from bot.ask.timerange import TimeRange, span_text
from bot.ask.words import (
    UNIT_WORDS,
    how_made,
    measure_name,
    series_formatter,
    signed_percent,
    value_formatter,
    versus,
)
from bot.metrics.base import NoDataError
from bot.render.message import Answer, AnswerKind, Chart, Table
from bot.render.text import format_change, format_money


def compare_answer(ctx: Context) -> Answer:
    query = ctx.query
    if query.comparison is None:
        raise ValueError("a compare query has a comparison window")
    if query.measure is Measure.COST:
        return _cost(ctx, query.comparison)
    subjects = subjects_of(query, ctx.sources.catalog)
    if not subjects:
        raise NoDataError("the catalog has no endpoints: no traffic was recorded recently")
    measures: list[tuple[Measure, Statistic | None]] = (
        [(query.measure, query.statistic)] if query.measure is not None
        else [(Measure.LATENCY, Statistic.P95), (Measure.ERROR_RATIO, None)]
    )
    changes: list[Change] = []
    for measure, statistic in measures:
        changes.extend(changes_for(ctx, subjects, measure, statistic, query.comparison))
    usable = [c for c in changes if math.isfinite(c.new) and math.isfinite(c.old)]
    if not usable:
        return _nothing_to_compare(ctx, changes, query.comparison)
    notes = list(dict.fromkeys(how_made(c.measure, c.statistic) for c in usable))
    if query.measure is None:
        notes.insert(0, "no measure named: compared p95 latency and error ratio, the headline "
                        "takes the clearer change")
    headline_change = max(usable, key=lambda c: (c.real, c.strength))
    one = len({c.subject.column for c in usable}) == 1
    if one or (query.measure is None and len(subjects) == 1):
        close = _close_up(ctx, headline_change, query.comparison)
        headline = _one_headline(query, headline_change, query.comparison, close)
        if close is not None:
            notes.append(_close_note(close))
    else:
        headline = _many_headline(query, usable, query.comparison)
    if headline_change.difference is not None:
        notes.append(headline_change.difference.describe()
                     + f" ({headline_change.subject.label})")
    notes.append("per-step values are autocorrelated, so the p-value is optimistic: a change "
                 "is called real only when its effect size is more than negligible too")
    return Answer(
        kind=AnswerKind.ANSWER,
        headline=headline,
        table=_table(ctx, usable, query.comparison),
        chart=_chart(ctx, usable, headline_change, query.comparison),
        sparkline=spark(headline_change.after.column(headline_change.subject.column),
                        HEADLINE_SPARK),
        notes=tuple(notes),
    )


def _moved(change: Change) -> str:
    """``fell 62%, from 1.2 s to 460 ms`` / ``did not change (182 ms)``."""
    fmt = value_formatter(change.measure)
    relative = change.relative
    if relative is None:
        return f"went from {fmt(change.old)} to {fmt(change.new)}"
    text = format_change(relative)
    if text == "unchanged":
        return f"did not change ({fmt(change.new)})"
    verb = "rose" if relative > 0 else "fell"
    return f"{verb} {text.split(' ', 1)[1]}, from {fmt(change.old)} to {fmt(change.new)}"


def _one_headline(query: Query, change: Change, comparison: TimeRange,
                  close: Close | None = None) -> str:
    name = measure_name(change.measure, change.statistic)
    window = query.window
    assert window is not None
    span = versus(window, comparison)
    if query.direction is None:
        return f"{name} of {change.subject.label}, {span}: {_moved(change)} ({change.verdict()})."
    lead = f"{name} of {change.subject.label} {_moved(change)} ({change.verdict()})"
    wanted_higher = (query.direction is Direction.WORST) == change.measure.higher_is_worse
    changes = [change] if close is None else [change, close.change]
    yes = any(c.real and c.difference is not None and (c.difference.effect > 0) == wanted_higher
              for c in changes)
    if yes:
        opening = "Yes"
    elif any(_moved_towards(c, wanted_higher) for c in changes):
        # The figure did move the way asked, just not for most of the steps: never "No".
        opening = "Not clearly"
    else:
        opening = "No"
    text = f"{opening} — {lead}, {span}"
    if close is not None:
        text += f"; {_close_words(close)}"
    return text + "."


def _moved_towards(change: Change, higher: bool) -> bool:
    relative = change.relative
    return relative is not None and format_change(relative) != "unchanged" and (
        (relative > 0) == higher)


# Around a moment ("after 06:00"), a burst of half an hour is averaged away over a long
# window: the hour on each side of it, at a step that resolves minutes, shows it.
CLOSE_SPAN = timedelta(hours=1)


@dataclass(frozen=True)
class Close:
    """The figure just after a moment against just before it."""

    change: Change
    after: TimeRange
    before: TimeRange
    tz: ZoneInfo


def _close_up(ctx: Context, change: Change, comparison: TimeRange) -> Close | None:
    """The same figure in the hour after the moment against the hour before, for a
    before/after question whose windows are longer than that; None otherwise."""
    query = ctx.query
    window = query.window
    if query.comparison_kind is not ComparisonKind.BEFORE_AFTER or window is None:
        return None
    span = min(CLOSE_SPAN, window.span, comparison.span)
    if span >= window.span:
        return None
    moment = window.start
    after = TimeRange(start=moment, end=moment + span, label=f"in the {span_text(span)} after")
    before = TimeRange(start=moment - span, end=moment, label=f"in the {span_text(span)} before")
    local = Context(query.model_copy(update={"window": after}), ctx.sources, ctx.now, ctx.chart)
    try:
        found = changes_for(local, [change.subject], change.measure, change.statistic, before)
    except NoDataError:
        return None
    if not found or not math.isfinite(found[0].new):
        return None
    return Close(found[0], after, before, ctx.sources.tz)


def _close_words(close: Close) -> str:
    """``in the 1h after: 20.1% against 0.4% in the 1h before, peak 24% at 06:12``."""
    c = close.change
    fmt = value_formatter(c.measure)
    text = f"{close.after.label}: {fmt(c.new)} against {fmt(c.old)} {close.before.label}"
    series = c.after.column(c.subject.column).dropna()
    if not series.empty:
        peak = pd.DatetimeIndex(series.index)[int(series.to_numpy().argmax())].tz_convert(close.tz)
        text += f", peak {fmt(float(series.max()))} at {peak:%H:%M}"
    return text


def _close_note(close: Close) -> str:
    index = close.change.after.series.index
    step = span_text((index[1] - index[0]).to_pytimedelta()) if len(index) > 1 else "one"
    return (f"around the moment: {close.after.label} against {close.before.label}, per "
            f"{step} step ({close.change.verdict()}), so that a burst is not averaged away "
            "over the longer windows")


def _many_headline(query: Query, changes: Sequence[Change], comparison: TimeRange) -> str:
    window = query.window
    assert window is not None
    real = [c for c in changes if c.real]
    name = measure_name(changes[0].measure, changes[0].statistic)
    lead = f"{name}, {versus(window, comparison)}: "
    if not real:
        return lead + f"no significant change in any of the {len(changes)}."
    biggest = max(real, key=lambda c: abs(c.relative or 0))
    return (lead + f"{len(real)} of {len(changes)} changed significantly; biggest: "
            f"{biggest.subject.label} {_moved(biggest)} ({biggest.verdict()}).")


def _table(ctx: Context, changes: Sequence[Change], comparison: TimeRange) -> Table:
    rows = []
    for c in changes:
        fmt = value_formatter(c.measure)
        relative = c.relative
        rows.append((
            c.subject.label, measure_name(c.measure, c.statistic), fmt(c.old), fmt(c.new),
            format_change(relative) if relative is not None else "–", c.verdict(),
        ))
    return Table(
        headers=("SUBJECT", "FIGURE", comparison.label.upper(), ctx.window.label.upper(),
                 "CHANGE", "DIFFERENCE"),
        rows=tuple(rows), numeric=(2, 3),
    )


def _chart(ctx: Context, changes: Sequence[Change], main: Change, comparison: TimeRange
           ) -> Chart | None:
    if not ctx.chart:
        return None
    subjects = {c.subject.column for c in changes if c.measure is main.measure}
    name = measure_name(main.measure, main.statistic)
    if len(subjects) > 1:
        same = [c for c in changes if c.measure is main.measure]
        return bars_chart(ctx, f"change in {name}, {versus(ctx.window, comparison)}",
                          [c.subject.label for c in same],
                          [c.relative if c.relative is not None else math.nan for c in same],
                          signed_percent)
    key = main.subject.column
    return line_chart(
        ctx, f"{name} of {main.subject.label}, {versus(ctx.window, comparison)}",
        main.after.column(key), series_formatter(main.measure), label=ctx.window.label,
        comparison=onto(main.before.column(key), ctx.window, comparison),
        comparison_label=comparison.label,
        slo=slo_target(main.measure, main.statistic, main.subject),
    )


def _nothing_to_compare(ctx: Context, changes: Sequence[Change], comparison: TimeRange
                        ) -> Answer:
    return Answer(
        kind=AnswerKind.NO_DATA,
        headline=(f"No figures to compare for {ctx.window.label} and {comparison.label}: "
                  "no requests were recorded in one of them."),
        notes=tuple(f"{c.subject.label}: {measure_name(c.measure, c.statistic)} "
                    f"{value_formatter(c.measure)(c.old)} then, "
                    f"{value_formatter(c.measure)(c.new)} now" for c in changes[:5]),
    )


def _cost(ctx: Context, comparison: TimeRange) -> Answer:
    """Cost has no per-step samples to test: the change is given as it is."""
    query = ctx.query
    unit = query.cost_unit
    assert unit is not None
    subjects = subjects_of(query, ctx.sources.catalog)
    everything = query.subjects.everything
    after = {column_of(f): f for f in costs_for(ctx, subjects, everything,
                                                by_service=everything)}
    earlier_query = query.model_copy(update={"window": comparison})
    earlier_ctx = Context(earlier_query, ctx.sources, ctx.now, ctx.chart)
    try:
        before = {column_of(f): f for f in costs_for(earlier_ctx, subjects, everything,
                                                  by_service=everything)}
    except NoDataError as exc:
        raise no_comparison(comparison) from exc
    name = UNIT_WORDS[unit]
    rows = []
    labels = {s.column: s.label for s in subjects}
    for key, f in after.items():
        new = amount(f, unit, ctx)
        old = amount(before[key], unit, earlier_ctx) if key in before else math.nan
        relative = relative_change(new, old)
        rows.append((labels.get(key) or name_of(ctx, f), format_money(old, f.currency),
                     format_money(new, f.currency),
                     format_change(relative) if relative is not None else "–"))
    if not rows:
        raise NoDataError("no cost figures for what was asked")
    first = rows[0]
    headline = (f"{name} of {first[0]}, {versus(ctx.window, comparison)}: "
                f"{first[2]} vs {first[1]} — {first[3]}.")
    notes = [*cost_notes(list(after.values())),
             "cost has no per-step samples: the change is not tested for significance"]
    return Answer(
        kind=AnswerKind.ANSWER, headline=headline,
        table=Table(headers=("SUBJECT", comparison.label.upper(), ctx.window.label.upper(),
                             "CHANGE"), rows=tuple(rows), numeric=(1, 2)),
        notes=tuple(notes),
    )
