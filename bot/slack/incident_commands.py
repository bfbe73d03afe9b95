"""``/perf incidents``, ``/perf incident INC-42``, ``/perf postmortem INC-42``, ``/perf silence …``
and ``/perf oncall …``:
reading the stored incidents and on-call, and the two changes people make from Slack
(silences and on-call overrides), authorized and recorded like the incident buttons."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.acts import Act
from bot.alerts.alertmanager import SOURCE as ALERTMANAGER
from bot.app import Perfbot
from bot.authz import decide, who_may
from bot.durations import format_duration, parse_duration
from bot.incidents.lifecycle import Incident, silenced_here, silenced_upstream
from bot.incidents.schedules import next_shift, on_call
from bot.notify.silences import SilenceError
from bot.render.blocks import SlackMessage, section, validate_blocks
from bot.render.incident_lists import incident_timeline, incidents_list
from bot.render.mrkdwn import inert, slack_time
from bot.render.postmortem import postmortem
from bot.slack.actions import incident_number
from bot.storage import StorageError

log = logging.getLogger(__name__)
Tell = Callable[[SlackMessage], None]
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
LONGEST_SILENCE = timedelta(days=7)
LONGEST_OVERRIDE = timedelta(days=31)


def said(text: str) -> SlackMessage:
    """A short private answer, already mrkdwn (user input in it escaped)."""
    return SlackMessage(text=text, blocks=(section(text),))


def silence_span(text: str, quote: Callable[[str], str] = inert) -> timedelta | str:
    """How long a silence typed as ``text`` lasts, or what is wrong with it (``text`` in it
    through ``quote``: mrkdwn-inert by default)."""
    try:
        span = parse_duration(text.strip())
    except ValueError:
        return f"`{quote(text.strip())}` is not a duration."
    if not timedelta(minutes=1) <= span <= LONGEST_SILENCE:
        return (f"A silence lasts from 1m to {format_duration(LONGEST_SILENCE)}, not "
                f"{quote(text.strip())}.")
    return span


class IncidentCommands:
    def __init__(self, perfbot: Perfbot, client: WebClient) -> None:
        self.perfbot, self.client = perfbot, client
        self.members = perfbot.group_members(client)
        self.delivery = perfbot.delivery_for(client)

    def incidents(self, args: str, tell: Tell) -> None:
        incidents = self.perfbot.incident_store.listed(open_only=True, limit=200)
        tell(incidents_list(incidents, self.perfbot.settings.zone, now=self.perfbot.now()))

    def _named(self, word: str, args: str, tell: Tell) -> Incident | None:
        """The incident ``args`` names, or None after telling the person usage."""
        number = incident_number(args)
        found = self.perfbot.incident_store.get(number) if number is not None else None
        if found is None:
            tell(said(f"Usage: `/perf {word} INC-42`; there is no incident "
                      f"`{inert(args.strip() or '(none given)')}`."))
        return found

    def incident(self, args: str, tell: Tell) -> None:
        found = self._named("incident", args, tell)
        if found is None:
            return
        entries = self.perfbot.incident_store.timeline(found.id)
        tell(incident_timeline(found, entries, self.perfbot.settings.zone))

    def postmortem(self, args: str, tell: Tell) -> None:
        """``/perf postmortem INC-42``: its markdown postmortem uploaded in its thread."""
        found = self._named("postmortem", args, tell)
        if found is None:
            return
        entries = self.perfbot.incident_store.timeline(found.id)
        text = postmortem(found, entries, self.perfbot.settings.zone)
        try:
            self.client.files_upload_v2(
                channel=found.channel, thread_ts=found.message_ts, content=text.encode(),
                filename=f"{found.name}-postmortem.md", title=f"Postmortem of {found.name}")
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else str(exc)
            tell(said(f"I could not post the postmortem ({inert(str(error))}); "
                      f"`perfbot incidents export {found.name}` writes it to a file."))
            return
        tell(said(f"The postmortem of {found.name} is in its thread."))

    def silence(self, args: str, user: str, tell: Tell) -> None:
        """``/perf silence SERVICE|ROUTE DURATION [reason]``: matching incidents are stored
        and listed, not posted, until it ends."""
        usage = "Usage: `/perf silence checkout 2h deploy in progress` (a service or route " \
                f"word, a duration up to {format_duration(LONGEST_SILENCE)}, a reason)."
        parts = args.split(maxsplit=2)
        if len(parts) < 2:
            tell(said(usage))
            return
        matcher, span_text = parts[0], parts[1]
        reason = parts[2] if len(parts) > 2 else ""
        span = silence_span(span_text)
        if isinstance(span, str):
            tell(said(f"{span} {usage}"))
            return
        number = incident_number(matcher) if matcher.upper().startswith("INC-") else None
        if number is not None:
            found = self.perfbot.incident_store.get(number)
            if found is None:
                tell(said(f"There is no incident `{inert(matcher)}`. {usage}"))
                return
            self.silence_incident(found, span, reason, user, tell)
            return
        if not self._known(matcher):
            tell(said(f"No service or endpoint matches `{inert(matcher)}`; `/perf help` "
                      "shows how to name them."))
            return
        if not self.allowed(user, Act.SILENCE, f"silence:{matcher}", tell):
            return
        now = self.perfbot.now()
        detail = f"{matcher} for {format_duration(span)}: {reason}"[:2000]
        try:
            made = self.perfbot.incident_store.silence(
                matcher, reason, user, now, now + span,
                record=lambda new: self._row(user, Act.SILENCE, f"silence:{new}", detail))
        except StorageError as exc:
            tell(said(f"Nothing changed: I could not store the silence ({inert(str(exc))})."))
            return
        until = slack_time(made.ends_at, self.perfbot.settings.zone, day=True)
        tell(said(f":mute: Silenced `{inert(matcher)}` until {until}"
                  + (f": {inert(reason)}" if reason else "")
                  + ". New incidents that match are stored and listed, not posted."))

    def silence_incident(self, incident: Incident, span: timedelta, reason: str, user: str,
                         tell: Tell) -> None:
        """``/perf silence INC-42 …`` and the Silence button: in Alertmanager for an incident
        that came from there, else a silence stored in perfbot for its service; either way
        kept on the incident (shown on its message, ended by Unsilence)."""
        if incident.alert.source == ALERTMANAGER:
            self._silence_upstream(incident, span, reason, user, tell)
        else:
            self._silence_here(incident, span, reason, user, tell)

    def _silence_here(self, incident: Incident, span: timedelta, reason: str, user: str,
                      tell: Tell) -> None:
        """The bot's own incident: a silence of its service stored in perfbot (new incidents
        that match are stored and listed, not posted), its id kept on the incident."""
        if incident.perfbot_silence is not None:
            tell(said(f"{incident.name} is already silenced (silence "
                      f"#{incident.perfbot_silence}); `/perf unsilence {incident.name}` "
                      "ends it."))
            return
        if not self.allowed(user, Act.SILENCE, f"silence:{incident.name}", tell):
            return
        matcher, store, now = incident.alert.service, self.perfbot.incident_store, \
            self.perfbot.now()
        detail = f"{incident.name} ({matcher}) for {format_duration(span)}: {reason}"[:2000]
        try:
            made = store.silence(
                matcher, reason, user, now, now + span,
                record=lambda new: self._row(user, Act.SILENCE, f"silence:{new}", detail))
        except StorageError as exc:
            tell(said(f"Nothing changed: I could not store the silence ({inert(str(exc))})."))
            return
        text = (f"silence #{made.id} of {matcher} in perfbot for {format_duration(span)}"
                + (f": {reason}" if reason else ""))
        try:
            store.change(incident.id, lambda i: silenced_here(
                i, made.id, user, text, now, made.ends_at))
        except StorageError as exc:  # the silence holds; only the message does not say so
            log.error("silence #%s stored for %s, not kept on it: %s", made.id,
                      incident.name, exc)
        self._show(incident)
        until = slack_time(made.ends_at, self.perfbot.settings.zone, day=True)
        tell(said(f":mute: Silenced {incident.name}: silence #{made.id} of "
                  f"`{inert(matcher)}` until {until}" + (f" ({inert(reason)})" if reason
                                                          else "")
                  + ". New incidents that match are stored and listed, not posted; "
                  f"`/perf unsilence {incident.name}` ends it."))

    def _show(self, incident: Incident) -> None:
        """Its message edited at once (the sweep would, later): the silence and the
        Unsilence button, or their end."""
        try:
            self.delivery.deliver_for(incident.id, self.perfbot.now())
        except StorageError as exc:
            log.warning("could not show %s's silence at once: %s", incident.name, exc)

    def _silence_upstream(self, incident: Incident, span: timedelta, reason: str,
                          user: str, tell: Tell) -> None:
        """An incident from Alertmanager: the silence is created there, with its alert's
        matchers, and its id kept on the incident for ``/perf unsilence``."""
        silences = self.perfbot.alertmanager_silences
        if silences is None:
            tell(said(f"{incident.name} came from Alertmanager, and `alertmanager.url` is "
                      "not set: I cannot create silences there."))
            return
        if incident.alertmanager_silence is not None:
            tell(said(f"{incident.name} is already silenced in Alertmanager (silence "
                      f"`{inert(incident.alertmanager_silence)}`); `/perf unsilence "
                      f"{incident.name}` ends it."))
            return
        if not self.allowed(user, Act.SILENCE, f"silence:{incident.name}", tell):
            return
        now = self.perfbot.now()
        try:
            made = silences.create(incident.alert.labels, user, reason, now, now + span)
        except SilenceError as exc:
            tell(said(f"Nothing changed: Alertmanager did not create the silence "
                      f"({inert(str(exc))})."))
            return
        until = slack_time(now + span, self.perfbot.settings.zone, day=True)
        text = (f"silence {made} in Alertmanager for {format_duration(span)}"
                + (f": {reason}" if reason else ""))
        try:
            self.perfbot.incident_store.change(
                incident.id, lambda i: silenced_upstream(i, made, user, text, now, now + span),
                record=self._row(user, Act.SILENCE, f"silence:{incident.name}",
                                 text[:2000]))
        except StorageError as exc:
            log.error("silence %s created in Alertmanager for %s, not stored: %s", made,
                      incident.name, exc)
            tell(said(f"Alertmanager silenced {incident.name} (silence `{inert(made)}`) but I "
                      f"could not store it ({inert(str(exc))}); unsilence it in "
                      "Alertmanager."))
            return
        self._show(incident)
        tell(said(f":mute: Silenced {incident.name} in Alertmanager until {until}: silence "
                  f"`{inert(made)}`" + (f" ({inert(reason)})" if reason else "")
                  + f". `/perf unsilence {incident.name}` ends it."))

    def unsilence(self, args: str, user: str, tell: Tell) -> None:
        """``/perf unsilence INC-42`` and the Unsilence button: its silence ended."""
        found = self._named("unsilence", args, tell)
        if found is not None:
            self.unsilence_incident(found, user, tell)

    def unsilence_incident(self, found: Incident, user: str, tell: Tell) -> None:
        """Its silence deleted in Alertmanager, or ended in perfbot (the bot's own)."""
        if found.perfbot_silence is not None:
            self._unsilence_here(found, found.perfbot_silence, user, tell)
            return
        silences = self.perfbot.alertmanager_silences
        if found.alertmanager_silence is None or silences is None:
            tell(said(f"{found.name} has no silence to end."))
            return
        if not self.allowed(user, Act.UNSILENCE, f"unsilence:{found.name}", tell):
            return
        silence_id = found.alertmanager_silence
        try:
            silences.delete(silence_id)
        except SilenceError as exc:
            tell(said(f"Nothing changed: Alertmanager did not delete silence "
                      f"`{inert(silence_id)}` ({inert(str(exc))})."))
            return
        now = self.perfbot.now()
        text = f"silence {silence_id} deleted in Alertmanager"
        try:
            self.perfbot.incident_store.change(
                found.id, lambda i: silenced_upstream(i, None, user, text, now),
                record=self._row(user, Act.UNSILENCE, f"unsilence:{found.name}", text))
        except StorageError as exc:
            tell(said(f"Deleted silence `{inert(silence_id)}` in Alertmanager, but could not "
                      f"record it ({inert(str(exc))})."))
            return
        self._show(found)
        tell(said(f":bell: Unsilenced {found.name}: silence `{inert(silence_id)}` deleted."))

    def _unsilence_here(self, found: Incident, silence_id: int, user: str,
                        tell: Tell) -> None:
        if not self.allowed(user, Act.UNSILENCE, f"unsilence:{found.name}", tell):
            return
        now, store = self.perfbot.now(), self.perfbot.incident_store
        text = f"silence #{silence_id} ended in perfbot"
        try:
            store.end_silence(silence_id, now, record=self._row(
                user, Act.UNSILENCE, f"unsilence:{found.name}", text))
            store.change(found.id, lambda i: silenced_here(i, None, user, text, now))
        except StorageError as exc:
            tell(said(f"I could not end silence #{silence_id} ({inert(str(exc))}); please "
                      "try again in a minute."))
            return
        self._show(found)
        tell(said(f":bell: Unsilenced {found.name}: silence #{silence_id} ended."))

    def oncall(self, args: str, user: str, tell: Tell) -> None:
        word, _, rest = args.strip().partition(" ")
        if word.lower() == "override":
            self._override(rest, user, tell)
            return
        tell(self._who_is_on_call())

    def on_call_lines(self) -> list[str]:
        """Who is on call now and next, a line per configured schedule (overrides
        included); none when no schedule is configured. ``/perf oncall`` and App Home."""
        schedules = self.perfbot.settings.oncall.schedules
        if not schedules:
            return []
        now, zone = self.perfbot.now(), self.perfbot.settings.zone
        overrides = self.perfbot.incidents.overrides(now)
        lines = []
        for schedule in schedules:
            mine = [o for o in overrides if o.schedule == schedule.name]
            who = ", ".join(f"<@{u}>" for u in on_call(schedule, mine, now)) or "nobody"
            upcoming = next_shift(schedule, mine, now)
            after = (f"; next: {', '.join(f'<@{u}>' for u in upcoming.users) or 'nobody'} "
                     f"from {slack_time(upcoming.starts_at, zone, day=True)}"
                     if upcoming is not None else "")
            lines.append(f"• *{inert(schedule.name)}*: {who}{after}")
        return lines

    def _who_is_on_call(self) -> SlackMessage:
        lines = self.on_call_lines()
        if not lines:
            return said("No on-call schedule is configured: add `oncall.schedules` to "
                        "perfbot.yaml (see perfbot.example.yaml).")
        message = SlackMessage(text="Who is on call",
                               blocks=(section("*On call now*\n" + "\n".join(lines)),))
        validate_blocks(message.blocks)
        return message

    def _override(self, args: str, user: str, tell: Tell) -> None:
        """``/perf oncall override @ana 2026-12-24 09:00 to 2026-12-27 09:00 [schedule]``."""
        usage = ("Usage: `/perf oncall override @person 2026-12-24 09:00 to 2026-12-27 09:00 "
                 "[schedule]` (times in " + self.perfbot.settings.timezone + ").")
        parsed = self._parse_override(args)
        if isinstance(parsed, str):
            tell(said(f"{parsed} {usage}"))
            return
        who, start, end, schedule = parsed
        if not self.allowed(user, Act.OVERRIDE, f"override:{schedule}", tell):
            return
        detail = f"{who} on call for {schedule} from {start.isoformat()} to {end.isoformat()}"
        try:
            self.perfbot.incident_store.override(
                schedule, who, start, end, user, self.perfbot.now(),
                record=lambda new: self._row(user, Act.OVERRIDE, f"override:{new}", detail))
        except StorageError as exc:
            tell(said(f"Nothing changed: I could not store the override ({inert(str(exc))})."))
            return
        zone = self.perfbot.settings.zone
        tell(said(f":calendar: <@{who}> is on call for *{inert(schedule)}* from "
                  f"{slack_time(start, zone, day=True)} to {slack_time(end, zone, day=True)}."))

    def _parse_override(self, args: str) -> tuple[str, datetime, datetime, str] | str:
        parts = args.split()
        if not parts or not _USER.match(parts[0]):
            return "Start with the person, as a mention (`@ana`)."
        who = _USER.match(parts[0]).group(1)  # type: ignore[union-attr]
        names = [s.name for s in self.perfbot.settings.oncall.schedules]
        rest = parts[1:]
        schedule = rest.pop() if rest and rest[-1] in names else None
        if schedule is None and len(names) != 1:
            return ("Name the schedule at the end (" + ", ".join(f"`{inert(n)}`" for n in names)
                    + ")." if names else "No on-call schedule is configured.")
        schedule = schedule or names[0]
        text = " ".join(rest)
        left, sep, right = text.partition(" to ")
        if not sep:
            return "Give the start and the end, joined by `to`."
        try:
            start, end = (self._moment(side) for side in (left, right))
        except ValueError:
            return f"`{inert(text)}` is not two times like `2026-12-24 09:00`."
        if end <= start:
            return "The end must come after the start."
        if end - start > LONGEST_OVERRIDE:
            return f"An override lasts at most {format_duration(LONGEST_OVERRIDE)}."
        if end <= self.perfbot.now():
            return "That override would already be over."
        return who, start, end, schedule

    def _moment(self, text: str) -> datetime:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.perfbot.settings.zone)
        return moment.astimezone(UTC)

    def _known(self, matcher: str) -> bool:
        wanted = matcher.lower()
        catalog = self.perfbot.catalog
        return any(wanted == e.endpoint.service.lower() or wanted in e.column.lower()
                   for e in catalog.entries)

    def allowed(self, user: str, act: Act, target: str, tell: Tell) -> bool:
        """May ``user`` do ``act``? A refusal is recorded and told."""
        rules = self.perfbot.rules
        decision = decide(rules, user, act, self.members)
        if not decision.allowed:
            try:
                self._record(user, act, target, False, decision.reason)
            except StorageError as exc:  # refused all the same; the log says why
                log.error("not recorded: %s refused %s on %s: %s", user, act, target, exc)
            tell(said(f":no_entry: {who_may(rules, act)}"))
        return decision.allowed

    def _record(self, user: str, act: Act, target: str, allowed: bool, detail: str) -> None:
        self.perfbot.audit.record(at=self.perfbot.now(), user=user, action=act.value,
                                  target=target[:255], allowed=allowed, detail=detail)

    def _row(self, user: str, act: Act, target: str, detail: str) -> dict[str, object]:
        """The audit row of a permitted change, stored with it."""
        return {"at": self.perfbot.now().astimezone(UTC), "user": user, "action": act.value,
                "target": target[:255], "allowed": True, "detail": detail}
