"""Shared by the incident tests and the sweep benchmark: alerts, their messages and a policy,
built the way detection would build them, with fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.alerts.message import AlertMessage, Section
from bot.alerts.model import Alert, AlertChart, fingerprint
from bot.analytics.findings.model import Change, ChartData, Severity
from bot.incidents.policies import OnCallSettings, Policy
from bot.incidents.schedules import Schedule
from bot.metrics.base import Signal

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday afternoon
MINUTE = timedelta(minutes=1)
SOURCE = "detection"

# Three steps: a person, their boss 5 minutes later, the channel 10 minutes after that; an
# acknowledgement unanswered for 30 minutes gets a reminder, then 10 minutes to answer it.
SRE = Policy.model_validate({
    "name": "sre", "ack_timeout": "30m", "reminder_wait": "10m", "steps": [
        {"notify_users": ["UANNA"], "wait": "5m"},
        {"notify_users": ["UBOSS"], "wait": "10m"},
        {"notify_channel": "here"},
    ]})
# The same steps, acknowledgements never time out.
PATIENT = Policy.model_validate(SRE.model_dump() | {"name": "patient", "ack_timeout": None})

PRIMARY = Schedule.model_validate({"name": "primary", "layers": [{
    "members": ["UANNA", "UBEN"], "start": "2026-11-16 09:00", "length": "1w",
    "time_zone": "Europe/Berlin"}]})


def oncall(**fields: Any) -> OnCallSettings:
    """Settings with the ``primary`` schedule, a policy paging its on-call then the boss,
    and routes: payments → ``payments``, critical → ``sre``, else ``patient``."""
    return OnCallSettings.model_validate({
        "schedules": [PRIMARY.model_dump(mode="json")],
        "policies": [
            SRE.model_dump(mode="json"), PATIENT.model_dump(mode="json"),
            {"name": "payments", "steps": [{"notify_schedule": "primary", "wait": "5m"},
                                           {"notify_users": ["UBOSS"], "wait": "10m"}]},
        ],
        "routing": {"default": "patient", "routes": [
            {"service": "payments", "policy": "payments"},
            {"severity": "critical", "policy": "sre"},
        ]},
    } | fields)


def alert(
    endpoint: str = "GET /api/orders", *, service: str = "checkout",
    severity: Severity = Severity.WARNING, source: str = SOURCE,
    signal: Signal = Signal.LATENCY, at: datetime = T0, chart: bool = False,
    team: str | None = None,
) -> Alert:
    """An alert of ``signal`` on ``endpoint`` of ``service``; its fingerprint depends on
    those and ``source`` only, its id on ``at`` too."""
    column = f"{service} {endpoint}"
    printed = fingerprint(source, str(signal), service, column)
    drawn = None
    if chart:
        times = [at - 10 * MINUTE, at - 5 * MINUTE, at]
        drawn = AlertChart(label=f"p95 latency of {endpoint} ({service})", change=Change.STEP,
                           start=at - 5 * MINUTE, confirmed_at=at, data=ChartData(
                               times=times, values=[0.2, 0.9, 0.95], baseline=[0.2] * 3,
                               low=[0.15] * 3, high=[0.25] * 3))
    return Alert(
        id=f"{printed}-{at:%Y%m%dT%H%M}", source=source, fingerprint=printed, service=service,
        endpoint=column, signal=signal, severity=severity,
        title=f"{signal} of {endpoint} ({service}) up", summary="p95 950 ms vs 200 ms usual",
        labels={"team": team} if team else {}, starts_at=at - 5 * MINUTE, chart=drawn,
    )


def message(of: Alert) -> AlertMessage:
    return AlertMessage(finding_id=of.id, severity=of.severity, title=of.title,
                        sections=[Section(title="What", text=of.summary)], actions=[])
