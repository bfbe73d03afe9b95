"""How the Slack Web API's failures reach the asker (the client itself is
``bot.notify.slack``'s)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.render.blocks import SlackMessage

log = logging.getLogger(__name__)

INVITE = ("I can't post in this channel: I'm not a member. Invite me with `/invite @perfbot` "
          "(or ask me in a DM) and try again.")


def ephemeral(
    client: WebClient, channel: str, user: str | None, thread_ts: str | None
) -> Callable[[SlackMessage], None]:
    def tell(message: SlackMessage) -> None:
        if user is None:
            return
        try:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts,
                                      text=message.text, blocks=list(message.blocks))
        except SlackApiError as exc:
            log.warning("could not tell %s in %s: %s", user, channel, exc)

    return tell


def api_problem(exc: SlackApiError) -> str:
    """What Slack's error means for the asker."""
    error = exc.response.get("error", "") if exc.response is not None else ""
    if error in ("not_in_channel", "channel_not_found"):
        return INVITE
    status = exc.response.status_code if exc.response is not None else 200
    if status >= 500:
        return (f"Slack is having trouble (HTTP {status}); "
                "please try again in a minute.")
    return f"Slack refused the message ({error or 'no reason given'})."
