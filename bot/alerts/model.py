"""The neutral alert: what any source (detection today, Alertmanager next) raises, before
anyone renders it for Slack or a terminal. Pure data."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from bot.analytics.findings.model import Change, ChartData, Severity
from bot.metrics.base import Signal


class Link(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    url: str


class AlertChart(BaseModel):
    """The series that moved, around the change, with its baseline band."""

    model_config = ConfigDict(frozen=True)

    label: str  # "p95 latency of GET /api/orders/history (orders)"
    change: Change
    start: datetime  # when the change began
    confirmed_at: datetime  # when the detector was sure
    data: ChartData
    signal: Signal | None = None  # what the values are (its unit); None in charts stored before


class Alert(BaseModel):
    """One alert. ``fingerprint`` names the problem, not the occurrence: the same series of
    the same service from the same source gives the same fingerprint from one detection
    cycle to the next, however its onset moves; ``id`` names this occurrence (what the
    buttons carry)."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    fingerprint: str
    service: str
    endpoint: str | None  # the endpoint's column (service + method + route), if any
    signal: Signal | None
    severity: Severity
    title: str
    summary: str
    labels: dict[str, str] = {}
    starts_at: datetime
    ends_at: datetime | None = None
    links: tuple[Link, ...] = ()
    chart: AlertChart | None = None


def fingerprint(source: str, signal: str, service: str, endpoint: str | None) -> str:
    """A short, stable name for a problem: a hash of its source, signal and series."""
    parts = "\x1f".join((source, signal, service, endpoint or ""))
    return hashlib.sha256(parts.encode()).hexdigest()[:16]
