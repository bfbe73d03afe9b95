"""Answer → a Slack message: Block Kit blocks within Slack's limits, plus a plain-text fallback.

Pure: no network. Every message is checked with slack_sdk's own block models
(``validate_blocks``) so a layout Slack would refuse fails here, not in a channel.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.alerts.acts import RULES, SNOOZE_CHOICES, Act
from bot.render.message import Answer, AnswerKind, Table
from bot.render.mrkdwn import clip, escape, inert
from bot.render.text import table as text_table

# Slack's limits (https://api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_CHARS = 3000  # the notification text; Slack allows more, people read less
MAX_CELL_CHARS = 120  # a table cell: longer names are cut

_KIND_ICON = {
    AnswerKind.ANSWER: "",
    AnswerKind.HELP: ":bulb: ",
    AnswerKind.NO_DATA: ":information_source: ",
    AnswerKind.ERROR: ":warning: ",
}
_FENCE = "```"


class BlockError(ValueError):
    """Blocks Slack would refuse; the message says which block and why."""


class SlackMessage(BaseModel):
    """What a Slack transport posts: fallback ``text`` and the ``blocks`` shown instead."""

    model_config = ConfigDict(frozen=True)

    text: str
    blocks: tuple[dict[str, Any], ...] = ()


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_CHARS)}}


def context(texts: list[str]) -> dict[str, Any]:
    """A context block; more than ten texts are merged so the block stays valid."""
    if len(texts) > MAX_CONTEXT_ELEMENTS:
        head = texts[: MAX_CONTEXT_ELEMENTS - 1]
        texts = [*head, "\n".join(texts[MAX_CONTEXT_ELEMENTS - 1 :])]
    elements = [{"type": "mrkdwn", "text": clip(t, MAX_SECTION_CHARS)} for t in texts]
    return {"type": "context", "elements": elements}


def text_message(text: str) -> SlackMessage:
    """A plain reply (help lines, errors, "looking…") as one or more sections: the bot's
    own sentences (`code` meant), anything quoted in them already ``inert``."""
    chunks = _split_lines(escape(text), MAX_SECTION_CHARS)[:MAX_BLOCKS]
    blocks = tuple(section(chunk) for chunk in chunks if chunk.strip())
    return SlackMessage(text=clip(escape(text), MAX_FALLBACK_CHARS), blocks=blocks)


def answer_message(answer: Answer) -> SlackMessage:
    """The Slack message for an answer: headline, sparkline, table, examples, notes.

    An ``Answer`` is plain text with the metrics' names in it and no markup meant, so every
    text of it is ``inert`` here, the one place it becomes mrkdwn (the fallback ``text``,
    which Slack shows in notifications, too)."""
    head = _KIND_ICON[answer.kind] + inert(answer.headline)
    if answer.sparkline:
        head += f"\n`{answer.sparkline}`"
    blocks = [section(chunk) for chunk in _split_lines(head, MAX_SECTION_CHARS)]
    tail: list[dict[str, Any]] = []
    if answer.examples:
        lines = "\n".join(f"• {inert(example)}" for example in answer.examples)
        tail.extend(section(chunk) for chunk in _split_lines("*Try:*\n" + lines,
                                                             MAX_SECTION_CHARS))
    if answer.notes:
        tail.append(context([inert(note) for note in answer.notes]))
    room = MAX_BLOCKS - len(blocks) - len(tail)
    if answer.table is not None and answer.table.rows:
        blocks.extend(table_blocks(answer.table, max_blocks=max(room, 1)))
    blocks.extend(tail)
    blocks = blocks[:MAX_BLOCKS]
    message = SlackMessage(text=clip(inert(answer.headline), MAX_FALLBACK_CHARS),
                           blocks=tuple(blocks))
    validate_blocks(message.blocks)
    return message


def table_blocks(table: Table, *, max_blocks: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """A table as code-block sections, split between rows (header repeated) when long.

    Rows that do not fit in ``max_blocks`` sections are dropped and counted in the last one.
    Cells are one line each and ``inert``: a name with backticks or ``<!channel>`` in it
    neither ends the block nor pings anyone.
    """
    cells = [tuple(_one_line(cell) for cell in row) for row in table.rows]
    rendered = [inert(line) for line in text_table(
        [_one_line(cell) for cell in table.headers], cells, right=table.numeric).split("\n")]
    budget = MAX_SECTION_CHARS - 2 * len(_FENCE) - 2 - len("\n… 100000 more rows")
    # However wide the names, the header leaves room for rows and the closing fence.
    header = [clip(line, budget // 3) for line in rendered[:2]]
    rows = rendered[2:]
    chunks: list[list[str]] = []
    for row in rows:
        row = clip(row, budget - sum(len(h) + 1 for h in header))
        current = chunks[-1] if chunks else None
        if current is None or len("\n".join([*header, *current, row])) > budget:
            chunks.append([row])
        else:
            current.append(row)
    kept = chunks[:max_blocks]
    dropped = sum(len(chunk) for chunk in chunks[max_blocks:])
    blocks = []
    for number, chunk in enumerate(kept):
        body = "\n".join([*header, *chunk])
        if dropped and number == len(kept) - 1:
            body += f"\n… {dropped} more rows"
        blocks.append(section(f"{_FENCE}\n{body}\n{_FENCE}"))
    return blocks


def _one_line(cell: str) -> str:
    """A cell on one line (a line break in a name would start a row of its own), and short
    enough for the table to stay a table."""
    return clip(" ".join(cell.splitlines()), MAX_CELL_CHARS)


def validate_blocks(blocks: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> None:
    """Raise ``BlockError`` unless slack_sdk's block models accept every block."""
    if len(blocks) > MAX_BLOCKS:
        raise BlockError(f"{len(blocks)} blocks; Slack allows at most {MAX_BLOCKS}")
    for number, raw in enumerate(blocks, start=1):
        try:
            block = Block.parse(raw)
            if block is None or type(block) is Block:
                raise BlockError(f"block {number}: unknown type {raw.get('type')!r}")
            block.validate_json()
        except SlackObjectFormationError as exc:
            raise BlockError(f"block {number} ({raw.get('type')}): {exc}") from exc


def _split_lines(text: str, limit: int) -> list[str]:
    """Split at line breaks into chunks of at most ``limit`` characters (long lines cut)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks


# --- alerts -------------------------------------------------------------------------------

ALERT_ACTIONS_BLOCK = "alert_actions"
ALERT_STATUS_BLOCK = "alert_status"
MAX_HEADER_CHARS = 150
_ACTION_PREFIX = "alert."


def alert_action_id(act: str, finding_id: str) -> str:
    """``alert.resolve:<finding id>``: Bolt routes on the prefix, the listener reads the id."""
    return f"{_ACTION_PREFIX}{act}:{finding_id}"


def parse_alert_action_id(action_id: str) -> tuple[str, str]:
    """``(act, finding id)`` of an ``alert_action_id``; ValueError for anything else."""
    act, sep, finding_id = action_id.removeprefix(_ACTION_PREFIX).partition(":")
    if not action_id.startswith(_ACTION_PREFIX) or not sep or not finding_id:
        raise ValueError(f"not an alert action: {action_id!r}")
    return act, finding_id


def alert_element(act: str, finding_id: str) -> dict[str, Any]:
    """The button (or, for Snooze, the menu) of ``act`` on the alert or incident
    ``finding_id``; its action id and values carry that id back."""
    action_id = alert_action_id(act, finding_id)
    if act == Act.SNOOZE:
        options = [{"text": {"type": "plain_text", "text": label},
                    "value": f"{duration}|{finding_id}"}
                   for duration, label in SNOOZE_CHOICES.items()]
        return {"type": "static_select", "action_id": action_id, "options": options,
                "placeholder": {"type": "plain_text", "text": "Snooze…"}}
    button: dict[str, Any] = {
        "type": "button", "action_id": action_id, "value": finding_id,
        "text": {"type": "plain_text", "text": RULES[Act(act)].label},
    }
    style = RULES[Act(act)].style
    if style is not None:
        button["style"] = style
    return button
