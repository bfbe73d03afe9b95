"""The real Bolt app served over HTTP on loopback, and signed requests sent to it, as Slack
sends them: what the Slack tests talk to."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.app import Perfbot
from bot.notify.slack import make_web_client
from bot.render.blocks import SlackMessage
from bot.slack.app import AfterAck, build_slack_app
from bot.slack.http import make_http_server
from bot.slack.replier import Replier
from tests.slack_standin import TOKEN, SlackStandIn

SECRET = "test-signing-secret"


class CountingReplier(Replier):
    """The app's ``Replier``, counting the questions it is done with. ``reply`` returns only
    after the answer, its chart upload and the release of the asker's in-progress count
    (``InFlight``), so a finished reply is the signal that the asker may ask again; the
    Slack calls the stand-in records come earlier (it records before it responds)."""

    def __init__(self, perfbot: Perfbot, client: WebClient) -> None:
        super().__init__(perfbot, client)
        self._finished = 0
        self._done = threading.Condition()

    def reply(
        self, question: str, *, channel: str, user: str | None, thread_ts: str | None,
        tell: Callable[[SlackMessage], None],
    ) -> None:
        try:
            super().reply(question, channel=channel, user=user, thread_ts=thread_ts, tell=tell)
        finally:
            with self._done:
                self._finished += 1
                self._done.notify_all()

    def wait_for_replies(self, count: int, timeout: float = 20.0) -> None:
        """Block until ``count`` questions were replied to (answered or refused) in all."""
        with self._done:
            if not self._done.wait_for(lambda: self._finished >= count, timeout):
                raise AssertionError(
                    f"{count} replies never finished; {self._finished} did")


class Bot:
    """The Bolt app served over HTTP on loopback, and a way to send it signed requests."""

    def __init__(self, perfbot: Perfbot, slack: SlackStandIn, *, inline: bool,
                 after: AfterAck | None = None) -> None:
        """``inline``: listeners finish before the HTTP answer (no waiting in tests). The
        rest (on-call, audit store, incidents) is ``perfbot``'s, as the composition root
        built it; ``replier`` counts the replies finished, for tests that wait for them;
        ``after`` runs the work after acks (default: the app's usual pool)."""
        # Short 5xx backoff: the tests count retries, they need not wait Slack-sized pauses.
        self.client = make_web_client(TOKEN, base_url=slack.api_url, server_backoff=0.01)
        self.perfbot, self.slack = perfbot, slack
        self.replier = CountingReplier(perfbot, self.client)
        self.after = after or AfterAck()
        app = build_slack_app(perfbot, client=self.client, replier=self.replier,
                              process_before_response=inline, after=self.after)
        self.server = make_http_server(app, "127.0.0.1", 0, signing_secret=SECRET)
        self.url = f"http://127.0.0.1:{self.server.server_port}/slack/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.http = httpx.Client(timeout=30)

    def __enter__(self) -> Bot:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.after.close()

    def send(self, body: bytes, content_type: str, *, timestamp: str | None = "now",
             signature: str | None = None, headers: dict[str, str] | None = None,
             http: httpx.Client | None = None) -> httpx.Response:
        """``body`` signed (or with ``signature``), as Slack sends it; ``http``: a client of
        the caller's own (one per thread, for requests sent at the same moment)."""
        sent = {"Content-Type": content_type, **(headers or {})}
        if timestamp == "now":
            timestamp = str(int(time.time()))
        if timestamp is not None:
            sent["X-Slack-Request-Timestamp"] = timestamp
        if signature is None:
            stamp = timestamp if timestamp and timestamp.isdigit() else "0"
            signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
        sent["X-Slack-Signature"] = str(signature)
        return (http or self.http).post(self.url, content=body, headers=sent)

    def command(self, text: str, *, channel: str = "C1", user: str = "U1",
                **kwargs: Any) -> httpx.Response:
        return self.send(command_body(text, self.slack, channel=channel, user=user),
                         "application/x-www-form-urlencoded", **kwargs)

    def event(self, event: dict[str, Any], event_id: str = "Ev1",
              **kwargs: Any) -> httpx.Response:
        body = {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                "event": event, "event_id": event_id, "event_time": 1700000000}
        return self.send(json.dumps(body).encode(), "application/json", **kwargs)


_TRIGGERS = itertools.count(1)


def command_body(text: str, slack: SlackStandIn, *, channel: str, user: str) -> bytes:
    # Slack gives every command its own trigger_id, so two alike are not one replayed.
    return urlencode({
        "token": "legacy", "team_id": "T1", "channel_id": channel, "user_id": user,
        "command": "/perf", "text": text, "trigger_id": f"1.2.{next(_TRIGGERS)}",
        "response_url": f"{slack.url}/response/1",
    }).encode()




def view_submission_body(user: str, view: dict[str, Any], values: dict[str, str]) -> bytes:
    """What Slack sends when ``user`` submits the modal ``view`` (as the bot opened it)
    with ``values`` typed, by block id (each block's one input)."""
    state = {block["block_id"]: {block["element"]["action_id"]: {
        "type": block["element"]["type"], "value": values.get(block["block_id"])}}
        for block in view["blocks"] if block["type"] == "input"}
    payload = {"type": "view_submission", "token": "legacy", "api_app_id": "A1",
               "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"},
               "trigger_id": f"1.2.{next(_TRIGGERS)}",
               "view": {**view, "id": "V2", "team_id": "T1", "state": {"values": state},
                        "hash": "1.abc"}}
    return urlencode({"payload": json.dumps(payload)}).encode()
