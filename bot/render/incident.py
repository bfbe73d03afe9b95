"""An incident as Slack messages and terminal text, re-rendered from its stored state each
time: the one channel message (edited in place as the incident evolves), the DM to a person
paged, the line in its thread saying who was paged, and the summary of an alert storm.

Pure: no network, no database. The message is never patched from what Slack shows (that
copy may be stale or forged in a button payload); it is drawn again from the incident.
Texts from the metrics or from people go through ``inert``; the only markup the bot adds
on purpose is its own mentions, date tokens and bold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from bot.alerts.acts import BUTTONS, RULES, Act
from bot.alerts.alertmanager import SOURCE as ALERTMANAGER
from bot.analytics.findings.model import Severity
from bot.durations import format_duration
from bot.incidents.escalation import Notify
from bot.incidents.lifecycle import Incident, State
from bot.render.blocks import (
    ALERT_ACTIONS_BLOCK,
    ALERT_STATUS_BLOCK,
    MAX_BLOCKS,
    MAX_FALLBACK_CHARS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    SlackMessage,
    alert_element,
    context,
    section,
    validate_blocks,
)
from bot.render.feedback import feedback_blocks
from bot.render.mrkdwn import (
    channel,
    clip,
    inert,
    inert_but_mentions,
    mention,
    slack_time,
)

SEVERITY_EMOJI = {Severity.CRITICAL: "🔴", Severity.WARNING: "🟠", Severity.INFO: "🔵"}
_RECOVERED = "recovered on its own after "
_SLACK_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")

Who = Callable[[str], str]
When = Callable[[datetime], str]


def incident_title(incident: Incident) -> str:
    """``🔴 CRITICAL: checkout p95 up`` from the current alert (a repeat may have made the
    severity worse since the message was first built). Not escaped."""
    alert = incident.alert
    return f"{SEVERITY_EMOJI[alert.severity]} {alert.severity.upper()}: {alert.title}"


def incident_message(incident: Incident, zone: tzinfo, *, paged: str = "") -> SlackMessage:
    """The incident's one channel message: header (severity, title, INC id), the alert's
    sections, a status line in words, and the buttons its state allows. ``paged``: the
    last page's timeline text ("step 2, pass 1: <@U2>"), shown while it is triggered."""
    name = incident.name
    title = clip(inert(incident_title(incident)), MAX_HEADER_CHARS - len(name) - 3)
    blocks: list[dict[str, Any]] = [{
        "type": "header", "text": {"type": "plain_text", "text": f"{title} · {name}"}}]
    room = MAX_BLOCKS - 4  # the header, the status, the buttons and the feedback
    blocks += [section(f"*{part.title}*\n{part.text}") for part in incident.message.sections
               [:room]]
    lines = status_lines(incident, _slack_when(zone), mention, paged=paged)
    blocks.append({**context(lines), "block_id": ALERT_STATUS_BLOCK})
    elements = [alert_element(act, name) for act in incident_acts(incident)]
    if elements:
        blocks.append({"type": "actions", "block_id": ALERT_ACTIONS_BLOCK,
                       "elements": elements})
    blocks += feedback_blocks(incident)
    text = f"{inert(incident_title(incident))} ({name}): {state_word(incident)}"
    message = SlackMessage(text=clip(text, MAX_FALLBACK_CHARS), blocks=tuple(blocks))
    validate_blocks(message.blocks)
    return message


def incident_acts(incident: Incident) -> list[Act]:
    """The buttons its state allows: while open, Acknowledge (unless acknowledged, which a
    snooze is too), Snooze, Resolve, Escalate now and Silence (Unsilence, once silenced);
    Show chart whenever it has a chart, the one button a resolved incident keeps."""
    acts: list[Act] = []
    if incident.is_open:
        acts = [act for act in BUTTONS
                if not (act is Act.ACKNOWLEDGE and incident.state is State.ACKNOWLEDGED)]
        acts.append(Act.UNSILENCE if is_silenced(incident) else Act.SILENCE)
    if incident.alert.chart is not None:
        acts.append(Act.SHOW_CHART)
    return acts


def is_silenced(incident: Incident) -> bool:
    """Silenced from Slack: in Alertmanager, or (the bot's own incident) in perfbot."""
    return incident.alertmanager_silence is not None or incident.perfbot_silence is not None


def state_word(incident: Incident) -> str:
    """One word or two for lists and notifications: "triggered", "snoozed", "resolved"…"""
    if incident.silenced and incident.is_open:
        return "silenced"
    if incident.state is State.ACKNOWLEDGED and incident.snoozed_until is not None:
        return "snoozed"
    return str(incident.state)


def status_lines(incident: Incident, when: When, who: Who, *, paged: str = "") -> list[str]:
    """The state in words, one line per fact; ``when`` and ``who`` write times and people
    for the medium (Slack tokens and mentions, or terminal text)."""
    lines: list[str] = []
    if incident.silenced:
        lines.append(f":mute: Silenced by {inert(incident.silenced)}: not posted, still "
                     "listed in /perf incidents")
    if is_silenced(incident) and incident.is_open:
        where = (f"in Alertmanager: silence {inert(incident.alertmanager_silence)}"
                 if incident.alertmanager_silence is not None
                 else f"in perfbot: silence #{incident.perfbot_silence}")
        until = f" until {when(incident.silence_until)}" if incident.silence_until else ""
        lines.append(f":mute: Silenced {where}{until}")
    if incident.state is State.RESOLVED:
        lines.append(":white_check_mark: " + _resolved(incident, when, who))
    elif incident.snoozed_until is not None:
        by = f" by {who(incident.snoozed_by)}" if incident.snoozed_by else ""
        lines.append(f":zzz: Snoozed{by} until {when(incident.snoozed_until)}")
    elif incident.state is State.ACKNOWLEDGED:
        by = who(incident.acknowledged_by) if incident.acknowledged_by else "someone"
        at = f" {when(incident.acknowledged_at)}" if incident.acknowledged_at else ""
        lines.append(f":eyes: Acknowledged by {by}{at}")
    else:
        lines.append(":rotating_light: " + _triggered(incident, when, paged))
    if incident.state is not State.TRIGGERED:
        lines.append(f"Opened {when(incident.opened_at)}")
    if incident.reopened:
        times = "once" if incident.reopened == 1 else f"{incident.reopened} times"
        lines.append(f":repeat: Reopened {times}")
    return lines


def incident_text(incident: Incident, zone: tzinfo, *, paged: str = "") -> str:
    """The incident for a terminal: the same facts as its Slack message, without markup."""
    lines = [f"{incident_title(incident)} ({incident.name})"]
    status = status_lines(incident, _text_when(zone), _text_who, paged=plain(paged))
    lines += [f"  {plain(line)}" for line in status]
    for part in incident.message.sections:
        lines.append(f"  {part.title}:")
        lines += [f"    {line}" for line in plain(part.text).splitlines()]
    acts = incident_acts(incident)
    if acts:
        lines.append("  Actions: " + " · ".join(f"[{RULES[act].label}]" for act in acts))
    return "\n".join(lines)


SILENCE_VIEW = "incident_silence"  # the modal's callback id
SILENCE_DURATION_BLOCK, SILENCE_COMMENT_BLOCK, SILENCE_INPUT = "duration", "comment", "value"
DEFAULT_SILENCE = "2h"


def silence_modal(incident: Incident, *, default: str = DEFAULT_SILENCE) -> dict[str, Any]:
    """The modal the Silence button opens: how long (``default``) and why. The incident's
    name rides in ``private_metadata``; the submission is checked again against the store."""
    where = ("Alertmanager (a silence of its alert's labels)"
             if incident.alert.source == ALERTMANAGER
             else f"perfbot (new incidents of {inert(incident.alert.service)} are not posted)")
    blocks = [
        section(f"*{incident.name}* {inert(incident_title(incident))}\n"
                f"The silence is created in {where}."),
        {"type": "input", "block_id": SILENCE_DURATION_BLOCK,
         "label": {"type": "plain_text", "text": "For how long"},
         "hint": {"type": "plain_text", "text": "Like 30m, 2h or 1d; at most 7d."},
         "element": {"type": "plain_text_input", "action_id": SILENCE_INPUT,
                     "initial_value": default, "max_length": 16}},
        {"type": "input", "block_id": SILENCE_COMMENT_BLOCK, "optional": True,
         "label": {"type": "plain_text", "text": "Comment"},
         "element": {"type": "plain_text_input", "action_id": SILENCE_INPUT,
                     "multiline": True, "max_length": 500}},
    ]
    validate_blocks(blocks)
    return {"type": "modal", "callback_id": SILENCE_VIEW, "private_metadata": incident.name,
            "title": {"type": "plain_text", "text": f"Silence {incident.name}"[:24]},
            "submit": {"type": "plain_text", "text": "Silence"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def page_message(
    incident: Incident, note: Notify, link: str | None, *, zone: tzinfo = UTC,
) -> SlackMessage:
    """The DM to a person paged (or reminded): who is paged for what, a link to the channel
    message (None when it could not be posted or linked) and an Acknowledge button, so the
    page can be taken from the phone's notification."""
    name, title = incident.name, inert(incident_title(incident))
    if note.kind == "reminder":
        since = (f" {slack_time(incident.acknowledged_at, zone, day=True)}"
                 if incident.acknowledged_at else "")
        head = (f":alarm_clock: You acknowledged *{name}*{since} and it is still open: "
                f"{title}\nResolve it, or acknowledge it again to keep it.")
    else:
        others = [mention(u) for u in note.users[1:]]
        also = f" Also paged: {', '.join(others)}." if others else ""
        policy = f" of policy {inert(incident.policy)}" if incident.policy else ""
        head = (f":rotating_light: You are paged for *{name}*: {title}\n"
                f"Step {note.step + 1}, pass {note.pass_number + 1}{policy}.{also}")
    where = channel(incident.channel)
    opened = f"<{link}|Open its message> in {where}" if link else f"Posted in {where}"
    blocks = [section(head), context([opened]),
              {"type": "actions", "block_id": ALERT_ACTIONS_BLOCK,
               "elements": [alert_element(Act.ACKNOWLEDGE, name)]}]
    verb = "Reminder" if note.kind == "reminder" else "Paged"
    message = SlackMessage(text=clip(f"{verb}: {name} {title}", MAX_FALLBACK_CHARS),
                           blocks=tuple(blocks))
    validate_blocks(message.blocks)
    return message


def page_line(incident: Incident, note: Notify, *, threaded: bool = False) -> str:
    """The line in the incident's thread saying who was paged, with the mentions that ping
    them: users, the user group (``<!subteam^S…>``) and the channel (``<!here>``).
    ``threaded``: the thread is a storm's, shared by several incidents, so it names it."""
    targets = [mention(user) for user in note.users]
    if note.group:
        targets.append(f"<!subteam^{note.group}>")
    if note.mention:
        targets.append(f"<!{note.mention}>")
    where = f"step {note.step + 1}, pass {note.pass_number + 1}"
    prefix = f"*{incident.name}*: " if threaded else ""
    if note.kind == "reminder":
        return (f"{prefix}:alarm_clock: Reminded {', '.join(targets) or 'nobody'}: still "
                f"open after the acknowledgement ({where})")
    if not targets:
        schedule = f" of {inert(note.schedule)}" if note.schedule else ""
        return f"{prefix}:warning: Nobody is on call{schedule} to page ({where})"
    return f"{prefix}:rotating_light: Paged {', '.join(targets)} ({where})"


def reply_text(incident: Incident, text: str, *, threaded: bool = False) -> str:
    """A thread reply the lifecycle decided ("Resolved: recovered on its own after 40m: p95
    back to 230 ms"): inert except the bot's own user mentions; named when ``threaded``."""
    prefix = f"*{incident.name}*: " if threaded else ""
    return clip(prefix + inert_but_mentions(text), MAX_SECTION_CHARS)


def storm_message(incidents: Sequence[Incident]) -> SlackMessage:
    """One message for many incidents opening at once in one channel: it lists them, and
    each incident's own message (buttons, escalation) follows in its thread."""
    count = len(incidents)
    head = (f":rotating_light: *{count} incidents* opened here within a minute. Each one's "
            "message, with its buttons and escalation, is in this thread.")
    lines = [f"• *{i.name}* {inert(incident_title(i))}" for i in incidents]
    blocks = [section(head), *line_sections(lines, MAX_BLOCKS - 1)]
    names = ", ".join(i.name for i in incidents)
    message = SlackMessage(text=clip(f"{count} incidents opened at once: {names}",
                                     MAX_FALLBACK_CHARS), blocks=tuple(blocks))
    validate_blocks(message.blocks)
    return message


def line_sections(lines: Sequence[str], room: int) -> list[dict[str, Any]]:
    """Lines packed into sections of at most Slack's 3000 characters, at most ``room`` of
    them; when they do not fit, the first section and the latest ones are kept with a line
    saying how many were left out between (the start and the latest matter most)."""
    chunks: list[list[str]] = []
    size = 0
    for line in (clip(line, MAX_SECTION_CHARS - 100) for line in lines):
        if not chunks or size + len(line) + 1 > MAX_SECTION_CHARS - 100:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += len(line) + 1
    if len(chunks) > room >= 2:
        kept = [chunks[0], *chunks[len(chunks) - room + 1:]]
        left_out = sum(len(chunk) for chunk in chunks) - sum(len(chunk) for chunk in kept)
        kept[1] = [f"… {left_out} more lines …", *kept[1]]
        chunks = kept
    return [section("\n".join(chunk)) for chunk in chunks[:max(room, 1)]]


def plain(text: str) -> str:
    """Slack markup as a terminal shows it: mentions as ``@U1``, date tokens as their
    fallback, entities decoded, emoji codes dropped."""
    text = _SLACK_MENTION.sub(r"@\1", text)
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<!subteam\^([A-Z0-9]+)>", r"@\1", text)
    text = re.sub(r"<!(here|channel)>", r"@\1", text)
    text = re.sub(r":[a-z_]+: ", "", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _triggered(incident: Incident, when: When, paged: str) -> str:
    words = f"Triggered {when(incident.opened_at)}"
    if incident.policy is None:
        return words + ", no escalation policy"
    if incident.level:
        steps = "1 step" if incident.level == 1 else f"{incident.level} steps"
        words += f" · escalated {steps}"
    if paged:
        words += f", last paged: {inert_but_mentions(paged)}"
    due = incident.escalation.due if incident.escalation is not None else None
    if due is not None:
        words += f" · next step {when(due)}"
    return words


def _resolved(incident: Incident, when: When, who: Who) -> str:
    at = f" {when(incident.resolved_at)}" if incident.resolved_at else ""
    lasted = (format_duration(incident.resolved_at - incident.opened_at)
              if incident.resolved_at else "")
    if incident.resolved_by:
        return f"Resolved by {who(incident.resolved_by)}{at}, after {lasted}"
    how = incident.resolution.removeprefix(_RECOVERED).partition(": ")[2] \
        if incident.resolution.startswith(_RECOVERED) else incident.resolution
    return f"Recovered on its own{at}, after {lasted}" + (f": {inert(how)}" if how else "")


def _slack_when(zone: tzinfo) -> When:
    return lambda at: slack_time(at, zone, day=True)


def _text_when(zone: tzinfo) -> When:
    return lambda at: at.astimezone(zone).strftime("%a %d %b %H:%M %Z").strip()


def _text_who(user: str) -> str:
    return "@" + user

