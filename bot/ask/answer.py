"""``Query`` → ``Answer``: the figures a question asks for, as transport-neutral data.

``answer`` never raises for a metrics failure: a server that is down or refuses a query is
an answer of kind ``error``, a window without samples one of kind ``no_data``, each with a
sentence that says what happened. ``ask`` parses and answers in one call.

Only names from the ``Query`` (which hold catalog keys and service names, never the asker's
text) select metrics, so nothing typed reaches the metrics server.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.ask.broken import broken_answer
from bot.ask.comparison import compare_answer
from bot.ask.context import Context, Sources
from bot.ask.helping import help_answer
from bot.ask.parsing.parser import parse
from bot.ask.query import Intent, Query
from bot.ask.rank import rank_answer
from bot.ask.slo import slo_answer
from bot.ask.usual import usual_answer
from bot.ask.value import value_answer
from bot.ask.words import measure_name
from bot.metrics.base import MetricsError, NoDataError, UnreachableError
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
        reply = _dispatch(ctx)
    except NoDataError as exc:
        cause = exc.__cause__
        causes = [f"metrics: {cause.public}"] if isinstance(cause, MetricsError) else []
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


def _dispatch(ctx: Context) -> Answer:
    intent = ctx.query.intent
    if ctx.query.usual:
        reply = usual_answer(ctx)
    elif ctx.query.broken:
        reply = broken_answer(ctx)
    elif intent is Intent.RANK:
        reply = rank_answer(ctx)
    elif intent is Intent.COMPARE:
        reply = compare_answer(ctx)
    elif intent is Intent.SLO:
        reply = slo_answer(ctx)
    else:
        reply = value_answer(ctx)
    return reply.model_copy(update={"headline": _with_readings(reply.headline, ctx.query),
                                    "notes": (*reply.notes, *_read_as(ctx.query))})


def _with_readings(headline: str, query: Query) -> str:
    """A reading that changed the subject is said where it is seen: "… (read 'promos' as
    GET /promotions)". Never silently an answer about something else."""
    if not query.read_as:
        return headline
    return f"{headline.rstrip()} ({'; '.join(query.read_as)})"


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
