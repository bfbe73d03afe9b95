"""The "Useful" / "Noise" buttons on detection alerts: the answer is stored (who, when,
which, with the alert's signal, endpoint and evidence) before Slack shows it; the message
then says "Marked noise by @x" in place of the buttons. Anyone who sees the alert may
answer; a second answer of the same person replaces the first."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.app import Perfbot
from bot.incidents.lifecycle import Incident
from bot.render.feedback import answered, parse_feedback_action_id
from bot.render.mrkdwn import escape
from bot.slack.actions import incident_number
from bot.storage import StorageError
from bot.storage.feedback import FeedbackStore, Verdict

log = logging.getLogger(__name__)

FEEDBACK_ACTION = re.compile(r"^feedback\.(useful|noise):")


def register_feedback_actions(
    app: App, perfbot: Perfbot, later: Callable[[Callable[[], None]], None],
) -> None:
    """Add the feedback buttons' listener to ``app``: acknowledged at once, done ``later``."""
    store = FeedbackStore(perfbot.database)

    @app.action(FEEDBACK_ACTION)
    def pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                client: WebClient) -> None:
        ack()
        try:
            verdict, name = parse_feedback_action_id(str(action["action_id"]))
        except ValueError:
            log.warning("a feedback button with no incident was pressed; ignored")
            return
        user = str(body["user"]["id"])
        channel = str((body.get("channel") or {}).get("id")
                      or (body.get("container") or {}).get("channel_id"))
        message: dict[str, Any] = body.get("message") or {}

        def tell(text: str) -> None:
            try:
                client.chat_postEphemeral(channel=channel, user=user, text=text,
                                          thread_ts=message.get("thread_ts"))
            except SlackApiError as exc:
                log.warning("could not tell %s in %s: %s", user, channel, exc)

        later(lambda: answer(perfbot, store, client, verdict, name, user, channel, message,
                             tell))


def answer(
    perfbot: Perfbot, store: FeedbackStore, client: WebClient, verdict: str, name: str,
    user: str, channel: str, message: dict[str, Any], tell: Callable[[str], None],
) -> None:
    """Store ``user``'s answer on incident ``name``, then show it on its message."""
    number = incident_number(name)
    try:
        found: Incident | None = (perfbot.incident_store.get(number)
                                  if number is not None else None)
        if found is None:
            tell(f"There is no incident `{escape(name)}`: nothing was recorded.")
            return
        v: Verdict = "noise" if verdict == "noise" else "useful"
        store.record(found, v, user, perfbot.now())
    except StorageError as exc:
        log.error("could not record %s's %s on %s: %s", user, verdict, name, exc)
        tell("Nothing was recorded: the database is not answering. Please try again in a "
             "minute.")
        return
    ts = message.get("ts")
    blocks = message.get("blocks")
    if not ts or not isinstance(blocks, list):
        return
    try:
        client.chat_update(channel=channel, ts=str(ts), text=str(message.get("text", "")),
                           blocks=answered(blocks, verdict, user))
    except SlackApiError as exc:  # recorded: only the message does not say so yet
        log.warning("could not show %s's answer on %s: %s", user, name, exc)
