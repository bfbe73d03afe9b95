"""A Slack message as a terminal shows it: Block Kit's sections, fields, context and buttons
as indented plain lines (``perfbot demo`` prints what the bot posts this way). Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.render.incident import plain

_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_LINK = re.compile(r"<(?:https?|mailto):[^|>]*\|([^>]*)>")


def slack_text(text: str) -> str:
    """Slack mrkdwn as plain text: mentions as @U1, links as their label, no bold marks."""
    return plain(_BOLD.sub(r"\1", _LINK.sub(r"\1", text)))


def message_text(text: str, blocks: Sequence[dict[str, Any]] = ()) -> str:
    """The message's blocks as lines (its fallback ``text`` when it has none)."""
    if not blocks:
        return slack_text(text)
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header") and block.get("text"):
            lines.append(slack_text(str(block["text"].get("text", ""))))
        if kind == "section" and block.get("fields"):
            lines += [slack_text(str(f.get("text", ""))) for f in block["fields"]]
        elif kind == "context":
            lines.append(" · ".join(slack_text(str(e.get("text", "")))
                                    for e in block.get("elements", []) if e.get("text")))
        elif kind == "actions":
            labels = [str((e.get("text") or e.get("placeholder") or {}).get("text", ""))
                      for e in block.get("elements", [])]
            lines.append(" ".join(f"[{label}]" for label in labels if label))
        elif kind == "image":
            lines.append(f"(image: {block.get('alt_text', '')})")
    return "\n".join(line for line in lines if line)
