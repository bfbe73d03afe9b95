"""The catalog's answers: ``EndpointInfo`` (an endpoint and its settings) and ``Resolution``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.analytics.slo import SLO
from bot.metrics.base import Endpoint

Status = Literal["exact", "alias", "fuzzy", "service", "ambiguous", "unknown"]
MAX_SUGGESTIONS = 5


class EndpointInfo(BaseModel):
    """One endpoint with what the settings say about it; ``slo`` is the effective one."""

    model_config = ConfigDict(frozen=True)

    endpoint: Endpoint
    owner: str | None = None
    channel: str | None = None
    aliases: tuple[str, ...] = ()
    slo: SLO
    # Another service in the catalog serves the same key: ``label`` names the service too.
    shared: bool = False

    @property
    def key(self) -> str:
        return self.endpoint.key

    @property
    def column(self) -> str:
        """The endpoint's column in the backends' frames (``Endpoint.column``)."""
        return self.endpoint.column

    @property
    def label(self) -> str:
        """The name shown to people: the key, with the service when another one shares it."""
        return _labels([self])[0]

    @property
    def service(self) -> str:
        return self.endpoint.service


class Resolution(BaseModel):
    """What a piece of text names: endpoints, maybe a whole service, or suggestions.

    ``status`` says how it was found; ``service`` is set whenever the text (or its
    correction, for "fuzzy") named a whole service, and ``matches`` then holds its endpoints.
    """

    model_config = ConfigDict(frozen=True)

    text: str  # what was asked, cleaned of control characters and shortened for messages
    status: Status
    matches: list[EndpointInfo] = []
    service: str | None = None
    suggestions: list[str] = []
    read_as: str | None = None  # the corrected reading behind a fuzzy/ambiguous answer

    @property
    def shared_key(self) -> bool:
        """Ambiguous only because several services serve the one key named: it means them all."""
        return self.status == "ambiguous" and len({m.key for m in self.matches}) == 1

    @property
    def single(self) -> EndpointInfo | None:
        """The one endpoint named, when exactly one was."""
        return self.matches[0] if len(self.matches) == 1 else None

    @property
    def message(self) -> str:
        """A short sentence for people."""
        said = f"'{self.text}'"
        if self.status == "exact":
            return f"{said} is {_labels(self.matches)[0]}."
        if self.status == "alias":
            return f"{said} is an alias of {_labels(self.matches)[0]}."
        if self.status == "service":
            count = _count(len(self.matches), "endpoint")
            return f"{said} is the {self.service} service: {count}: {_listing(self.matches)}."
        if self.status == "fuzzy":
            guess = f"the {self.service} service" if self.service else _labels(self.matches)[0]
            return f"No endpoint called {said} — did you mean {guess}?"
        if self.status == "ambiguous":
            reading = f" (read as '{self.read_as}')" if self.read_as else ""
            count = _count(len(self.matches), "endpoint")
            return f"{said}{reading} matches {count}: {_listing(self.matches)}"
        if not self.text:
            return "Which endpoint? Name a route like /api/checkout, a key or a service."
        if self.suggestions:
            return f"No endpoint called {said} — did you mean {_or(self.suggestions)}?"
        return f"No endpoint or service called {said}."


def _labels(entries: Sequence[EndpointInfo]) -> list[str]:
    """Keys, with the service added where two services share a key (in the catalog or here)."""
    keys = [entry.key for entry in entries]
    return [
        f"{entry.key} ({entry.service})" if entry.shared or keys.count(entry.key) > 1
        else entry.key
        for entry in entries
    ]


def _listing(entries: Sequence[EndpointInfo]) -> str:
    shown = ", ".join(_labels(entries)[:MAX_SUGGESTIONS])
    rest = len(entries) - MAX_SUGGESTIONS
    return f"{shown} and {rest} more" if rest > 0 else shown


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"

