"""A digest for Slack and the terminal.

STAND-IN: replaced by the digest-content branch at merge (one line, no chart)."""

from __future__ import annotations

from datetime import tzinfo

from bot.digests.model import Digest
from bot.render.blocks import SlackMessage, section
from bot.render.mrkdwn import inert


def digest_text(digest: Digest, zone: tzinfo) -> str:
    # STAND-IN: replaced by the digest-content branch at merge
    period = digest.period
    return (f"{period.kind.capitalize()} digest — {digest.scope.label}, "
            f"{period.start.astimezone(zone):%Y-%m-%d %H:%M} – "
            f"{period.end.astimezone(zone):%Y-%m-%d %H:%M}")


def digest_message(digest: Digest, zone: tzinfo) -> SlackMessage:
    # STAND-IN: replaced by the digest-content branch at merge
    text = digest_text(digest, zone)
    head, _, rest = text.partition(" — ")
    return SlackMessage(text=text, blocks=(section(f"*{head}* — {inert(rest)}"),))


def digest_chart(digest: Digest) -> bytes | None:
    # STAND-IN: replaced by the digest-content branch at merge
    return None
