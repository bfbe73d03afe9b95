"""The playbook schema: ``Playbook`` and its ``Match``, ``Diagnostic`` and ``Link`` parts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator

from bot.metrics.base import Signal
from bot.playbooks.conditions import ConditionField, PatternField
from bot.playbooks.templates import PromQLField, StepsField, URLField


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Unit = Literal["", "seconds", "ratio", "bytes", "per_second", "count", "cores"]


def _listify(value: object) -> object:
    """A single item where a list is expected: ``signals: latency``."""
    return [value] if isinstance(value, str) else value


class Diagnostic(_Strict):
    """A PromQL query run when the alert fires; its result is shown as evidence."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    description: str = ""
    query: PromQLField
    unit: Unit = ""


class Link(_Strict):
    title: str = Field(min_length=1)
    url: URLField


class Match(_Strict):
    """When a playbook applies: every criterion given must hold."""

    signals: Annotated[list[Signal], BeforeValidator(_listify)] = []
    services: Annotated[list[PatternField], BeforeValidator(_listify)] = []
    endpoints: Annotated[list[PatternField], BeforeValidator(_listify)] = []
    labels: dict[str, PatternField] = {}
    conditions: Annotated[list[ConditionField], BeforeValidator(_listify)] = []

    @property
    def empty(self) -> bool:
        return not (self.signals or self.services or self.endpoints or self.labels
                    or self.conditions)


class Playbook(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=80)
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    fallback: bool = False
    match: Match = Match()
    diagnostics: list[Diagnostic] = []
    steps: StepsField = Field(min_length=1)
    links: list[Link] = []

    _path: Path | None = PrivateAttr(default=None)
    _line: int | None = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """``file:line`` of its id, when it came from a file."""
        return f"{self._path}:{self._line}" if self._path else ""

    @model_validator(mode="after")
    def _check(self) -> Playbook:
        if self.fallback and not self.match.empty:
            raise ValueError("a fallback playbook matches every alert: remove its 'match'")
        if not self.fallback and self.match.empty:
            raise ValueError("match: give at least one of signals, services, endpoints, labels "
                             "or conditions (or set 'fallback: true')")
        names = [d.name for d in self.diagnostics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"diagnostics: the name {twice[0]!r} is used twice")
        return self
