"""Requests to a running ``perfbot run`` process's Slack door (``/slack/events``), signed as
Slack signs them, and the Slack stand-in such a process talks to."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

import httpx

from tests.bot_process import CHANNELS, SECRET, USERS
from tests.slack_standin import SlackStandIn


def standin(*channels: str) -> SlackStandIn:
    """The stand-in with the demo's channels and ``channels`` (the bot is in all), U1 and the
    policy's users."""
    return SlackStandIn(channels=dict.fromkeys((*CHANNELS, *channels), True),
                        users=dict.fromkeys(("U1", *USERS), "UTC"))


def now() -> str:
    return str(int(time.time()))


def signed(body: bytes, stamp: str) -> str:
    """Slack's signature of ``body`` (computed on the bytes: they need not be UTF-8)."""
    mac = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def command(text: str, slack: SlackStandIn, channel: str) -> bytes:
    """U1's ``/perf text`` in ``channel``, as Slack's form body."""
    return urlencode({"token": "legacy", "team_id": "T1", "channel_id": channel,
                      "user_id": "U1", "command": "/perf", "text": text,
                      "trigger_id": f"1.2.{time.monotonic_ns()}",
                      "response_url": f"{slack.url}/response/{channel}"}).encode()


def post_signed(url: str, body: bytes) -> httpx.Response:
    """``body`` posted, signed now, to the Slack door of the process at ``url``."""
    stamp = now()
    return httpx.post(f"{url}/slack/events", content=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signed(body, stamp)})
