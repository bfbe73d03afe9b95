"""Escaping for Slack's mrkdwn, in one place. Two strengths: ``escape`` for the bot's own
sentences (which may use `code` and *bold* on purpose) and ``inert`` for any text that came
from the metrics or from people (a label value must not format, mention or link). Also the
two tokens the bot writes on purpose: a user mention and a date each reader sees in their
own time zone.

The rule, for every renderer: a label (service, route, endpoint, title, anything a metric or
a person wrote) enters mrkdwn, a code block or a message's fallback ``text`` only through
``inert``. Inside a code block Slack still reads ``<!channel>`` and a run of backticks ends
the block, so table cells go through it too. tests/unit/test_render_escaping.py renders
every message with hostile labels and finds each ``<`` and backtick the bot did not write."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

# A Slack user id (``U…``, or ``W…`` in Enterprise Grid): only these become mentions.
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
# A Slack token or an entity left open at the end of a cut text.
_CUT_TOKEN = re.compile(r"(?:<[@!#][^<>]*|<(?:https?|mailto):[^<>]*|&[a-z#0-9]{0,4})\Z")
_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]+")
_INERT_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")


def escape(text: str) -> str:
    """The three characters mrkdwn treats as markup (links, mentions) made inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert(text: str) -> str:
    """``escape``, and backticks and stars, which would start (or, in a table, end) code or
    start bold in a name, as look-alikes, character for character (a table's columns stay
    aligned). Line breaks become spaces: a name is one line, and a break in it would start
    a line that looks like the bot's own."""
    return _BREAKS.sub(" ", escape(text)).replace("`", "ˋ").replace("*", "∗")


def inert_but_mentions(text: str) -> str:
    """``inert``, except the user mentions (``<@U123>``) stay mentions: for texts the bot
    composed around what people typed or the metrics said (a resolution, a timeline line),
    where the one piece of markup meant is who did it. Nothing else (links, ``<!here>``,
    group mentions) survives."""
    return _INERT_MENTION.sub(r"<@\1>", inert(text))


def channel(channel_id: str) -> str:
    """``<#C123>`` for a Slack channel id; anything else (a name from the settings) shown as
    inert text."""
    return f"<#{channel_id}>" if _CHANNEL_ID.fullmatch(channel_id) else inert(channel_id)


def mention(user: str) -> str:
    """``<@U123>`` for a Slack user id; anything else (an operator's name from the
    terminal) shown as inert text, never as markup."""
    return f"<@{user}>" if _USER_ID.fullmatch(user) else inert(user)


def slack_time(at: datetime, zone: tzinfo, *, day: bool = False) -> str:
    """A time each reader sees in their own zone (Slack's date token), ``zone`` as fallback.
    ``day``: with the day ("today at 14:02", "Nov 23 at 14:02"), for what may be days old."""
    if day:
        fallback = at.astimezone(zone).strftime("%a %d %b at %H:%M %Z").strip()
        return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"
    fallback = at.astimezone(zone).strftime("%H:%M %Z").strip()
    return f"<!date^{int(at.timestamp())}^{{time}}|{fallback}>"


def slack_ago(at: datetime, fallback: str) -> str:
    """"3 minutes ago", kept current by Slack in each reader's client."""
    return f"<!date^{int(at.timestamp())}^{{ago}}|{fallback}>"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut. Never inside one
    of Slack's ``<…>`` tokens or an entity (``&amp;``): half a token would swallow what
    follows, or show as a broken mention."""
    if len(text) <= limit:
        return text
    cut = _CUT_TOKEN.sub("", text[: limit - 1])
    return cut + "…"
