"""Alerts and their messages as detection makes them, small enough to read in a test: what
the incident renderer and the outbox tests open incidents with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.alerts.message import AlertMessage, Section
from bot.alerts.model import Alert, AlertChart, fingerprint
from bot.analytics.findings.model import Change, ChartData, Severity
from bot.incidents.lifecycle import Incident, open_incident
from bot.metrics.base import Signal
from bot.render.alert import actions

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def chart(at: datetime = AT) -> AlertChart:
    times = [at - timedelta(minutes=10 * n) for n in range(12, 0, -1)]
    values = [0.2] * 6 + [0.9] * 6
    return AlertChart(
        label="p95 latency of GET /api/orders (orders)", change=Change.STEP,
        start=times[6], confirmed_at=times[8],
        data=ChartData(times=times, values=values, baseline=[0.2] * 12, low=[0.15] * 12,
                       high=[0.25] * 12))


def alert(
    number: int = 1, *, title: str = "orders p95 latency up", service: str = "orders",
    severity: Severity = Severity.CRITICAL, with_chart: bool = True, at: datetime = AT,
) -> Alert:
    endpoint = f"orders GET /api/orders/{number}"
    return Alert(
        id=f"f-{number}", source="detection",
        fingerprint=fingerprint("detection", "latency", service, endpoint),
        service=service, endpoint=endpoint, signal=Signal.LATENCY, severity=severity,
        title=title, summary="a slow query", starts_at=at - timedelta(minutes=30),
        chart=chart(at) if with_chart else None)


def message(item: Alert, sections: int = 2, text: str = "• GET /api/orders: 900 ms vs "
            "200 ms usual") -> AlertMessage:
    return AlertMessage(
        finding_id=item.id, severity=item.severity, title=f"🔴 CRITICAL: {item.title}",
        sections=[Section(title=f"Part {n}", text=text) for n in range(sections)],
        actions=actions(item.id))


def incident(number: int = 7, *, channel: str = "C1", at: datetime = AT,
             **alert_args: object) -> Incident:
    """A triggered incident as ``open_incident`` makes it (no policy)."""
    item = alert(number, at=at, **alert_args)  # type: ignore[arg-type]
    return open_incident(number, item, message(item), channel=channel, policy=None,
                         urgency="high", silenced="", now=at).incident
