"""Rendering: a playbook's queries, links and steps with an alert's values filled in."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, model_validator

from bot.durations import format_duration
from bot.metrics.conventions import CONVENTIONS, HttpMetrics
from bot.metrics.settings import SaturationMetrics
from bot.playbooks.matching import Situation
from bot.playbooks.schema import Playbook, Unit
from bot.playbooks.templates import LABEL_NAME, METRIC_NAME, MissingValue, compile_text


class QueryNames(BaseModel):
    """Metric and label names that ``{http_histogram}``, ``{service_label}``... stand for."""

    model_config = ConfigDict(frozen=True)

    http_histogram: str = CONVENTIONS["otel"].histogram
    service_label: str = CONVENTIONS["otel"].service_label
    route_label: str = CONVENTIONS["otel"].route_label
    method_label: str = CONVENTIONS["otel"].method_label
    status_label: str = CONVENTIONS["otel"].status_label
    container_label: str = SaturationMetrics().service_label

    @model_validator(mode="after")
    def _names(self) -> QueryNames:
        if not METRIC_NAME.fullmatch(self.http_histogram):
            raise ValueError(f"expected a metric name, got {self.http_histogram!r}")
        for field in ("service_label", "route_label", "method_label", "status_label",
                      "container_label"):
            if not LABEL_NAME.fullmatch(getattr(self, field)):
                raise ValueError(f"{field}: expected a label name, got {getattr(self, field)!r}")
        return self

    @classmethod
    def of(cls, http: HttpMetrics, saturation: SaturationMetrics) -> QueryNames:
        return cls(
            http_histogram=http.histogram, service_label=http.service_label,
            route_label=http.route_label, method_label=http.method_label,
            status_label=http.status_label, container_label=saturation.service_label,
        )


class RenderedDiagnostic(BaseModel):
    name: str
    description: str
    unit: Unit
    query: str | None  # None when the alert lacks a value the query needs
    note: str = ""


class RenderedLink(BaseModel):
    title: str
    url: str | None
    note: str = ""


def _values(
    situation: Situation, names: QueryNames, window: timedelta, lookback: timedelta
) -> dict[str, str]:
    values = situation.placeholder_values() | names.model_dump()
    values["window"] = format_duration(window)
    if situation.at is not None:
        values["to_ms"] = str(int(situation.at.timestamp() * 1000))
        values["from_ms"] = str(int((situation.at - lookback).timestamp() * 1000))
    return values


def render_diagnostics(
    playbook: Playbook,
    situation: Situation,
    names: QueryNames | None = None,
    window: timedelta = timedelta(minutes=5),
) -> list[RenderedDiagnostic]:
    """The playbook's queries with the alert's values in them, escaped."""
    values = _values(situation, names or QueryNames(), window, timedelta(hours=1))
    rendered = []
    for d in playbook.diagnostics:
        try:
            query: str | None = d.query.render(values)
            note = ""
        except MissingValue as missing:
            query, note = None, f"not run: the alert has no {{{missing.name}}}"
        rendered.append(RenderedDiagnostic(name=d.name, description=d.description, unit=d.unit,
                                           query=query, note=note))
    return rendered


def render_links(
    playbook: Playbook, situation: Situation, lookback: timedelta = timedelta(hours=1)
) -> list[RenderedLink]:
    values = _values(situation, QueryNames(), timedelta(minutes=5), lookback)
    links = []
    for link in playbook.links:
        try:
            links.append(RenderedLink(title=link.title, url=link.url.render(values)))
        except MissingValue as missing:
            links.append(RenderedLink(title=link.title, url=None,
                                      note=f"the alert has no {{{missing.name}}}"))
    return links


_PLAIN = re.compile(r"[\w.:/@{} -]{1,120}")  # names, routes, endpoint keys: no markup
# Said instead of a value the alert lacks, or one that is not plain text.
_GENERIC = {
    "service": "the service", "endpoint": "the endpoint", "route": "the endpoint's route",
    "method": "the endpoint's HTTP method", "namespace": "the namespace",
    "instance": "the instance",
}


def render_steps(playbook: Playbook, situation: Situation, names: QueryNames | None = None
                 ) -> str:
    """The steps with every placeholder filled: the alert's plain values (service names,
    routes, endpoint keys), the generic words for the others, and the metric and label
    names."""
    values = {k: v for k, v in situation.placeholder_values().items() if _PLAIN.fullmatch(v)}
    values |= (names or QueryNames()).model_dump()
    out = []
    for part in compile_text(playbook.steps).parts:
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(values.get(part.name) or _GENERIC.get(part.name, part.name))
    return "".join(out)
