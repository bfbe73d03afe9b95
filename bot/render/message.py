"""An answer as data, for any transport: Slack renders it to Block Kit, the terminal prints it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator


class AnswerKind(StrEnum):
    ANSWER = "answer"  # figures
    HELP = "help"  # asked for help, or not understood: what was and was not, and examples
    NO_DATA = "no_data"  # the question was fine, the metrics had nothing for it
    ERROR = "error"  # the metrics could not be read (server down, query refused)


class Table(BaseModel):
    """A small table of strings; ``numeric`` columns are right-aligned."""

    model_config = ConfigDict(frozen=True)

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()
    numeric: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Table:
        width = len(self.headers)
        for row in self.rows:
            if len(row) != width:
                raise ValueError(f"a row has {len(row)} cells, the headers {width}")
        if any(not 0 <= column < width for column in self.numeric):
            raise ValueError("a numeric column is out of range")
        return self


class Chart(BaseModel):
    """A PNG with the text a screen reader (and Slack's fallback) shows instead."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    png: bytes
    alt: str
    title: str


class Answer(BaseModel):
    """What the bot says: one headline sentence, then optional detail.

    ``sparkline`` is one line of unicode blocks for the headline's series; ``notes`` say how
    figures were made (and, for help, what was and was not understood); ``examples`` are
    questions to try.
    """

    model_config = ConfigDict(frozen=True)

    kind: AnswerKind
    headline: str
    table: Table | None = None
    chart: Chart | None = None
    sparkline: str = ""
    notes: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
