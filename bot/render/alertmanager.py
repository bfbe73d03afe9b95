"""An Alertmanager alert as a message (``AlertMessage``), for Slack and the terminal. Pure."""

from __future__ import annotations

from bot.alerts.alertmanager import Mapped
from bot.alerts.message import AlertMessage, Section
from bot.analytics.findings.model import Severity
from bot.render.alert import SECTION_LIMIT, actions
from bot.render.mrkdwn import clip, inert

_EMOJI = {Severity.CRITICAL: "🔴", Severity.WARNING: "🟠", Severity.INFO: "🔵"}


def alertmanager_message(mapped: Mapped, default_channel: str) -> AlertMessage:
    """The message of an Alertmanager alert: what it says, its labels, and where it was
    routed when the catalog does not know its service."""
    alert = mapped.alert
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    sections = [Section(title="What", text=clip(inert(alert.summary or alert.title),
                                                SECTION_LIMIT)),
                Section(title="Labels", text=clip(inert(labels), SECTION_LIMIT))]
    where = f"service {inert(alert.service)}" + (
        f", endpoint {inert(alert.endpoint)}" if alert.endpoint else "")
    if not mapped.known:
        where += (f" — not in the catalog: routed to the default channel "
                  f"{inert(default_channel)}")
    sections.append(Section(title="Where", text=where))
    if mapped.truncated:
        sections.append(Section(title="Truncated", text=(
            f"Alertmanager left {mapped.truncated} alert(s) of this group out of its "
            "notification (max_alerts): see Alertmanager for all of them")))
    for link in alert.links:
        sections.append(Section(title=inert(link.title), text=inert(link.url)))
    return AlertMessage(finding_id=alert.id, severity=alert.severity,
                        title=f"{_EMOJI[alert.severity]} {alert.severity.upper()}: "
                              f"{inert(alert.title)}",
                        sections=sections, actions=actions(alert.id))
