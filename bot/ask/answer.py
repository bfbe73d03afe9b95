"""``Query`` → ``Answer``: the figures a question asks for, as transport-neutral data.

``answer`` never raises for a metrics failure: a server that is down or refuses a query is
an answer of kind ``error``, a window without samples one of kind ``no_data``, each with a
sentence that says what happened. ``ask`` parses and answers in one call.

Only names from the ``Query`` (which hold catalog keys and service names, never the asker's
text) select metrics, so nothing typed reaches the metrics server.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import replace
from datetime import datetime

from bot.ask import timerange
from bot.ask.context import Context, Sources, all_endpoints, subjects_of
from bot.ask.coverage import (
    STALE_AFTER,
    Coverage,
    coverage,
    coverage_words,
    coverages,
    data_range,
    last_sample,
    nothing_before_words,
    outside_words,
    stale_words,
    trimmed,
)
from bot.ask.helping import help_answer
from bot.ask.parsing.parser import parse
from bot.ask.query import Intent, Measure, Query
from bot.ask.timerange import TimeRange
from bot.ask.value import value_answer
from bot.ask.words import measure_name
from bot.metrics import batch
from bot.metrics.base import Endpoint, MetricsError, NoDataError, UnreachableError
from bot.render.message import Answer, AnswerKind

__all__ = ["Sources", "answer", "ask", "no_catalog_answer"]

log = logging.getLogger(__name__)


def ask(text: str, sources: Sources, now: datetime, *, chart: bool = False) -> Answer:
    """Parse ``text`` against the catalog and answer it, in the sources' time zone."""
    query = parse(text, sources.catalog, now, sources.tz)
    return answer(query, sources, now, chart=chart)


def answer(query: Query, sources: Sources, now: datetime, *, chart: bool = False) -> Answer:
    """The answer to ``query`` at ``now``; ``chart`` also draws the PNG (slower)."""
    if query.intent is Intent.HELP:
        return help_answer(query, sources.catalog)
    ctx = Context(query=query, sources=sources, now=now, chart=chart)
    try:
        with batch.one_answer():
            reply = _dispatch(ctx)
    except NoDataError as exc:
        cause = exc.__cause__
        causes = [f"metrics: {cause.public}"] if isinstance(cause, MetricsError) else []
        outside = _outside(ctx)
        if outside is not None:
            # Say where the data is, not "set metrics.names.histogram" for a correct config.
            return Answer(
                kind=AnswerKind.NO_DATA,
                headline=f"No data for {describe(query)}: {outside}.",
                notes=(f"metrics: {exc.public}", *causes, *_read_as(query)),
            )
        return Answer(
            kind=AnswerKind.NO_DATA,
            headline=f"No data for {describe(query)}: {exc.public}.",
            notes=(*causes, *_read_as(query)),
        )
    except MetricsError as exc:
        # Expected (a server down, slow, or refusing): no traceback. The answer may be posted
        # in a channel, so it says what failed in the public words; the log keeps the rest.
        log.warning("could not answer %s: %s", describe(query), exc)
        return Answer(
            kind=AnswerKind.ERROR,
            headline=f"I could not answer {describe(query)}: {_period(exc.public)}",
            notes=_read_as(query),
        )
    return reply


def no_catalog_answer(exc: MetricsError) -> Answer:
    """The answer to any question while no endpoint catalog was ever discovered: which
    endpoint a question names is unknown until the metrics server answers."""
    if isinstance(exc, UnreachableError):
        headline = (f"I can't reach the metrics server yet ({exc.public}), so I don't know "
                    "the endpoints; try again in a minute.")
    else:
        headline = (f"I don't know the endpoints yet: {_period(exc.public)} "
                    "Try again in a minute.")
    return Answer(kind=AnswerKind.ERROR, headline=headline)


def _dispatch(asked: Context) -> Answer:
    # The coverage query and the figures' queries wait for the server at the same time: the
    # answer is made for the windows as asked while their coverage is read, and used when
    # they are covered (nearly always); a window cut to its data is answered again.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="perfbot-answer") as pool:
        ahead = pool.submit(copy_context().run, _figures, asked)
        try:
            ctx, found = _covered(asked)
        finally:
            ahead.exception()  # wait for it, whatever happens here
        reply = ahead.result() if ctx is asked else _figures(ctx)
    reply = _with_coverage(asked, reply, found)
    return reply.model_copy(update={"headline": _with_readings(reply.headline, ctx.query),
                                    "notes": (*reply.notes, *_read_as(ctx.query))})


def _figures(ctx: Context) -> Answer:
    # Each kind of answer is imported when asked: a value question (the most common, and
    # `perfbot ask`'s start-up) does not load the others (~0.05-0.1 s; issue 13).
    intent = ctx.query.intent
    if ctx.query.usual:
        from bot.ask.usual import usual_answer

        reply = usual_answer(ctx)
    elif ctx.query.broken:
        from bot.ask.broken import broken_answer

        reply = broken_answer(ctx)
    elif intent is Intent.RANK:
        from bot.ask.rank import rank_answer

        reply = rank_answer(ctx)
    elif intent is Intent.COMPARE:
        from bot.ask.comparison import compare_answer

        reply = compare_answer(ctx)
    elif intent is Intent.SLO:
        from bot.ask.slo import slo_answer

        reply = slo_answer(ctx)
    else:
        reply = value_answer(ctx)
    return reply


def _with_readings(headline: str, query: Query) -> str:
    """A reading that changed the subject is said where it is seen: "… (read 'promos' as
    GET /promotions)". Never silently an answer about something else."""
    if not query.read_as:
        return headline
    return f"{headline.rstrip()} ({'; '.join(query.read_as)})"


def _covered(ctx: Context) -> tuple[Context, list[Coverage | None]]:
    """The question with its windows cut to where they have data (so that a rate over 30
    days of an 8-day history is the rate over the 8 days, and two windows compare their
    covered parts), and the coverage of each: the window, then the comparison or the span
    before the window that a figure is set against."""
    query = ctx.query
    if query.window is None:
        return ctx, []
    earlier = _earlier(query)
    # The question's own series: reading every series of the server costs more than the
    # figure itself, and another endpoint's data says nothing about this one's.
    found = coverages(ctx.backend, [query.window, *([earlier] if earlier else [])],
                      _endpoints_of(ctx))
    window = trimmed(query.window, found[0])
    update: dict[str, TimeRange] = {"window": window}
    before = None
    if query.comparison is not None:
        update["comparison"] = trimmed(query.comparison, found[1])
    elif earlier is not None:
        before = trimmed(earlier, found[1])
    if window == query.window and before == earlier and (
            update.get("comparison", query.comparison) == query.comparison):
        return ctx, found
    return replace(ctx, query=query.model_copy(update=update), before=before), found


def _endpoints_of(ctx: Context) -> list[Endpoint] | None:
    """The endpoints a question is about; None for all of them."""
    if ctx.query.subjects.everything:
        return None
    entries = all_endpoints(subjects_of(ctx.query, ctx.sources.catalog))
    return [e.endpoint for e in entries] or None


def _earlier(query: Query) -> TimeRange | None:
    """The comparison, or for a figure the span before it that it is set against (a cost
    is set against none: its answer never said so, yet its headline spoke of that span's
    coverage, and its coverage was read for nothing)."""
    if query.comparison is not None:
        return query.comparison
    if (query.intent is Intent.VALUE and query.measure is not Measure.COST
            and query.window is not None):
        return timerange.previous(query.window)
    return None


def _outside(ctx: Context) -> str | None:
    """Why the window has no data, with the data's range, when it has none at all."""
    query = ctx.query
    for window in (query.window, query.comparison):
        if window is None:
            continue
        found = coverage(ctx.backend, window)
        if found is not None and not found.covered:
            words = outside_words(window, data_range(ctx.backend, window, ctx.now),
                                  ctx.sources.tz, ctx.now)
            return words if window is query.window else f"{window.label} has no data: {words}"
    return None


def _with_coverage(ctx: Context, reply: Answer, covered: list[Coverage | None]) -> Answer:
    """The answer, saying when its windows are only partly covered or the data has stopped."""
    query = ctx.query
    if query.window is None or reply.kind is AnswerKind.ERROR:
        return reply
    if reply.kind is AnswerKind.NO_DATA:
        outside = _outside(ctx)
        return reply if outside is None else reply.model_copy(
            update={"notes": (*reply.notes, sentence_case(outside) + ".")})
    said: list[str] = []
    notes: list[str] = []
    earlier = _earlier(query)
    found, *rest = covered or [None]
    partial = coverage_words(found) if found is not None else None
    if partial:
        said.append(partial)
        notes.append(f"coverage: {partial}; the figures are over that part")
    before = rest[0] if rest else None
    if earlier is not None and before is not None:
        if before.covered == 0 and query.comparison is not None:
            said.append(f"{earlier.label} has no data")
        elif query.comparison is None and (nothing := nothing_before_words(
                before, ctx.sources.tz, ctx.now)):
            said.append(nothing)
        elif words := coverage_words(before):
            # Ratios and quantiles compare the covered part; counts would not be like for like.
            said.append(f"{earlier.label}: {words}")
            notes.append(f"coverage of {earlier.label}: {words}; its figures are over that "
                         "part, so counts and totals are not like for like")
    # Data in the window's last step: fresh, to within that step (a long window's step is
    # coarse; detection says a shorter silence). Otherwise one more query dates the stop.
    fresh = (found is not None and found.last is not None
             and found.last > query.window.end - found.step)
    if ctx.now - query.window.end < STALE_AFTER and not fresh:
        last = last_sample(ctx.backend, ctx.now)
        stale = stale_words(last, ctx.sources.tz, ctx.now)
        if stale:
            said.append(stale)
            notes.append("the last hour's figures are over the part before the data stopped")
    if not said:
        return reply
    headline = reply.headline + " " + " ".join(sentence_case(s) + "." for s in said)
    return reply.model_copy(update={"headline": headline, "notes": (*notes, *reply.notes)})


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _read_as(query: Query) -> tuple[str, ...]:
    """What the question was taken to mean, and what of it was left out."""
    notes = []
    if query.not_understood:
        notes.append("Ignored: " + "; ".join(query.not_understood) + ".")
    if query.understood:
        notes.append("Read as: " + "; ".join(query.understood) + ".")
    return tuple(notes)


def describe(query: Query) -> str:
    """What was asked, in a few words: ``p95 of POST /api/checkout, last 24h``."""
    if query.intent is Intent.SLO:
        what = "the SLOs"
    elif query.measure is None:
        what = "the overview"
    else:
        what = measure_name(query.measure, query.statistic, query.cost_unit)
    subjects = [*query.subjects.endpoints,
                *(f"the {name} service" for name in query.subjects.services)]
    who = ", ".join(subjects[:3]) + ("…" if len(subjects) > 3 else "") if subjects else (
        "all endpoints")
    when = f", {query.window.label}" if query.window is not None else ""
    return f"{what} of {who}{when}"


def _period(text: str) -> str:
    """``text`` ending a sentence."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
