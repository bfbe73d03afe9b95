"""A detection finding with what an alert needs besides it (evidence, cause, playbooks), a
detection cycle's report, and the neutral ``Alert`` each finding becomes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from bot.alerts.model import Alert, AlertChart, Link, fingerprint
from bot.analytics.findings.model import Finding, FindingsResult
from bot.playbooks.diagnostics import DiagnosticResult
from bot.playbooks.matching import PlaybookMatch, Situation
from bot.playbooks.rendering import RenderedDiagnostic

DETECTION = "detection"


class Explained(BaseModel):
    """A finding with what an alert needs besides it: evidence, cause, playbooks."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    finding: Finding
    situation: Situation
    cause: str
    matches: list[PlaybookMatch]
    diagnostics: list[RenderedDiagnostic]
    # The top playbook's diagnostics run at the peak; empty when the backend cannot.
    results: list[DiagnosticResult] = []

    def alert(self) -> Alert:
        """The neutral alert: named by the series that moved first, not by its onset."""
        f = self.finding
        first = f.first_mover
        key = first.key
        labels = {"service": f.service, "signal": str(key.signal), "change": str(first.change)}
        if key.column is not None:
            labels["endpoint"] = key.endpoint or ""
        links = tuple(Link(title=link.title, url=str(link.url))
                      for link in (self.matches[0].playbook.links if self.matches else []))
        chart = (AlertChart(label=key.label, change=first.change, start=first.start,
                            confirmed_at=first.fired_at, data=first.chart,
                            signal=key.signal)
                 if first.chart is not None else None)
        return Alert(
            id=f.id, source=DETECTION,
            fingerprint=fingerprint(DETECTION, str(key.signal), f.service, key.column),
            service=f.service, endpoint=key.column, signal=key.signal, severity=f.severity,
            title=f.title, summary=self.cause, labels=labels, starts_at=f.start, ends_at=f.end,
            links=links, chart=chart,
        )


class CycleReport(BaseModel):
    at: datetime
    since: datetime
    result: FindingsResult
    explained: list[Explained]
    problems: list[str]  # signals that could not be read
