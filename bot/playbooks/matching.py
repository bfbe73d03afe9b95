"""Matching: which playbooks apply to an alert (a ``Situation``), how specifically, and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from bot.metrics.base import Endpoint, Signal
from bot.playbooks.conditions import Pattern
from bot.playbooks.evidence import EvidenceValue, check_evidence
from bot.playbooks.schema import Playbook


class Situation(BaseModel):
    """What an alert knows: the signal, where, its labels, and evidence about it."""

    model_config = ConfigDict(frozen=True)

    signal: Signal
    service: str
    endpoint: Endpoint | None = None
    labels: dict[str, str] = {}
    evidence: dict[str, EvidenceValue] = {}
    at: datetime | None = None

    @field_validator("evidence", mode="before")
    @classmethod
    def _known_evidence(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {str(name): check_evidence(str(name), item) for name, item in value.items()}

    @model_validator(mode="after")
    def _same_service(self) -> Situation:
        if self.endpoint and self.endpoint.service and self.endpoint.service != self.service:
            raise ValueError(f"the endpoint {self.endpoint.key} belongs to "
                             f"{self.endpoint.service!r}, not {self.service!r}")
        return self

    def placeholder_values(self) -> dict[str, str]:
        values = {"service": self.service}
        if self.endpoint is not None:
            values |= {"endpoint": self.endpoint.key, "route": self.endpoint.route}
            if self.endpoint.method:
                values["method"] = self.endpoint.method
        for label in ("namespace", "instance"):
            if label in self.labels:
                values[label] = self.labels[label]
        return values


class Evaluation(BaseModel):
    matched: bool
    score: int
    reasons: list[str]
    failures: list[str]  # what is known not to hold
    unknown: list[str] = []  # conditions on evidence the alert does not have, as written
    unknown_reasons: list[str] = []  # the same, each in a sentence


class PlaybookMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    playbook: Playbook
    score: int
    reasons: list[str]
    unknown: list[str] = []  # conditions that could not be checked: missing evidence


def evaluate(playbook: Playbook, situation: Situation) -> Evaluation:
    """Whether ``playbook`` applies, how specifically, and why (or why not)."""
    if playbook.fallback:
        return Evaluation(matched=True, score=0, reasons=["fallback: applies to every alert"],
                          failures=[])
    reasons: list[str] = []
    failures: list[str] = []
    score = 0
    m = playbook.match
    if m.signals:
        listed = ", ".join(m.signals)
        if situation.signal in m.signals:
            score += 1
            reasons.append(f"signal {situation.signal} is one of: {listed}")
        else:
            failures.append(f"signal {situation.signal} is not one of: {listed}")
    if m.services:
        score += _pattern_step("service", situation.service, m.services, reasons, failures)
    if m.endpoints:
        if situation.endpoint is None:
            failures.append("the alert names no endpoint")
        else:
            score += _pattern_step("endpoint", situation.endpoint.key, m.endpoints, reasons,
                                   failures, route=situation.endpoint.route)
    for label, pattern in m.labels.items():
        value = situation.labels.get(label)
        if value is None:
            failures.append(f"the alert has no label {label}")
        elif pattern.matches(value):
            score += 1
            reasons.append(f"label {label}={value!r} matches {pattern.text!r}")
        else:
            failures.append(f"label {label}={value!r} does not match {pattern.text!r}")
    unknown: list[str] = []
    unknown_reasons: list[str] = []
    for condition in m.conditions:
        holds, reason = condition.check(situation.evidence)
        if holds is None:
            # Missing evidence (no CPU metrics, say) is not a "no": it neither vetoes nor counts.
            unknown.append(condition.text)
            unknown_reasons.append(reason)
        elif holds:
            score += 1
            reasons.append(reason)
        else:
            failures.append(reason)
    # Conditions are what tells one cause from another: with none of them known to hold,
    # the playbook would match every alert of its signal.
    supported = not m.conditions or len(unknown) < len(m.conditions)
    return Evaluation(matched=not failures and supported, score=score, reasons=reasons,
                      failures=failures, unknown=unknown, unknown_reasons=unknown_reasons)


def _pattern_step(
    what: str, value: str, patterns: Sequence[Pattern], reasons: list[str], failures: list[str],
    route: str | None = None,
) -> int:
    """Best matching pattern's specificity; a pattern starting with '/' is tried on the route."""
    hits = [p for p in patterns
            if p.matches(route if route is not None and p.text.startswith("/") else value)]
    if not hits:
        listed = ", ".join(repr(p.text) for p in patterns)
        failures.append(f"{what} {value!r} matches none of {listed}")
        return 0
    best = max(hits, key=lambda p: p.specificity)
    reasons.append(f"{what} {value!r} matches {best.text!r}")
    return best.specificity


def match_playbooks(playbooks: Sequence[Playbook], situation: Situation) -> list[PlaybookMatch]:
    """Every playbook that applies: those with every condition known first, then those with
    unknowns (fewest first), most specific first within each; the fallback always last.

    A condition on missing evidence does not exclude a playbook, one known not to hold does;
    a playbook needs at least one of its conditions to hold.
    """
    matches = []
    for playbook in playbooks:
        result = evaluate(playbook, situation)
        if result.matched:
            matches.append(PlaybookMatch(playbook=playbook, score=result.score,
                                         reasons=result.reasons, unknown=result.unknown))
    # One whose conditions all hold ranks above one with unknowns, whatever their scores.
    return sorted(matches, key=lambda m: (m.playbook.fallback, len(m.unknown), -m.score,
                                          m.playbook.id))
