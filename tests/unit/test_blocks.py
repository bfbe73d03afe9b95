"""Answer → Block Kit: within Slack's limits, checked with slack_sdk's own block models."""

from __future__ import annotations

import re

import pytest

from bot.render.blocks import (
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENTS,
    MAX_SECTION_CHARS,
    BlockError,
    answer_message,
    escape,
    table_blocks,
    text_message,
    validate_blocks,
)
from bot.render.message import Answer, AnswerKind, Table


def big_table(rows: int, width: int = 40) -> Table:
    return Table(
        headers=("endpoint", "p95"),
        rows=tuple((f"GET /api/{'x' * width}/{n}", f"{n} ms") for n in range(rows)),
        numeric=(1,),
    )


def section_texts(blocks: tuple[dict[str, object], ...] | list[dict[str, object]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]  # type: ignore[index]


def test_long_table_is_split_between_rows_with_the_header_repeated() -> None:
    table = big_table(300)
    blocks = table_blocks(table)
    assert len(blocks) > 1
    texts = section_texts(blocks)
    assert all(len(t) <= MAX_SECTION_CHARS for t in texts)
    assert all(t.startswith("```\nendpoint") and t.endswith("```") for t in texts)
    # Every row appears exactly once, in order.
    rows = [line for t in texts for line in t.split("\n") if line.startswith("GET ")]
    assert [r.split()[1] for r in rows] == [row[0].split()[1] for row in table.rows]
    validate_blocks(blocks)


def test_a_table_too_long_for_fifty_blocks_says_how_many_rows_were_left_out() -> None:
    answer = Answer(kind=AnswerKind.ANSWER, headline="Everything", table=big_table(4000),
                    notes=("how it was computed",))
    message = answer_message(answer)
    assert len(message.blocks) == MAX_BLOCKS
    assert message.blocks[-1]["type"] == "context"  # the notes survive the cut
    texts = section_texts(message.blocks)
    shown = sum(line.startswith("GET ") for t in texts for line in t.split("\n"))
    left_out = re.search(r"… (\d+) more rows", texts[-1])
    assert left_out is not None
    assert shown + int(left_out.group(1)) == 4000


def test_headline_is_escaped_and_kind_shown() -> None:
    answer = Answer(kind=AnswerKind.ERROR, headline="<!channel> & <@U1> broke it")
    message = answer_message(answer)
    text = section_texts(message.blocks)[0]
    assert "<" not in text and "&lt;!channel&gt; &amp; &lt;@U1&gt;" in text
    assert text.startswith(":warning:")
    # Slack reads mentions in the notification text too: it is escaped the same way.
    assert message.text == "&lt;!channel&gt; &amp; &lt;@U1&gt; broke it"


def test_many_notes_fit_one_context_block() -> None:
    notes = tuple(f"note {n}" for n in range(25))
    message = answer_message(Answer(kind=AnswerKind.ANSWER, headline="h", notes=notes))
    (ctx,) = [b for b in message.blocks if b["type"] == "context"]
    elements = ctx["elements"]
    assert len(elements) == MAX_CONTEXT_ELEMENTS
    joined = "\n".join(e["text"] for e in elements)
    assert all(note in joined.split("\n") for note in notes)


def test_sparkline_and_examples_are_shown() -> None:
    answer = Answer(kind=AnswerKind.HELP, headline="Try one of these", sparkline="▁▂▇",
                    examples=("p95 of checkout", "top 5 slowest endpoints"))
    texts = section_texts(answer_message(answer).blocks)
    assert "`▁▂▇`" in texts[0]
    assert "• p95 of checkout" in texts[1] and "• top 5 slowest endpoints" in texts[1]


def test_long_text_is_split_into_valid_sections() -> None:
    text = "\n".join("word " * 100 for _ in range(60)) + "\n" + "x" * 7000
    message = text_message(text)
    validate_blocks(message.blocks)
    texts = section_texts(message.blocks)
    assert len(texts) > 3
    assert "".join(t.replace("\n", "") for t in texts) == text.replace("\n", "")
    assert len(message.text) <= 3000


def test_escape() -> None:
    assert escape("a < b > c & d") == "a &lt; b &gt; c &amp; d"


@pytest.mark.parametrize(
    ("blocks", "why"),
    [
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51, "at most 50"),
        ([{"type": "no_such_block"}], "unknown type"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "3000"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}], "10"),
    ],
    ids=["too-many", "unknown", "section-too-long", "context-too-wide"],
)
def test_validate_blocks_refuses_what_slack_would(
    blocks: list[dict[str, object]], why: str
) -> None:
    with pytest.raises(BlockError, match=why):
        validate_blocks(blocks)
