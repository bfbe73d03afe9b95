"""The buttons on incident messages (Acknowledge, Snooze (a duration menu), Resolve,
Escalate now, Show chart) and ``/perf ack|snooze|resolve|escalate INC-42``.

Each press is acknowledged at once. A permitted one changes the stored incident and is
recorded in the same transaction; the message is then edited from what was stored. A
refused one changes nothing, tells the presser privately who may, and is recorded as
refused. Who may is ``bot.authz``'s business; what each act means is ``bot.alerts.acts``';
what it does to an incident is ``bot.incidents.lifecycle``'s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.acts import BUTTONS, COMMAND_WORDS, DEFAULT_SNOOZE, SNOOZE_CHOICES, Act
from bot.app import Perfbot
from bot.authz import decide, who_may
from bot.durations import parse_duration
from bot.incidents.lifecycle import Incident, Refused
from bot.render.alert import alert_chart
from bot.render.blocks import parse_alert_action_id
from bot.render.mrkdwn import escape, inert_but_mentions
from bot.storage import StorageError

log = logging.getLogger(__name__)

# Only the acts that are buttons: anything else in an action id is not ours to route.
ALERT_ACTION = re.compile(rf"^alert\.({'|'.join(a.value for a in (*BUTTONS, Act.SHOW_CHART))}):")


def incident_number(text: str) -> int | None:
    """``INC-42``, ``inc-42`` or ``42`` → 42; None for anything else."""
    digits = text.strip().upper().removeprefix("INC-")
    return int(digits) if digits.isdigit() and len(digits) < 10 else None


class IncidentActs:
    """Acknowledge, snooze, resolve, escalate, show chart: from a button or a command, on
    the stored incident (so they work after a restart and from any replica): authorized,
    changed and recorded in one transaction, and only then shown in Slack, re-rendered from
    what was stored."""

    def __init__(self, perfbot: Perfbot, client: WebClient) -> None:
        self.perfbot, self.client = perfbot, client
        self.members = perfbot.group_members(client)
        self.delivery = perfbot.delivery_for(client)

    def perform(
        self, act: Act, *, user: str, incident: str, snooze: str | None,
        tell: Callable[[str], None],
    ) -> None:
        """``user`` does ``act`` on ``incident`` (its name); ``tell`` reaches ``user`` alone."""
        perfbot = self.perfbot
        now = perfbot.now()
        number = incident_number(incident)
        found = perfbot.incident_store.get(number) if number is not None else None
        if found is None:
            tell(f"There is no incident `{escape(incident)}`. `/perf incidents` lists the open "
                 "ones.")
            return
        name = found.name

        def record(allowed: bool, detail: str) -> None:
            try:
                perfbot.audit.record(at=now, user=user, action=act.value, target=name,
                                     allowed=allowed, detail=detail)
            except StorageError as exc:  # the person still gets the answer; the log says why
                log.error("not recorded: %s %s on %s (allowed=%s, %s): %s",
                          user, act.value, name, allowed, detail, exc)

        decision = decide(perfbot.rules, user, act, self.members)
        if not decision.allowed:
            record(False, decision.reason)
            tell(f":no_entry: {who_may(perfbot.rules, act)}")
            return
        if act is Act.SHOW_CHART:
            record(True, self._show_chart(found, tell))
            return
        detail = decision.reason + (f"; for {snooze}" if snooze else "")
        row = {"at": now.astimezone(UTC), "user": user, "action": act.value, "target": name,
               "allowed": True, "detail": detail}
        try:
            done = perfbot.incidents.act(
                found.id, act, user, now, record=row,
                snooze=parse_duration(snooze) if snooze is not None else None)
        except StorageError as exc:
            log.error("could not %s %s for %s: %s", act.value, name, user, exc)
            tell(f"Nothing changed: I could not store that ({exc}).")
            return
        if isinstance(done, Refused):
            record(False, done.reason)
            # The reason may quote the metrics (how it recovered): only mentions stay markup.
            tell(inert_but_mentions(done.reason))
            return
        try:
            self.delivery.deliver_for(found.id, perfbot.now())
        except StorageError as exc:  # stored: the sweep shows it in Slack when it can
            log.warning("could not show %s's change at once: %s", name, exc)

    def command(self, word: str, args: str, *, user: str, tell: Callable[[str], None]) -> None:
        """``/perf ack|resolve|escalate ID`` and ``/perf snooze ID [duration]``."""
        act = COMMAND_WORDS[word]
        usage = f"`/perf {word} INC-42" + (" [15m|1h|4h|1d]`" if act is Act.SNOOZE else "`")
        parts = args.split()
        if not parts or len(parts) > (2 if act is Act.SNOOZE else 1):
            tell(f"Usage: {usage}, with the incident's id (on its message).")
            return
        snooze = None
        if act is Act.SNOOZE:
            snooze = parts[1] if len(parts) > 1 else DEFAULT_SNOOZE
            if snooze not in SNOOZE_CHOICES:
                tell(f"I can snooze for {', '.join(SNOOZE_CHOICES)}, not `{escape(snooze)}`. "
                     f"Usage: {usage}.")
                return
        self.perform(act, user=user, incident=parts[0], snooze=snooze, tell=tell)

    def _show_chart(self, incident: Incident, tell: Callable[[str], None]) -> str:
        """Upload the incident's chart in its thread (an alert storm's, when its message is
        in one: a reply's ts starts no thread); what happened, for the record."""
        chart = incident.alert.chart
        if chart is None:
            tell(f"{incident.name} has no chart.")
            return "no chart"
        try:
            self.client.files_upload_v2(
                channel=incident.channel, thread_ts=incident.thread_ts or incident.message_ts,
                content=alert_chart(chart, self.perfbot.settings.zone),
                filename=f"{incident.name}.png", title=f"{incident.name}: {incident.alert.title}",
                alt_txt=f"Chart of {chart.label}",
            )
        except SlackApiError as exc:
            tell(f"The chart could not be posted ({_error_of(exc)}).")
            return f"chart not posted: {_error_of(exc)}"
        return "chart posted"


def register_alert_actions(
    app: App, perfbot: Perfbot, client: WebClient,
    later: Callable[[Callable[[], None]], None],
) -> IncidentActs:
    """Add the incident buttons' listeners to ``app``; the acts, for the slash command. Each
    press is acknowledged at once and done ``later``: off Bolt's listener pool, so a slow
    Slack or database cannot hold up other requests' acks."""
    acts = IncidentActs(perfbot, client)

    @app.action(ALERT_ACTION)
    def pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                client: WebClient) -> None:
        ack()
        name, incident = parse_alert_action_id(str(action["action_id"]))
        act = Act(name)
        user = str(body["user"]["id"])
        channel = str((body.get("channel") or {}).get("id")
                      or (body.get("container") or {}).get("channel_id"))
        message: dict[str, Any] = body.get("message") or {}
        snooze = None
        if act is Act.SNOOZE:
            snooze = str((action.get("selected_option") or {}).get("value", "")).split("|")[0]
            if snooze not in SNOOZE_CHOICES:
                log.warning("unknown snooze choice %r from %s", snooze, user)
                return

        def tell(text: str) -> None:
            try:
                client.chat_postEphemeral(channel=channel, user=user, text=text,
                                          thread_ts=message.get("thread_ts"))
            except SlackApiError as exc:
                log.warning("could not tell %s in %s: %s", user, channel, exc)

        later(lambda: acts.perform(act, user=user, incident=incident, snooze=snooze, tell=tell))

    return acts


def _error_of(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return str(exc.response.get("error") or "Slack gave no reason")
    return str(exc)
