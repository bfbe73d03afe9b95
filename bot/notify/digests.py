"""Posting a digest in Slack: chat.postMessage with the post's key in the message's
metadata, the chart in its thread. On a re-taken claim (a process died after claiming) the
channel's history since the first claim is searched for the key first, so a digest Slack
already accepted is recorded, not posted again."""

from __future__ import annotations

import logging
from datetime import tzinfo
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.digests.model import Digest
from bot.digests.service import Claim, Subscription
from bot.render.digest import digest_chart, digest_message

log = logging.getLogger(__name__)

EVENT_TYPE = "perfbot_digest"


class SlackDigestPoster:
    """The ``post`` port of ``DigestService`` on a Slack ``WebClient``."""

    def __init__(self, client: WebClient, zone: tzinfo) -> None:
        self.client = client
        self.zone = zone

    def __call__(self, sub: Subscription, digest: Digest, claim: Claim) -> str:
        if claim.retaken:
            found = self.already_posted(sub.channel, claim)
            if found is not None:
                log.info("digest %s was already in %s (ts %s): recorded, not reposted",
                         claim.key, sub.channel, found)
                return found
        message = digest_message(digest, self.zone)
        answer = self.client.chat_postMessage(
            channel=sub.channel, text=message.text, blocks=list(message.blocks),
            metadata={"event_type": EVENT_TYPE, "event_payload": {"key": claim.key}},
            unfurl_links=False, unfurl_media=False)
        ts = str(answer["ts"])
        chart = digest_chart(digest)
        if chart is not None:
            # Where chat.postMessage answers with the channel's id, upload there.
            channel = str(answer.get("channel") or sub.channel)
            self.client.files_upload_v2(channel=channel, thread_ts=ts, content=chart,
                                        filename="digest.png", title=message.text[:200])
        return ts

    def already_posted(self, channel: str, claim: Claim) -> str | None:
        """The ts of a message carrying ``claim.key`` in ``channel`` since the first claim;
        None when there is none or the history cannot be read."""
        try:
            answer = self.client.conversations_history(
                channel=channel, oldest=f"{claim.first_claimed_at.timestamp():.6f}",
                include_all_metadata=True, limit=200)
        except SlackApiError as exc:
            log.warning("cannot read %s's history to look for digest %s: %s", channel,
                        claim.key, exc.response.get("error"))
            return None
        messages: list[dict[str, Any]] = answer.get("messages") or []
        for message in messages:
            metadata = message.get("metadata") or {}
            if (metadata.get("event_type") == EVENT_TYPE
                    and (metadata.get("event_payload") or {}).get("key") == claim.key):
                return str(message["ts"])
        return None
