"""An alert as a message, before any transport: a title, titled parts and the acts offered.
The Block Kit and terminal renderings are made from it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bot.analytics.findings.model import Severity


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    label: str
    value: str


class Section(BaseModel):
    title: str
    text: str


class AlertMessage(BaseModel):
    finding_id: str
    severity: Severity
    title: str
    sections: list[Section]
    actions: list[Action]
    chart_png: bytes | None = None
