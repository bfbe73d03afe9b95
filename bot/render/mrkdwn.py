"""Escaping for Slack's mrkdwn, in one place. Two strengths: ``escape`` for the bot's own
sentences (which may use `code` and *bold* on purpose) and ``inert`` for any text that came
from the metrics or from people (a label value must not format, mention or link)."""

from __future__ import annotations


def escape(text: str) -> str:
    """The three characters mrkdwn treats as markup (links, mentions) made inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert(text: str) -> str:
    """``escape``, and backticks and stars, which would start code or bold in a name."""
    return escape(text).replace("`", "'").replace("*", "∗")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
