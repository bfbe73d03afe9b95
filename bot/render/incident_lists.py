"""Incidents listed, for ``/perf incidents`` and ``/perf incident INC-42`` and their terminal
twins (``perfbot incidents list|show``): the open ones newest first, one line each, and one
incident's timeline. Pure, like ``bot.render.incident`` beside it (the single incident)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

from bot.durations import format_duration
from bot.incidents.lifecycle import Entry, Incident, State
from bot.render.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_CHARS,
    SlackMessage,
    context,
    section,
    validate_blocks,
)
from bot.render.incident import (
    SEVERITY_EMOJI,
    incident_title,
    line_sections,
    plain,
    state_word,
    status_lines,
)
from bot.render.mrkdwn import (
    channel,
    clip,
    inert,
    inert_but_mentions,
    mention,
    slack_ago,
    slack_time,
)

_TITLE_CHARS = 90  # a list line is read at a glance; the message has the whole title


def open_newest_first(incidents: Iterable[Incident]) -> list[Incident]:
    """The open incidents (silenced ones too: stored and listed, not posted), newest first."""
    return sorted((i for i in incidents if i.is_open), key=lambda i: (i.opened_at, i.id),
                  reverse=True)


def incidents_list(
    incidents: Iterable[Incident], zone: tzinfo, *, now: datetime | None = None,
) -> SlackMessage:
    """``/perf incidents``: the open ones newest first, one line each with its state and
    age (Slack keeps "12 minutes ago" current; ``now`` only writes the fallback)."""
    shown = open_newest_first(incidents)
    if not shown:
        message = SlackMessage(text="No open incidents.",
                               blocks=(section(":white_check_mark: No open incidents."),))
        validate_blocks(message.blocks)
        return message
    count = len(shown)
    head = f"*{count} open incident{'s' if count != 1 else ''}*, newest first"
    lines = [_list_line(incident, zone, now) for incident in shown]
    blocks = [section(head), *line_sections(lines, MAX_BLOCKS - 1)]
    names = ", ".join(i.name for i in shown)
    message = SlackMessage(text=clip(f"{count} open: {names}", MAX_FALLBACK_CHARS),
                           blocks=tuple(blocks))
    validate_blocks(message.blocks)
    return message


def incidents_text(incidents: Iterable[Incident], zone: tzinfo, now: datetime) -> str:
    """``perfbot incidents list``: the same lines for a terminal."""
    shown = open_newest_first(incidents)
    if not shown:
        return "No open incidents."
    width = max(len(i.name) for i in shown)
    lines = []
    for incident in shown:
        state = plain(_state(incident, zone, text=True))
        age = format_duration(now - incident.opened_at)
        lines.append(f"{incident.name:<{width}}  {age:>8}  {state}  "
                     f"{clip(incident_title(incident), _TITLE_CHARS)}")
    return "\n".join(lines)


def incident_timeline(
    incident: Incident, entries: Sequence[Entry], zone: tzinfo,
) -> SlackMessage:
    """``/perf incident INC-42``: where it stands, then what happened, oldest first."""
    head = f"*{incident.name}* {inert(incident_title(incident))}"
    status = status_lines(incident, lambda at: slack_time(at, zone, day=True), mention)
    lines = [_entry_line(entry, zone) for entry in entries] or ["No timeline yet."]
    blocks = [section(head), context(status), *line_sections(lines, MAX_BLOCKS - 2)]
    text = f"{incident.name}: {state_word(incident)}, {len(entries)} timeline entries"
    message = SlackMessage(text=clip(text, MAX_FALLBACK_CHARS), blocks=tuple(blocks))
    validate_blocks(message.blocks)
    return message


def timeline_text(incident: Incident, entries: Sequence[Entry], zone: tzinfo) -> str:
    """``perfbot incidents show INC-42``: the timeline for a terminal."""
    lines = [f"{incident.name} {incident_title(incident)} ({state_word(incident)})"]
    for entry in entries:
        when = entry.at.astimezone(zone).strftime("%a %d %b %H:%M:%S %Z").strip()
        by = f" by @{entry.user}" if entry.user else ""
        said = f": {entry.text}" if entry.text else ""
        lines.append(f"  {when}  {entry.kind}{by}{plain(said)}")
    return "\n".join(lines)


def _list_line(incident: Incident, zone: tzinfo, now: datetime | None) -> str:
    emoji = SEVERITY_EMOJI[incident.alert.severity]
    title = inert(clip(incident.alert.title, _TITLE_CHARS))
    fallback = (f"{format_duration(now - incident.opened_at)} ago" if now is not None
                else incident.opened_at.astimezone(zone).strftime("%d %b %H:%M %Z"))
    where = f" in {channel(incident.channel)}" if incident.channel.startswith(("C", "G")) \
        else ""
    return (f"• {emoji} *{incident.name}* {title} · {_state(incident, zone)} · opened "
            f"{slack_ago(incident.opened_at, fallback)}{where}")


def _state(incident: Incident, zone: tzinfo, *, text: bool = False) -> str:
    """The state as a list shows it: who acknowledged, until when snoozed, how far
    escalated; mentions and tokens for Slack (``plain`` turns them into text)."""
    word = state_word(incident)
    if word == "snoozed" and incident.snoozed_until is not None:
        until = (incident.snoozed_until.astimezone(zone).strftime("%d %b %H:%M %Z") if text
                 else slack_time(incident.snoozed_until, zone, day=True))
        word += f" until {until}"
    elif incident.state is State.ACKNOWLEDGED and incident.acknowledged_by:
        word += f" by {mention(incident.acknowledged_by)}"
    elif incident.state is State.TRIGGERED and incident.level:
        word += f", escalated {incident.level}×"
    if incident.reopened:
        word += f", reopened {incident.reopened}×"
    return word


def _entry_line(entry: Entry, zone: tzinfo) -> str:
    by = f" by {mention(entry.user)}" if entry.user else ""
    said = f": {inert_but_mentions(entry.text)}" if entry.text else ""
    return f"• {slack_time(entry.at, zone, day=True)} *{inert(entry.kind)}*{by}{said}"
