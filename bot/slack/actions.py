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
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeVar

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.acts import (
    BUTTONS,
    COMMAND_WORDS,
    DEFAULT_SNOOZE,
    RULES,
    SNOOZE_CHOICES,
    Act,
)
from bot.app import Perfbot
from bot.authz import decide, who_may
from bot.durations import parse_duration
from bot.incidents.lifecycle import Incident, Refused
from bot.render.alert import alert_chart
from bot.render.blocks import parse_alert_action_id
from bot.render.mrkdwn import escape, inert_but_mentions
from bot.storage import StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")
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
        """``user`` does ``act`` on ``incident`` (its name); ``tell`` reaches ``user`` alone.
        Recorded first, shown after: what cannot be recorded changes nothing, in the store
        or in Slack, and the presser is told to try again."""
        perfbot = self.perfbot
        now = perfbot.now()
        number = incident_number(incident)
        try:
            found = (_once_more(lambda: perfbot.incident_store.get(number))
                     if number is not None else None)
        except StorageError as exc:
            log.error("could not read INC-%s for %s's %s: %s", number, user, act.value, exc)
            tell(f"Nothing changed: I could not read `{escape(incident)}` from the database. "
                 f"Please try again in a minute ({inert_but_mentions(str(exc))}).")
            return
        if found is None:
            tell(f"There is no incident `{escape(incident)}`. `/perf incidents` lists the open "
                 "ones.")
            return
        name = found.name

        def record(allowed: bool, detail: str) -> bool:
            try:
                _once_more(lambda: perfbot.audit.record(
                    at=now, user=user, action=act.value, target=name, allowed=allowed,
                    detail=detail))
            except StorageError as exc:
                log.error("not recorded: %s %s on %s (allowed=%s, %s): %s",
                          user, act.value, name, allowed, detail, exc)
                return False
            return True

        decision = decide(perfbot.rules, user, act, self.members)
        if not decision.allowed:
            refusal = f":no_entry: {who_may(perfbot.rules, act)}"
            tell(refusal if record(False, decision.reason) else _unrecorded(refusal))
            return
        if act is Act.SHOW_CHART:  # changes no state: the upload's outcome is what is kept
            outcome = self._show_chart(found, tell)
            if not record(True, outcome):
                tell(f"I could not record that you asked for {name}'s chart ({outcome}): "
                     "the database is not answering.")
            return
        detail = decision.reason + (f"; for {snooze}" if snooze else "")
        row = {"at": now.astimezone(UTC), "user": user, "action": act.value, "target": name,
               "allowed": True, "detail": detail}
        try:
            done = _once_more(lambda: perfbot.incidents.act(
                found.id, act, user, now, record=row,
                snooze=parse_duration(snooze) if snooze is not None else None))
        except StorageError as exc:
            log.error("could not %s %s for %s: %s", act.value, name, user, exc)
            tell(f"Nothing changed: I could not record that you asked to "
                 f"{RULES[act].verb} {name}, so it and its message stay as they are. Please "
                 f"try again in a minute ({inert_but_mentions(str(exc))}).")
            return
        if isinstance(done, Refused):
            # The reason may quote the metrics (how it recovered): only mentions stay markup.
            refusal = inert_but_mentions(done.reason)
            tell(refusal if record(False, done.reason) else _unrecorded(refusal))
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


# A lock held a moment too long, a connection dropped: worth one more try, not more (the
# presser waits, and each try may wait out the database's lock timeout).
RETRY_PAUSE_S = 0.5


def _once_more(do: Callable[[], T]) -> T:
    """``do()``, and once more after a short pause if the store failed."""
    try:
        return do()
    except StorageError as exc:
        log.warning("the store failed (%s); trying once more", exc)
        time.sleep(RETRY_PAUSE_S)
        return do()


def _unrecorded(said: str) -> str:
    """What the presser is told when their attempt could not be recorded."""
    return (f"{said}\nNothing changed, and I could not record this attempt (the database "
            "is not answering); please try again in a minute.")


def _error_of(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return str(exc.response.get("error") or "Slack gave no reason")
    return str(exc)
