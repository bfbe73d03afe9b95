"""The Silence and Unsilence buttons on incident messages.

Silence opens a modal (``views.open``: how long, default 2h, and a comment); its submission
silences the incident the way ``/perf silence INC-42`` does: in Alertmanager for an incident
that came from there, in perfbot for the bot's own. Unsilence ends that silence. Both are
authorized and recorded by ``IncidentCommands`` before the message shows them; a refusal at
the press opens no modal.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.acts import Act
from bot.app import Perfbot
from bot.incidents.lifecycle import Incident
from bot.render.blocks import SlackMessage, parse_alert_action_id
from bot.render.incident import (
    SILENCE_COMMENT_BLOCK,
    SILENCE_DURATION_BLOCK,
    SILENCE_INPUT,
    SILENCE_VIEW,
    silence_modal,
)
from bot.render.mrkdwn import inert
from bot.slack.actions import incident_number
from bot.slack.incident_commands import IncidentCommands, said, silence_span
from bot.storage import StorageError

log = logging.getLogger(__name__)
SILENCE_ACTION = re.compile(rf"^alert\.({Act.SILENCE.value}|{Act.UNSILENCE.value}):")
MAX_COMMENT = 500  # the modal's limit; a forged submission is clipped to it too
Work = Callable[[], None]


def register_silence_buttons(app: App, perfbot: Perfbot, commands: IncidentCommands,
                             later: Callable[[Work], None]) -> None:
    """Add the Silence / Unsilence listeners and the modal's submission to ``app``; the
    changes are done ``later`` (off Bolt's listener pool), as the other buttons' are."""

    def tell_in(client: WebClient, channel: str, user: str,
                thread_ts: str | None = None) -> Callable[[SlackMessage], None]:
        def tell(message: SlackMessage) -> None:
            try:
                client.chat_postEphemeral(channel=channel, user=user, text=message.text,
                                          blocks=list(message.blocks), thread_ts=thread_ts)
            except SlackApiError as exc:
                log.warning("could not tell %s in %s: %s", user, channel, exc)
        return tell

    def stored(name: str, tell: Callable[[SlackMessage], None]) -> Incident | None:
        number = incident_number(name)
        try:
            found = perfbot.incident_store.get(number) if number is not None else None
        except StorageError as exc:
            tell(said(f"Nothing changed: I could not read `{inert(name)}` from the database "
                      f"({inert(str(exc))}). Please try again in a minute."))
            return None
        if found is None:
            tell(said(f"There is no incident `{inert(name)}`."))
        return found

    @app.action(SILENCE_ACTION)
    def pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                client: WebClient) -> None:
        ack()
        act, name = parse_alert_action_id(str(action["action_id"]))
        user = str(body["user"]["id"])
        channel = str((body.get("channel") or {}).get("id")
                      or (body.get("container") or {}).get("channel_id"))
        tell = tell_in(client, channel, user, (body.get("message") or {}).get("thread_ts"))
        found = stored(name, tell)
        if found is None:
            return
        if act == Act.UNSILENCE:
            later(lambda: commands.unsilence_incident(found, user, tell))
            return
        # Refused at the press (and recorded), so nobody fills in a form for nothing; the
        # submission is checked again. The modal opens now: its trigger_id lasts 3 s.
        if not commands.allowed(user, Act.SILENCE, f"silence:{found.name}", tell):
            return
        try:
            client.views_open(trigger_id=str(body["trigger_id"]), view=silence_modal(found))
        except SlackApiError as exc:
            log.warning("could not open the silence form for %s: %s", user, exc)
            tell(said(f"I could not open the form; `/perf silence {found.name} 2h reason` "
                      "does the same."))

    @app.view(SILENCE_VIEW)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any],
                  client: WebClient) -> None:
        values: dict[str, Any] = (view.get("state") or {}).get("values") or {}
        typed = str(((values.get(SILENCE_DURATION_BLOCK) or {}).get(SILENCE_INPUT) or {})
                    .get("value") or "")
        span = silence_span(typed, quote=str)  # the form's error line is plain text
        if isinstance(span, str):
            ack(response_action="errors", errors={SILENCE_DURATION_BLOCK: span})
            return
        ack()  # the modal closes; the outcome is told in the incident's channel
        comment = str(((values.get(SILENCE_COMMENT_BLOCK) or {}).get(SILENCE_INPUT) or {})
                      .get("value") or "").strip()[:MAX_COMMENT]
        user, name = str(body["user"]["id"]), str(view.get("private_metadata") or "")

        def silence() -> None:
            found = stored(name, lambda message: log.warning(  # the form names it: forged
                "a silence form from %s for %r: %s", user, name, message.text))
            if found is not None:
                commands.silence_incident(found, span, comment, user,
                                          tell_in(client, found.channel, user))

        later(silence)
