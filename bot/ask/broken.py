"""'Is anything broken right now?': the SLOs missed over the window and the incidents open.

The SLOs are the catalog's, judged as ``bot.ask.slo`` judges them (error budget over the
window); the incidents come from the incident store when the bot keeps one
(``Sources.open_incidents``); without it the answer says it could not look.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.ask.context import Context
from bot.ask.slo import missed, short
from bot.render.message import Answer, AnswerKind, Table

if TYPE_CHECKING:  # the incident models load when this question is asked, not at start-up
    from bot.incidents.lifecycle import Incident

SHOWN = 3  # named in the headline; the rest in the table and notes


def broken_answer(ctx: Context) -> Answer:
    window = ctx.window
    entries = ctx.sources.catalog.entries
    misses, served = missed(ctx, entries)
    incidents, problem = _incidents(ctx)
    parts = []
    if misses:
        listed = "; ".join(f"{v.entry.label} ({short(v)})" for v in misses[:SHOWN])
        more = f" and {len(misses) - SHOWN} more" if len(misses) > SHOWN else ""
        parts.append(f"{_count(len(misses), 'endpoint')} missing an SLO, {window.label}: "
                     f"{listed}{more}")
    if incidents:
        listed = "; ".join(f"#{i.id} {i.alert.title}" for i in incidents[:SHOWN])
        more = f" and {len(incidents) - SHOWN} more" if len(incidents) > SHOWN else ""
        parts.append(f"{_count(len(incidents), 'incident')} open: {listed}{more}")
    if parts:
        headline = "; ".join(parts) + "."
    else:
        looked = "no incident open" if problem is None else "incidents not checked"
        headline = (f"Nothing broken that I can see — all {served} endpoints with traffic meet "
                    f"their SLOs, {window.label}; {looked}.")
    rows = [(v.entry.label, "SLO missed", short(v)) for v in misses]
    rows += [(f"#{i.id}", i.state.value, f"{i.alert.title} (since {_since(ctx, i)})")
             for i in incidents]
    notes = ["SLOs judged over the window as for 'is X meeting its SLO' (error budget spent)"]
    if problem is not None:
        notes.append(problem)
    return Answer(
        kind=AnswerKind.ANSWER, headline=headline,
        table=Table(headers=("WHAT", "STATE", "DETAIL"), rows=tuple(rows)) if rows else None,
        notes=tuple(notes),
    )


def _incidents(ctx: Context) -> tuple[list[Incident], str | None]:
    from bot.incidents.lifecycle import State

    reader = ctx.sources.open_incidents
    if reader is None:
        return [], "incidents: this bot keeps no incident store, so none were checked"
    try:
        found = [i for i in reader() if i.state is not State.RESOLVED]
    except RuntimeError as exc:  # the store's errors (bot.storage is a layer above)
        return [], f"incidents could not be read: {exc}"
    return found, None


def _since(ctx: Context, incident: Incident) -> str:
    opened = incident.opened_at.astimezone(ctx.sources.tz)
    today = ctx.now.astimezone(ctx.sources.tz).date()
    return f"{opened:%H:%M}" if opened.date() == today else f"{opened:%a %d %b %H:%M}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")
