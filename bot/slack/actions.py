"""The buttons on alert messages: Acknowledge, Snooze (a duration menu), Resolve, Escalate
now, Show chart.

Each press is acknowledged at once. A permitted one updates the alert in place (a status
line, the buttons it makes pointless removed) and is recorded; a refused one leaves the
message alone, tells the presser privately who may do it, and is recorded as refused.
Who may is ``bot.authz``'s business; the record is ``bot.storage.audit``'s; what each
act means is ``bot.alerts.acts``'.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from datetime import datetime, tzinfo
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.acts import COMMAND_WORDS, DEFAULT_SNOOZE, RULES, SNOOZE_CHOICES, Act
from bot.alerts.book import AlertBook, Posted
from bot.alerts.message import AlertMessage
from bot.authz import Rules, decide, who_may
from bot.clock import Now
from bot.durations import parse_duration
from bot.render.blocks import (
    BlockError,
    alert_message,
    alert_update,
    parse_alert_action_id,
)
from bot.render.mrkdwn import escape
from bot.storage import StorageError
from bot.storage.audit import AuditStore

log = logging.getLogger(__name__)

ALERT_ACTION = re.compile(rf"^alert\.({'|'.join(act.value for act in Act)}):")


def post_alert(client: WebClient, book: AlertBook, channel: str, alert: AlertMessage) -> str:
    """Post ``alert`` in ``channel`` with its buttons and remember where; the message's ``ts``."""
    message = alert_message(alert)
    response = client.chat_postMessage(channel=channel, text=message.text,
                                       blocks=list(message.blocks))
    ts = str(response["ts"])
    book.remember(alert, Posted(channel=channel, ts=ts, text=message.text,
                                blocks=message.blocks))
    return ts


def slack_time(at: datetime, zone: tzinfo) -> str:
    """A time each reader sees in their own zone (Slack's date token), ``zone`` as fallback."""
    fallback = at.astimezone(zone).strftime("%H:%M %Z").strip()
    return f"<!date^{int(at.timestamp())}^{{time}}|{fallback}>"


def status_line(act: Act, user: str, at: datetime, zone: tzinfo, snooze: str | None) -> str:
    when = slack_time(at, zone)
    if act is Act.SNOOZE and snooze is not None:
        until = slack_time(at + parse_duration(snooze), zone)
        return f":zzz: Snoozed {snooze} by <@{user}> at {when}, until {until}"
    return f"{RULES[act].done} by <@{user}> at {when}"


class AlertActs:
    """Acknowledge, snooze, resolve, escalate, show chart: from a button or a command, the
    same authorization, record and in-place update."""

    def __init__(
        self, *, rules: Rules, members: Callable[[str], Collection[str]], audit: AuditStore,
        alerts: AlertBook, clock: Now, zone: tzinfo,
    ) -> None:
        self.rules, self.members, self.audit = rules, members, audit
        self.alerts, self.clock, self.zone = alerts, clock, zone

    def perform(
        self, client: WebClient, act: Act, *, user: str, finding_id: str, channel: str,
        message: dict[str, Any], snooze: str | None, tell: Callable[[str], None],
    ) -> None:
        """``user`` does ``act`` on the alert ``message`` (``ts``, ``text``, ``blocks``)
        in ``channel``; ``tell`` reaches ``user`` alone."""
        now = self.clock()

        def record(allowed: bool, detail: str) -> None:
            try:
                self.audit.record(at=now, user=user, action=act.value, target=finding_id,
                                  allowed=allowed, detail=detail)
            except StorageError as exc:  # the press still gets its answer; the log says why
                log.error("not recorded: %s %s on %s (allowed=%s, %s): %s",
                          user, act.value, finding_id, allowed, detail, exc)

        decision = decide(self.rules, user, act, self.members)
        if not decision.allowed:
            record(False, decision.reason)
            tell(f":no_entry: {who_may(self.rules, act)}")
            return
        if act is Act.SHOW_CHART:
            record(True, _show_chart(client, self.alerts, finding_id, channel, message, tell))
            return
        if "ts" not in message:
            record(True, f"{decision.reason}; no message to update")
            return
        try:
            blocks = alert_update(message.get("blocks") or [], act.value,
                                  status_line(act, user, now, self.zone, snooze))
            client.chat_update(channel=channel, ts=str(message["ts"]),
                               text=str(message.get("text") or "alert"), blocks=blocks)
        except (SlackApiError, BlockError) as exc:
            log.warning("could not update alert %s: %s", finding_id, exc)
            record(True, f"{decision.reason}; the message was not updated: {exc}")
            tell("That was recorded, but I could not update the alert message "
                 f"({_error_of(exc)}).")
            return
        self.alerts.updated(finding_id, blocks, resolved=act is Act.RESOLVE)
        record(True, decision.reason + (f"; for {snooze}" if snooze else ""))

    def command(
        self, client: WebClient, word: str, args: str, *, user: str,
        tell: Callable[[str], None],
    ) -> None:
        """``/perf ack|resolve|snooze ID [duration]``: the button's act on a known alert."""
        act = COMMAND_WORDS[word]
        usage = f"`/perf {word} ID" + (" [15m|1h|4h|1d]`" if act is Act.SNOOZE else "`")
        parts = args.split()
        if not parts or len(parts) > (2 if act is Act.SNOOZE else 1):
            tell(f"Usage: {usage}, with the alert's id (its buttons carry it).")
            return
        finding_id = parts[0]
        snooze = None
        if act is Act.SNOOZE:
            snooze = parts[1] if len(parts) > 1 else DEFAULT_SNOOZE
            if snooze not in SNOOZE_CHOICES:
                tell(f"I can snooze for {', '.join(SNOOZE_CHOICES)}, not `{escape(snooze)}`. "
                     f"Usage: {usage}.")
                return
        posted = self.alerts.posted(finding_id)
        if posted is None or posted.resolved:
            tell(f"There is no open alert with id `{escape(finding_id)}`: `/perf {word}` works on "
                 "alerts posted since perfbot last started and not yet resolved.")
            return
        message = {"ts": posted.ts, "text": posted.text, "blocks": list(posted.blocks)}
        self.perform(client, act, user=user, finding_id=finding_id, channel=posted.channel,
                     message=message, snooze=snooze, tell=tell)


def register_alert_actions(
    app: App,
    *,
    rules: Rules,
    members: Callable[[str], Collection[str]],
    audit: AuditStore,
    alerts: AlertBook,
    clock: Now,
    zone: tzinfo,
    later: Callable[[Callable[[], None]], None],
) -> AlertActs:
    """Add the alert buttons' listeners to ``app``; the acts, for the slash command. Each
    press is acknowledged at once and done ``later``: off Bolt's listener pool, so a slow
    Slack or audit database cannot hold up other requests' acks."""
    acts = AlertActs(rules=rules, members=members, audit=audit, alerts=alerts, clock=clock,
                     zone=zone)

    @app.action(ALERT_ACTION)
    def pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                client: WebClient) -> None:
        ack()
        name, finding_id = parse_alert_action_id(str(action["action_id"]))
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

        later(lambda: acts.perform(client, act, user=user, finding_id=finding_id,
                                   channel=channel, message=message, snooze=snooze, tell=tell))

    return acts


def _show_chart(
    client: WebClient, alerts: AlertBook, finding_id: str, channel: str,
    message: dict[str, Any], tell: Callable[[str], None],
) -> str:
    """Upload the alert's chart in its thread; what happened, for the record."""
    alert = alerts.get(finding_id)
    if alert is None or alert.chart_png is None:
        tell("The chart of this alert is no longer available: perfbot keeps the charts of "
             "recent alerts only, and not across restarts.")
        return "chart not available"
    try:
        client.files_upload_v2(
            channel=channel, thread_ts=message.get("thread_ts") or message.get("ts"),
            content=alert.chart_png, filename=f"alert-{finding_id}.png", title=alert.title,
            alt_txt=f"Chart of {alert.title}",
        )
    except SlackApiError as exc:
        tell(f"The chart could not be posted ({_error_of(exc)}).")
        return f"chart not posted: {_error_of(exc)}"
    return "chart posted"


def _error_of(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return str(exc.response.get("error") or "Slack gave no reason")
    return str(exc)
