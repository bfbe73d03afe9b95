"""Posting in Slack channels at Slack's pace (one message per second per channel), with a
default channel for the posts whose own channel refuses them."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.incidents.lifecycle import Incident
from bot.render.blocks import SlackMessage

log = logging.getLogger(__name__)

# A post refused for these goes to the default channel instead (the owning channel is gone,
# archived, or the bot was never invited): an alert posted elsewhere beats no alert.
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})


class Channels:
    """``pace`` is the least time between two messages the bot posts in one channel (edits
    are not paced); ``default_channel`` takes the posts whose own channel refuses them."""

    def __init__(self, client: WebClient, default_channel: str, pace: timedelta) -> None:
        self.client, self.default_channel, self.pace = client, default_channel, pace
        self._last_post: dict[str, datetime] = {}

    def may_post(self, channel: str, now: datetime) -> bool:
        last = self._last_post.get(channel)
        return last is None or now - last >= self.pace

    def posted_in(self, channel: str, now: datetime) -> None:
        """A message was posted in ``channel`` now: its pace counts from now."""
        self._last_post[channel] = now

    def post(
        self, channel: str, message: SlackMessage, now: datetime, *,
        thread_ts: str | None = None,
    ) -> tuple[Any, str] | None:
        """``chat.postMessage`` in ``channel``, else (a channel error) in the default
        channel, at the top level; Slack's answer and the channel used. None: the default
        channel had a post this very second (its pace), try again on the next call."""
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        try:
            response = self.client.chat_postMessage(
                channel=channel, text=message.text, blocks=list(message.blocks), **extra)
            self._posted(channel, response, now)
            return response, channel
        except SlackApiError as exc:
            if error_of(exc) not in CHANNEL_ERRORS or channel == self.default_channel:
                raise
            log.warning("cannot post in %s (%s): posting in the default channel %s instead",
                        channel, error_of(exc), self.default_channel)
        if not self.may_post(self.default_channel, now):
            return None
        response = self.client.chat_postMessage(
            channel=self.default_channel, text=message.text, blocks=list(message.blocks))
        self._posted(self.default_channel, response, now)
        return response, self.default_channel

    def _posted(self, channel: str, response: Any, now: datetime) -> None:
        """The pace counts from now, under the name asked and the id Slack answered (a
        channel configured as ``#name`` is stored by its id once posted in)."""
        self._last_post[channel] = self._last_post[str(response["channel"])] = now

    def permalink(self, incident: Incident) -> str | None:
        if incident.message_ts is None:
            return None
        try:
            found = self.client.chat_getPermalink(channel=incident.channel,
                                                  message_ts=incident.message_ts)
        except (SlackClientError, OSError) as exc:
            log.warning("no link to %s's message for its page: %s", incident.name,
                        error_of(exc))
            return None
        return str(found["permalink"])


def error_of(exc: Exception) -> str:
    """What Slack said was wrong (its ``error``), else the exception's type and text."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return str(exc.response.get("error") or "Slack gave no reason")
    return f"{type(exc).__name__}: {exc}"
