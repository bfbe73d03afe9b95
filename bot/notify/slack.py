"""The Slack Web API as the bot's other parts use it: the client with its retries (rate
limits, 5xx, connection errors), and who is in a user group."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
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

from bot.clock import Now
from bot.observability import telemetry

log = logging.getLogger(__name__)

SERVER_ERRORS = frozenset({500, 502, 503, 504})
# The methods a 5xx may be retried for: reads, and edits that leave the same result however
# often they are made. A 5xx does not say the call was not carried out, so retrying
# chat.postMessage, chat.postEphemeral or a file upload could post twice; those are left to
# their callers. A 429 is retried for every method: Slack did not carry the call out.
IDEMPOTENT = frozenset({
    "auth.test", "chat.update", "chat.delete", "chat.getPermalink", "conversations.open",
    "conversations.history", "conversations.info", "users.info", "usergroups.users.list",
    "views.publish", "reactions.add", "reactions.remove", "files.getUploadURLExternal",
})


class _ProportionalJitter(Jitter):
    """Up to half the interval on top: slack_sdk's own jitter adds up to a whole second."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random() / 2)


class ServerErrorRetryHandler(RetryHandler):
    """Retries Slack's 5xx answers to ``IDEMPOTENT`` methods with exponential backoff.
    slack_sdk 3.47 has one in ``builtin_handlers`` but does not export it, it skips 502 and
    504, and it retries every method (a post could be made twice)."""

    def __init__(self, max_retry_count: int = 2, backoff: float = 0.5) -> None:
        super().__init__(max_retry_count, BackoffRetryIntervalCalculator(
            backoff_factor=backoff, jitter=_ProportionalJitter()))

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest,
        response: HttpResponse | None = None, error: Exception | None = None,
    ) -> bool:
        return (response is not None and response.status_code in SERVER_ERRORS
                and api_method(request.url) in IDEMPOTENT)


def api_method(url: str) -> str:
    """``https://slack.com/api/chat.update?x=1`` → ``chat.update``."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class SafeConnectionErrorRetryHandler(ConnectionErrorRetryHandler):
    """slack_sdk's retries of connection errors, except where Slack may have carried the
    call out: a connection cut after the request was sent (no answer read) is retried for
    ``IDEMPOTENT`` methods only; one that never reached Slack (refused, no such host) for
    every method."""

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest,
        response: HttpResponse | None = None, error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response,
                                  error=error):
            return False
        if api_method(request.url) in IDEMPOTENT:
            return True
        reason = error.reason if isinstance(error, URLError) else None
        return isinstance(reason, ConnectionRefusedError | socket.gaierror)


def slack_retry_handlers(server_backoff: float = 0.5) -> list[RetryHandler]:
    """slack_sdk retries connection errors by default, not 429s nor 5xx: add both, and
    retry neither a 5xx nor a cut connection where Slack may have posted already.
    ``server_backoff`` is the first wait after a 5xx (seconds; doubled each time)."""
    return [SafeConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2, backoff=server_backoff)]


class MeasuredWebClient(WebClient):
    """slack_sdk's client, each call timed and each failure counted (``perfbot_slack_api_…``):
    every Web API call goes through ``api_call``."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        measured = telemetry()
        started = time.perf_counter()
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            measured.slack_errors.labels(api_method, str(error or "unknown")[:40]).inc()
            raise
        except Exception as exc:
            measured.slack_errors.labels(api_method, type(exc).__name__).inc()
            raise
        finally:
            measured.slack_seconds.labels(api_method).observe(time.perf_counter() - started)


def make_web_client(
    token: str, *, base_url: str | None = None, server_backoff: float = 0.5
) -> WebClient:
    """A Web API client with the retry handlers; ``base_url`` points tests at a stand-in."""
    handlers = slack_retry_handlers(server_backoff)
    if base_url is None:
        return MeasuredWebClient(token=token, retry_handlers=handlers)
    return MeasuredWebClient(token=token, base_url=base_url, retry_handlers=handlers)


class SlackGroupMembers:
    """Members of Slack user groups (``usergroups.users.list``), cached for ``ttl``. A failed
    lookup counts as no members and is not cached, so the next press asks again."""

    def __init__(self, client: WebClient, clock: Now, ttl: timedelta) -> None:
        self._client, self._clock, self._ttl = client, clock, ttl
        self._cache: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, group: str) -> Collection[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            users = frozenset(str(u) for u in
                              self._client.usergroups_users_list(usergroup=group)["users"])
        except (SlackClientError, KeyError, TypeError) as exc:
            log.warning("cannot read the members of user group %s: %s", group, exc)
            return frozenset()
        with self._lock:
            self._cache[group] = (now, users)
        return users
