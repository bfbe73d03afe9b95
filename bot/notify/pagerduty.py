"""PagerDuty's Events API v2, as the outbox sends to it: a step's trigger, and the Slack
acknowledgement and resolution sent on, all under one ``dedup_key`` per incident.

``event`` is pure (the body); ``PagerDuty.send`` posts it. 202 is done; 400 (and any other
answer PagerDuty will not change its mind about) raises ``NotAccepted``: logged, put on the
incident's timeline, not retried; 429, 5xx and network errors raise ``TryLater``: the
outbox retries with backoff. The routing key is read from the environment when sending and
never appears in a log or an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

import requests

from bot.alerts.model import Link
from bot.analytics.findings.model import Severity
from bot.incidents.lifecycle import EventAction, Incident
from bot.incidents.policies import (
    OnCallSettings,
    PagerDutySettings,
    PagerDutySeverity,
    PagerDutyTarget,
)

SUMMARY_LIMIT = 1024  # PagerDuty's limit on payload.summary
_ANSWER_LIMIT = 300  # of an error's body, in logs and the timeline
_SEVERITY: dict[Severity, PagerDutySeverity] = {
    Severity.CRITICAL: "critical", Severity.WARNING: "warning", Severity.INFO: "info"}


class NotAccepted(Exception):
    """The receiver refused the event for good: sending it again would be refused again."""


class TryLater(Exception):
    """The receiver could not take the event now (throttled, down, unreachable)."""


def dedup_key(incident: Incident) -> str:
    """One per incident, the same for its trigger, acknowledgement and resolution."""
    return f"perfbot-{incident.name}-{incident.fingerprint}"


def evidence(incident: Incident) -> dict[str, Any]:
    """What the incident's message says, as data: PagerDuty's custom_details, a webhook's
    details."""
    alert = incident.alert
    details: dict[str, Any] = {
        "incident": incident.name, "state": str(incident.state),
        "severity": str(alert.severity), "service": alert.service,
        "endpoint": alert.endpoint, "signal": str(alert.signal) if alert.signal else None,
        "summary": alert.summary, "opened_at": incident.opened_at.isoformat(),
        "evidence": {section.title: section.text for section in incident.message.sections},
    }
    if alert.labels:
        details["labels"] = dict(alert.labels)
    return details


def links(incident: Incident, message_link: str | None) -> list[dict[str, str]]:
    """The Slack message (with its chart in the thread) and the playbooks."""
    found: list[Link] = list(incident.alert.links)
    if message_link:
        found.insert(0, Link(title=f"{incident.name} in Slack (chart in the thread)",
                             url=message_link))
    return [{"href": link.url, "text": link.title} for link in found]


def event(incident: Incident, action: EventAction, target: PagerDutyTarget, routing_key: str,
          message_link: str | None = None) -> dict[str, Any]:
    """The Events API v2 body for ``action`` on ``incident``."""
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action,
                            "dedup_key": dedup_key(incident)}
    if action != "trigger":
        return body
    alert = incident.alert
    body["payload"] = {
        "summary": _cut(f"{incident.name}: {alert.title}", SUMMARY_LIMIT),
        "source": alert.labels.get("instance") or alert.service,
        "severity": target.severity or _SEVERITY[alert.severity],
        "timestamp": alert.starts_at.astimezone(UTC).isoformat(),
        "component": alert.endpoint or alert.service,
        "group": alert.labels.get("team") or alert.service,
        "class": str(alert.signal) if alert.signal else alert.source,
        "custom_details": evidence(incident),
    }
    body["client"] = "perfbot"
    if message_link:
        body["client_url"] = message_link
    body["links"] = links(incident, message_link)
    return body


class PagerDuty:
    """Sends events to the Events API at ``settings.events_url``; keys from ``environ``."""

    def __init__(self, settings: PagerDutySettings,
                 environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self.session = requests.Session()

    def routing_key(self, target: PagerDutyTarget) -> str:
        key = self.environ.get(target.routing_key_env, "").strip()
        if not key:
            raise NotAccepted(f"{target.routing_key_env} is not set: no routing key to "
                              "page PagerDuty with")
        return key

    def send(self, incident: Incident, action: EventAction, target: PagerDutyTarget,
             message_link: str | None = None) -> None:
        key = self.routing_key(target)
        body = event(incident, action, target, key, message_link)
        try:
            response = self.session.post(self.settings.events_url, json=body,
                                         timeout=self.settings.timeout)
        except requests.RequestException as exc:  # its text may carry the URL: not shown
            raise TryLater(f"PagerDuty unreachable ({type(exc).__name__})") from None
        error = answer_class(response.status_code)  # 202: taken
        if error is not None:
            raise error(f"PagerDuty answered the {action} with {response.status_code}: "
                        f"{said(response, secrets=(key,))}")


def answer_class(status: int) -> type[Exception] | None:
    """What an HTTP answer means for an outbound event: None done, else the error to raise."""
    if 200 <= status < 300:
        return None
    return TryLater if status in (408, 429) or status >= 500 else NotAccepted


def said(response: requests.Response, secrets: Sequence[str] = ()) -> str:
    """The receiver's reason, short, without any secret it might echo."""
    try:
        data = response.json()
    except ValueError:
        text = response.text
    else:
        if isinstance(data, dict):
            parts = [str(data.get("message") or data.get("error") or data.get("status") or "")]
            errors = data.get("errors")
            if isinstance(errors, list) and errors:
                parts.append("; ".join(str(e) for e in errors))
            text = ": ".join(p for p in parts if p) or str(data)
        else:
            text = str(data)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[hidden]")
    return _cut(" ".join(text.split()) or "no reason given", _ANSWER_LIMIT)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def missing_variables(oncall: OnCallSettings, environ: Mapping[str, str]) -> list[str]:
    """What the policies' PagerDuty and webhook steps need from the environment and lack,
    each said once with the first step that needs it: checked before ``perfbot run``
    starts, so a page is not the first to find out."""
    found: dict[str, str] = {}
    for policy in oncall.policies:
        for number, step in enumerate(policy.steps, 1):
            where = f"policy {policy.name!r} step {number}"
            needed: list[tuple[str, str]] = []
            if step.notify_pagerduty is not None:
                needed.append((step.notify_pagerduty.routing_key_env,
                               "the PagerDuty routing key"))
            if step.notify_webhook is not None:
                needed.append((step.notify_webhook.url_env, "the webhook's URL"))
                if step.notify_webhook.secret_env is not None:
                    needed.append((step.notify_webhook.secret_env, "the webhook's secret"))
            for name, what in needed:
                if not environ.get(name, "").strip() and name not in found:
                    found[name] = f"{name} is not set ({what} of {where})"
    return list(found.values())
