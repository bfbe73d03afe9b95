"""The Slack Web API client with its retries (rate limits, 5xx, connection errors), and
how its failures reach the asker."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    BackoffRetryIntervalCalculator,
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    Jitter,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)

from bot.render.blocks import (
    SlackMessage,
)

log = logging.getLogger(__name__)

INVITE = ("I can't post in this channel: I'm not a member. Invite me with `/invite @perfbot` "
          "(or ask me in a DM) and try again.")
SERVER_ERRORS = frozenset({500, 502, 503, 504})


class _ProportionalJitter(Jitter):
    """Up to half the interval on top: slack_sdk's own jitter adds up to a whole second."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random() / 2)


class ServerErrorRetryHandler(RetryHandler):
    """Retries Slack's 5xx answers with exponential backoff. slack_sdk 3.47 has one in
    ``builtin_handlers`` but does not export it, and it skips 502 and 504."""

    def __init__(self, max_retry_count: int = 2, backoff: float = 0.5) -> None:
        super().__init__(max_retry_count, BackoffRetryIntervalCalculator(
            backoff_factor=backoff, jitter=_ProportionalJitter()))

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest,
        response: HttpResponse | None = None, error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in SERVER_ERRORS


def slack_retry_handlers(server_backoff: float = 0.5) -> list[RetryHandler]:
    """slack_sdk retries connection errors by default, not 429s nor 5xx: add both.
    ``server_backoff`` is the first wait after a 5xx (seconds; doubled each time)."""
    return [ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2, backoff=server_backoff)]


def make_web_client(
    token: str, *, base_url: str | None = None, server_backoff: float = 0.5
) -> WebClient:
    """A Web API client with the retry handlers; ``base_url`` points tests at a stand-in."""
    handlers = slack_retry_handlers(server_backoff)
    if base_url is None:
        return WebClient(token=token, retry_handlers=handlers)
    return WebClient(token=token, base_url=base_url, retry_handlers=handlers)


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
        return (f"Slack is having trouble (HTTP {status}, still failing after retries); "
                "please try again in a minute.")
    return f"Slack refused the message ({error or 'no reason given'})."
