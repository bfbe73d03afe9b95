"""An incident's life, as pure functions: ``(incident, event, now) → Change``.

An incident is opened by an alert, updated by repeats of it, reopened by a recurrence soon
after it was resolved, resolved by the alert's recovery or by a person, and escalated
along its policy until someone acknowledges it. Each function returns the new incident,
the lines it adds to the incident's timeline, and the effects to carry out (Slack posts,
edits, thread replies, pages); the caller stores all three in one transaction, then the
outbox carries the effects out. Nothing here reads a clock, a database or Slack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from bot.alerts.acts import RULES, Act
from bot.alerts.message import AlertMessage
from bot.alerts.model import Alert
from bot.analytics.findings.model import Severity
from bot.durations import format_duration
from bot.incidents.escalation import Notify, Position, acknowledge, begin, escalate_now, plan
from bot.incidents.policies import PagerDutyTarget, Policy, Urgency, WebhookTarget
from bot.incidents.schedules import Override, Schedule


class State(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Incident(BaseModel):
    """One incident as stored: the latest alert, its message, its state and escalation."""

    model_config = ConfigDict(frozen=True)

    id: int
    fingerprint: str
    alert: Alert
    message: AlertMessage  # the alert's parts as first posted (title, sections, acts)
    state: State = State.TRIGGERED
    opened_at: AwareDatetime
    updated_at: AwareDatetime
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    resolved_by: str | None = None  # None with a resolution time: resolved on its own
    resolved_at: AwareDatetime | None = None
    resolution: str = ""  # how it ended, for people ("p95 back to 230 ms, usual 220 ms")
    snoozed_by: str | None = None
    snoozed_until: AwareDatetime | None = None
    silenced: str = ""  # the silence it matched when opened: stored and listed, not posted
    # Its silence in Alertmanager (an incident that came from there), until unsilenced.
    alertmanager_silence: str | None = None
    # Or its silence in perfbot (the bot's own incident): the id of the stored silence.
    perfbot_silence: int | None = None
    silence_until: AwareDatetime | None = None  # when the one or the other ends
    channel: str
    message_ts: str | None = None  # where its one Slack message is, once posted
    # The thread its message was posted in (a storm's summary), where its replies go; None:
    # a message of its own in the channel, whose own thread takes the replies.
    thread_ts: str | None = None
    policy: str | None = None
    urgency: Urgency = "high"
    escalation: Position | None = None
    level: int = 0  # escalation steps carried out so far
    # The PagerDuty services and webhooks its steps triggered: its acknowledgement and
    # resolution in Slack are sent on to them.
    paged_out: tuple[PagerDutyTarget, ...] = ()
    hooked_out: tuple[WebhookTarget, ...] = ()
    reopened: int = 0
    version: int = 0

    @property
    def name(self) -> str:
        return f"INC-{self.id}"

    @property
    def is_open(self) -> bool:
        return self.state is not State.RESOLVED

    @property
    def due(self) -> datetime | None:
        """When the sweep has something to do for it: a snooze ending, an escalation step."""
        if not self.is_open:
            return None
        if self.snoozed_until is not None:
            return self.snoozed_until
        return self.escalation.due if self.escalation is not None else None


class Entry(BaseModel):
    """A line of the incident's timeline."""

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    kind: str  # opened, repeated, reopened, acknowledged, snoozed, resolved, escalated, paged…
    user: str | None = None
    text: str = ""


EffectKind = Literal["post", "update", "reply", "page", "chart", "pagerduty", "webhook"]
EventAction = Literal["trigger", "acknowledge", "resolve"]


class Effect(BaseModel):
    """Something to do outside: carried out at most once per ``key`` by the outbox."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: EffectKind
    text: str = ""  # a thread reply's words
    notify: Notify | None = None  # a page's targets
    mention: bool = False  # a reply that pings (escalations); resolutions ping nobody
    action: EventAction | None = None  # what a PagerDuty event or a webhook says happened
    pagerduty: PagerDutyTarget | None = None  # where a PagerDuty event goes
    webhook: WebhookTarget | None = None  # where a webhook event goes


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident: Incident
    timeline: list[Entry] = []
    effects: list[Effect] = []


class Refused(BaseModel):
    """An act that cannot apply to the incident as it stands; ``reason`` is for the person."""

    model_config = ConfigDict(frozen=True)

    reason: str


def open_incident(
    incident_id: int, alert: Alert, message: AlertMessage, *, channel: str,
    policy: Policy | None, urgency: Urgency, silenced: str, now: datetime,
) -> Change:
    """A new incident for ``alert``: posted (with its chart) unless ``silenced``, and
    escalated along ``policy`` from now."""
    name = f"INC-{incident_id}"
    incident = Incident(
        id=incident_id, fingerprint=alert.fingerprint, alert=alert, message=message,
        opened_at=_utc(now), updated_at=_utc(now), channel=channel,
        policy=policy.name if policy else None, urgency=urgency, silenced=silenced,
        escalation=begin(name, now) if policy and not silenced else None,
    )
    opened = Entry(at=_utc(now), kind="opened",
                   text=f"{alert.severity}: {_quoted(alert.title)}")
    if silenced:
        return Change(incident=incident, timeline=[opened, Entry(
            at=_utc(now), kind="silenced", text=f"not posted: {_quoted(silenced)}")])
    effects = [Effect(key=f"{name}:post", kind="post")]
    if alert.chart is not None:
        effects.append(Effect(key=f"{name}:chart", kind="chart"))
    return Change(incident=incident, timeline=[opened], effects=effects)


def unseen(incident_id: int, alert: Alert, message: AlertMessage, *, channel: str,
           now: datetime) -> Change:
    """An alert whose resolution arrived before its firing (or without one): stored
    resolved, never posted, so a late firing of it changes nothing."""
    at = _utc(now)
    incident = Incident(
        id=incident_id, fingerprint=alert.fingerprint, alert=alert, message=message,
        state=State.RESOLVED, opened_at=_utc(alert.starts_at), updated_at=at,
        resolved_at=at, resolution="resolved before it was seen firing", channel=channel,
        silenced="resolved before it was seen firing")
    return Change(incident=incident, timeline=[
        Entry(at=at, kind="resolved", text="resolved before it was seen firing: not posted")])


def repeat(incident: Incident, alert: Alert, now: datetime) -> Change:
    """The same problem seen again while open: the alert is refreshed; the message is
    edited only when what people see changed (a worse severity)."""
    worse = _SEVERITY_RANK[alert.severity] > _SEVERITY_RANK[incident.alert.severity]
    updated = _next(incident, now, alert=alert)
    if not worse:
        return Change(incident=updated)
    return Change(incident=updated, timeline=[Entry(
        at=_utc(now), kind="severity", text=f"{incident.alert.severity} → {alert.severity}")],
        effects=_shown(updated, _update(updated)))


def reopen(
    incident: Incident, alert: Alert, policy: Policy | None, now: datetime, *,
    silenced: str = "",
) -> Change:
    """A recurrence soon after it was resolved: the same incident, open again, escalating
    from the start of its policy; under a ``silenced`` (a silence it matches now) it pages
    nobody. One never posted (silenced when opened) is posted now, unless still silenced."""
    name = incident.name
    posted = not incident.silenced
    updated = _next(incident, now, alert=alert, state=State.TRIGGERED, acknowledged_by=None,
                    acknowledged_at=None, resolved_by=None, resolved_at=None, resolution="",
                    snoozed_by=None, snoozed_until=None, reopened=incident.reopened + 1,
                    escalation=begin(name, now) if policy and not silenced else None, level=0,
                    paged_out=(), hooked_out=(),
                    silenced=silenced if silenced and not posted else "")
    text = f"reopened: the problem came back {_ago(incident.resolved_at, now)} after it was " \
           "resolved"
    timeline = [Entry(at=_utc(now), kind="reopened", text=text)]
    if silenced:
        timeline.append(Entry(at=_utc(now), kind="silenced", text=(
            f"not paged: {_quoted(silenced)}" if posted
            else f"not posted: {_quoted(silenced)}")))
        effects = [_update(updated)] if posted else []
    elif posted:
        effects = [_update(updated), _reply(updated, "reopened", f":repeat: {text}",
                                            mention=True)]
    else:  # silenced until now: its first message
        effects = [Effect(key=f"{name}:post", kind="post")]
        if alert.chart is not None:
            effects.append(Effect(key=f"{name}:chart", kind="chart"))
    return Change(incident=updated, timeline=timeline, effects=effects)


def recover(incident: Incident, now: datetime, how: str) -> Change:
    """The alert's signal is back to normal: resolved on its own. The message says how
    long it lasted and where the signal is now (``how``); nobody is pinged."""
    lasted = format_duration(_utc(now) - incident.opened_at)
    resolution = f"recovered on its own after {lasted}" + (f": {_quoted(how)}" if how else "")
    updated = _next(incident, now, state=State.RESOLVED, resolved_at=_utc(now),
                    resolved_by=None, resolution=resolution, snoozed_until=None)
    return Change(incident=updated,
                  timeline=[Entry(at=_utc(now), kind="resolved", text=resolution)],
                  effects=_shown(updated, _update(updated), _reply(
                      updated, "resolved", f":white_check_mark: Resolved: {resolution}"))
                  + _sent_on(updated, "resolve"))


def act(
    incident: Incident, what: Act, user: str, now: datetime, *, policy: Policy | None,
    snooze: timedelta | None = None,
) -> Change | Refused:
    """``user`` does ``what`` (already authorized). Resolved is final for every act."""
    if not incident.is_open:
        return Refused(reason=f"{incident.name} is already resolved "
                              f"({incident.resolution or 'by ' + str(incident.resolved_by)}).")
    at = _utc(now)
    verb = RULES[what].done.lower()
    if what is Act.ACKNOWLEDGE:
        position = (acknowledge(incident.escalation, policy, user, at)
                    if incident.escalation is not None and policy is not None else None)
        updated = _next(incident, now, state=State.ACKNOWLEDGED, acknowledged_by=user,
                        acknowledged_at=at, escalation=position or incident.escalation)
    elif what is Act.SNOOZE:
        if snooze is None:
            return Refused(reason="Snoozing needs a duration.")
        updated = _next(incident, now, state=State.ACKNOWLEDGED, acknowledged_by=user,
                        acknowledged_at=at, snoozed_by=user, snoozed_until=at + snooze)
        verb = f"snoozed for {format_duration(snooze)}"
    elif what is Act.RESOLVE:
        updated = _next(incident, now, state=State.RESOLVED, resolved_by=user, resolved_at=at,
                        resolution=f"resolved by <@{user}> after "
                                   f"{format_duration(at - incident.opened_at)}",
                        snoozed_until=None)
    elif what is Act.ESCALATE:
        position = (escalate_now(incident.escalation, policy, at)
                    if incident.escalation is not None and policy is not None else None)
        updated = _next(incident, now, state=State.TRIGGERED, acknowledged_by=None,
                        acknowledged_at=None, snoozed_by=None, snoozed_until=None,
                        escalation=position or incident.escalation)
    else:
        return Refused(reason=f"{RULES[what].label} does not change an incident.")
    entry = Entry(at=at, kind=str(what), user=user, text=verb)
    # Escalating again has no PagerDuty counterpart: a trigger on the same dedup_key
    # would be merged into the alert already open there.
    forwarded = (_sent_on(updated, "resolve") if what is Act.RESOLVE
                 else [] if what is Act.ESCALATE else _sent_on(updated, "acknowledge"))
    return Change(incident=updated, timeline=[entry],
                  effects=_shown(updated, _update(updated)) + forwarded)


def sweep(
    incident: Incident, policy: Policy | None, schedules: Mapping[str, Schedule],
    overrides: Sequence[Override], now: datetime,
) -> Change:
    """What is due by ``now``: a snooze that ended (back to triggered, escalation goes on)
    and the escalation steps due (pages, each once by its key)."""
    at = _utc(now)
    if not incident.is_open:
        return Change(incident=incident)
    timeline: list[Entry] = []
    effects: list[Effect] = []
    if incident.snoozed_until is not None:
        if incident.snoozed_until > at:
            return Change(incident=incident)
        position = (escalate_now(incident.escalation, policy, at)
                    if incident.escalation is not None and policy is not None else None)
        incident = _next(incident, now, state=State.TRIGGERED, acknowledged_by=None,
                         acknowledged_at=None, snoozed_by=None, snoozed_until=None,
                         escalation=position or incident.escalation)
        timeline.append(Entry(at=at, kind="unsnoozed", text="the snooze ended"))
        effects.extend(_shown(incident, _update(incident)))
    escalation = incident.escalation
    if escalation is None:
        return Change(incident=incident, timeline=timeline, effects=effects)
    if policy is None:
        if escalation.due is not None and escalation.due <= at:
            # Its policy is no longer in the settings: nothing can be paged, and an
            # incident left due would be read again by every sweep.
            incident = _next(incident, now, escalation=escalation.model_copy(
                update={"due": None}))
            timeline.append(Entry(at=at, kind="escalation", text=(
                f"escalation stopped: the policy {incident.policy!r} is not configured")))
        return Change(incident=incident, timeline=timeline, effects=effects)
    was_acknowledged = escalation.acknowledged
    position, due = plan(escalation, policy, schedules, overrides, incident.urgency, at)
    if position == escalation and not due:
        return Change(incident=incident, timeline=timeline, effects=effects)
    steps = [n for n in due if n.kind != "reminder"]
    dropped = was_acknowledged and not position.acknowledged
    update: dict[str, object] = {"escalation": position, "level": incident.level + len(steps)}
    paged_out = dict.fromkeys(incident.paged_out)
    paged_out.update(dict.fromkeys(n.pagerduty for n in steps if n.pagerduty is not None))
    if len(paged_out) != len(incident.paged_out):
        update["paged_out"] = tuple(paged_out)
    hooked_out = dict.fromkeys(incident.hooked_out)
    hooked_out.update(dict.fromkeys(n.webhook for n in steps if n.webhook is not None))
    if len(hooked_out) != len(incident.hooked_out):
        update["hooked_out"] = tuple(hooked_out)
    if dropped:  # nobody answered the acknowledgement's reminder: back to triggered
        update |= {"state": State.TRIGGERED, "acknowledged_by": None, "acknowledged_at": None}
        timeline.append(Entry(at=at, kind="unacknowledged",
                              text="nobody answered the reminder; escalation goes on"))
    incident = _next(incident, now, **update)
    for note in due:
        if incident.reopened:  # the keys of its earlier lives are taken in the outbox
            note = note.model_copy(update={"key": f"{note.key}:r{incident.reopened}"})
        who = (", ".join(f"<@{u}>" for u in note.users) or note.group or note.mention
               or _OUTSIDE.get(note.kind, "nobody"))
        kind = "reminded" if note.kind == "reminder" else "paged"
        timeline.append(Entry(at=at, kind=kind, text=f"step {note.step + 1}, pass "
                              f"{note.pass_number + 1}: {who}"))
        if note.kind == "pagerduty":
            effects.append(Effect(key=note.key, kind="pagerduty", notify=note,
                                  action="trigger", pagerduty=note.pagerduty))
        elif note.kind == "webhook":
            effects.append(Effect(key=note.key, kind="webhook", notify=note, action="trigger",
                                  webhook=note.webhook))
        else:
            effects.append(Effect(key=note.key, kind="page", notify=note))
    if steps or dropped:
        effects.extend(_shown(incident, _update(incident)))
    return Change(incident=incident, timeline=timeline, effects=effects)


_OUTSIDE = {"pagerduty": "PagerDuty", "webhook": "a webhook"}


def _sent_on(incident: Incident, action: EventAction) -> list[Effect]:
    """``action`` sent on to each PagerDuty service and webhook its steps triggered, once
    per version."""
    return [Effect(key=f"{incident.name}:pagerduty:{action}:{incident.version}:{n}",
                   kind="pagerduty", action=action, pagerduty=target)
            for n, target in enumerate(incident.paged_out)] + [
        Effect(key=f"{incident.name}:webhook:{action}:{incident.version}:{n}",
               kind="webhook", action=action, webhook=target)
        for n, target in enumerate(incident.hooked_out)]


def silenced_upstream(incident: Incident, silence_id: str | None, user: str, text: str,
                      now: datetime, until: datetime | None = None) -> Change:
    """A silence of it created in Alertmanager (or, None, deleted there) by ``user`` until
    ``until``: its id kept for "unsilence", shown on its message, said in its thread."""
    return _silence_kept(incident, user, text, now, alertmanager_silence=silence_id,
                         silence_until=_utc(until) if silence_id and until else None)


def silenced_here(incident: Incident, silence_id: int | None, user: str, text: str,
                  now: datetime, until: datetime | None = None) -> Change:
    """The same for the bot's own incident: ``silence_id`` names the silence stored in
    perfbot (None: ended)."""
    return _silence_kept(incident, user, text, now, perfbot_silence=silence_id,
                         silence_until=_utc(until) if silence_id and until else None)


def _silence_kept(incident: Incident, user: str, text: str, now: datetime,
                  **changes: object) -> Change:
    updated = _next(incident, now, **changes)
    on = changes.get("alertmanager_silence", changes.get("perfbot_silence")) is not None
    kind = "silenced" if on else "unsilenced"
    said = f":mute: {_quoted(text)}" if on else f":bell: {_quoted(text)}"
    # The message too: it shows the silence and swaps Silence for Unsilence.
    return Change(incident=updated,
                  timeline=[Entry(at=_utc(now), kind=kind, user=user, text=_quoted(text))],
                  effects=_shown(updated, _update(updated), _reply(updated, kind, said)))


def _next(incident: Incident, now: datetime, **changes: object) -> Incident:
    return incident.model_copy(update={**changes, "updated_at": _utc(now),
                                       "version": incident.version + 1})


def _update(incident: Incident) -> Effect:
    # Keyed by version: each state is shown once; a later version supersedes it.
    return Effect(key=f"{incident.name}:update:{incident.version}", kind="update")


def _shown(incident: Incident, *effects: Effect) -> list[Effect]:
    """``effects`` on the incident's message: none when it was never posted (silenced)."""
    return [] if incident.silenced else list(effects)


def _reply(incident: Incident, what: str, text: str, *, mention: bool = False) -> Effect:
    return Effect(key=f"{incident.name}:{what}:{incident.version}", kind="reply", text=text,
                  mention=mention)


def _quoted(text: str) -> str:
    """Words from the metrics or people in a text that may also mention someone (timeline
    lines, resolutions, thread replies): their angle brackets as look-alikes, so a
    ``<@U1>`` in a route is never taken for the bot's own mention when the text is shown
    (``bot.render.mrkdwn.inert_but_mentions`` keeps mentions, nothing else)."""
    return text.replace("<", "‹").replace(">", "›")


def _ago(then: datetime | None, now: datetime) -> str:
    return format_duration(_utc(now) - then) if then is not None else "soon"


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("incident times must carry a time zone")
    return at.astimezone(UTC)
