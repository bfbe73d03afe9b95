"""An incident's postmortem as markdown: what ``perfbot incidents export`` writes.

Pure: the stored incident and its timeline in, text out. The writer draws the chart and
passes its file name; the text links it. Everything comes from what was stored (the alert,
the message as first posted, the timeline), never from the metrics now: a postmortem
describes what people saw, and the data may be gone by the time it is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta, tzinfo

from bot.alerts.message import Section
from bot.durations import format_duration
from bot.incidents.lifecycle import Entry, Incident
from bot.render.mrkdwn import escape
from bot.render.text import format_local

_ACKNOWLEDGING = frozenset({"acknowledge", "snooze"})  # snoozing is acknowledging for a while
_PLAYBOOK = "Playbook: "
_SEEN = ("What", "Where and since when", "Likely cause")
# Slack's angle-bracket tokens: <@U1>, <!subteam^S1|@sre>, <!here>, <!date^…|fallback>, <url|label>
_TOKEN = re.compile(r"<([^<>]+)>")


def postmortem(incident: Incident, timeline: Sequence[Entry], zone: tzinfo, *,
               chart: str | None = None) -> str:
    """The postmortem of ``incident``: summary with the times to acknowledge and resolve,
    timeline, chart (``chart``: the PNG's file name, relative to the markdown), evidence
    and the matched playbook, from the message as it was posted."""
    alert = incident.alert
    sections = incident.message.sections
    lines = [f"# {incident.name}: {_cell(_label(alert.title))}", "", "## Summary", ""]
    lines += _facts(incident, timeline, zone)
    seen = [s for s in sections if s.title in _SEEN]
    for section in seen:
        lines += ["", f"**{section.title}**", "", _block(section.text)]
    lines += ["", "## Timeline", ""]
    if timeline:
        lines += ["| Time | Event | By | Details |", "|---|---|---|---|"]
        lines += [f"| {format_local(e.at, zone)} | {e.kind} | {_cell(_label(e.user or ''))} | "
                  f"{_cell(e.text)} |" for e in timeline]
    else:
        lines.append("Nothing was recorded.")
    lines += ["", "## Chart", ""]
    if chart is not None and alert.chart is not None:
        lines.append(f"![{_cell(_label(alert.chart.label))}]({chart})")
    else:
        lines.append("The alert carried no chart.")
    lines += ["", "## Evidence", ""]
    evidence = next((s for s in sections if s.title == "Evidence"), None)
    lines.append(_block(evidence.text) if evidence else "No evidence was gathered.")
    lines += ["", "## Playbook", ""]
    lines += _playbook(sections)
    return "\n".join(lines).rstrip() + "\n"


def times(incident: Incident, timeline: Sequence[Entry]) -> tuple[timedelta | None,
                                                                   timedelta | None]:
    """Time to acknowledge (to the first acknowledgement or snooze) and to resolve, from the
    opening; None when it has not happened (yet)."""
    acked = next((e.at for e in timeline if e.kind in _ACKNOWLEDGING), incident.acknowledged_at)
    to_ack = acked - incident.opened_at if acked is not None else None
    to_resolve = (incident.resolved_at - incident.opened_at
                  if incident.resolved_at is not None and not incident.is_open else None)
    return to_ack, to_resolve


def markdown(text: str) -> str:
    """Slack mrkdwn made plain markdown: mentions as ``@name``, dates as their fallback,
    links as markdown links. Slack's entities (``&lt;``) are markdown's too, so they stay."""
    def token(match: re.Match[str]) -> str:
        body = match.group(1)
        head, _, label = body.partition("|")
        if head.startswith("@"):
            return head
        if head.startswith("!subteam^"):
            return label or "@" + head.removeprefix("!subteam^")
        if head.startswith("!date^"):
            return label
        if head.startswith("!"):
            return "@" + head[1:]
        if head.startswith(("http://", "https://", "mailto:")):
            return f"[{label}]({head})" if label else f"<{head}>"
        return match.group(0)
    return _TOKEN.sub(token, text)


def _facts(incident: Incident, timeline: Sequence[Entry], zone: tzinfo) -> list[str]:
    alert = incident.alert
    to_ack, to_resolve = times(incident, timeline)
    rows = [("Severity", f"{alert.severity} ({incident.urgency} urgency)"),
            ("State", str(incident.state)), ("Service", _label(alert.service))]
    if alert.labels.get("endpoint"):
        rows.append(("Endpoint", _label(alert.labels["endpoint"])))
    if alert.signal is not None:
        rows.append(("Signal", str(alert.signal)))
    rows += [("Channel", _label(incident.channel)),
             ("Opened", format_local(incident.opened_at, zone))]
    if incident.acknowledged_by is not None and incident.acknowledged_at is not None:
        rows.append(("Acknowledged", f"by {_label(incident.acknowledged_by)}, "
                                     f"{format_local(incident.acknowledged_at, zone)}"))
    if incident.resolved_at is not None and not incident.is_open:
        how = incident.resolution or f"by {_label(str(incident.resolved_by))}"
        rows.append(("Resolved", f"{format_local(incident.resolved_at, zone)}: {how}"))
    recovered = not incident.is_open and incident.resolved_by is None
    rows.append(("Time to acknowledge", format_duration(to_ack) if to_ack is not None else
                 "not acknowledged" + (" (it recovered on its own)" if recovered else "")))
    rows.append(("Time to resolve", format_duration(to_resolve) if to_resolve is not None
                 else "still open"))
    if incident.policy:
        rows.append(("Escalation", f"policy {_label(incident.policy)}, {incident.level} step(s) "
                                   "carried out"))
    if incident.reopened:
        rows.append(("Reopened", f"{incident.reopened} time(s); times count from the first "
                                 "opening"))
    if incident.silenced:
        rows.append(("Silenced", _label(incident.silenced)))
    if alert.summary:
        rows.append(("Likely cause", _label(alert.summary)))
    return ["| | |", "|---|---|"] + [f"| {name} | {_cell(value)} |" for name, value in rows]


def _playbook(sections: Sequence[Section]) -> list[str]:
    top = next((s for s in sections if s.title.startswith(_PLAYBOOK)), None)
    if top is None:
        return ["No playbook matched."]
    lines = [f"**{_cell(top.title.removeprefix(_PLAYBOOK))}**", "", _block(top.text)]
    for title in ("Diagnostics", "Other candidate playbooks"):
        found = next((s for s in sections if s.title == title), None)
        if found is not None:
            lines += ["", f"**{title}**", "", _block(found.text)]
    return lines


def _block(text: str) -> str:
    """A section's text as markdown: Slack's "• " lines become a list (markdown would run
    them into one paragraph); a line that would start a heading, a table, a quote or a
    rule is escaped (the bot's sections never start one)."""
    lines = [f"- {line[2:]}" if line.startswith("• ") else
             "\\" + line if line.startswith(("#", "|", ">", "---", "===")) else line
             for line in markdown(_brackets(text)).strip().splitlines()]
    return "\n".join(lines)


def _label(text: str) -> str:
    """A name from the metrics or people, as stored (not mrkdwn): its angle brackets as
    entities, so ``markdown`` takes no Slack token (a link) out of it."""
    return escape(text)


def _brackets(text: str) -> str:
    """Square brackets escaped, before ``markdown`` writes the links the bot meant: a name
    with ``[a](http://…)`` in it makes no link or image in the file."""
    return text.replace("[", "\\[").replace("]", "\\]")


def _cell(text: str) -> str:
    """Text fit for one table cell: no pipes to split it, no line breaks to end the row."""
    return " ".join(markdown(_brackets(text)).replace("|", "\\|").split())


