"""Alertmanager's webhook payload (version 4) and its alerts as the bot's ``Alert``. Pure.

Unknown fields are accepted and ignored (Alertmanager adds some between versions); a
missing field or a wrong type is refused with what is wrong. Labels map to the catalog:
``service``, ``route`` and ``method`` (where present) name the endpoint, so the incident
gets its owner channel and SLO; a service the catalog does not know keeps its name and is
routed to the default channel (``known`` says so)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from bot.alerts.model import Alert, Link
from bot.analytics.findings.model import Severity
from bot.catalog.model import EndpointInfo

SOURCE = "alertmanager"
_PREFIX = "am-"  # an Alertmanager fingerprint among the bot's own (16 hex digits both)
_SEVERITIES = {"critical": Severity.CRITICAL, "page": Severity.CRITICAL,
               "error": Severity.CRITICAL, "warning": Severity.WARNING,
               "info": Severity.INFO, "none": Severity.INFO}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WebhookAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)

    @property
    def ends_at(self) -> datetime | None:
        """When it ends, if Alertmanager said (its zero time "0001-01-01" means unknown)."""
        return self.endsAt if self.endsAt is not None and self.endsAt.year > 1970 else None


class WebhookPayload(_Lenient):
    version: Literal["4"]
    groupKey: str
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    alerts: list[WebhookAlert] = Field(max_length=10_000)


class PayloadError(ValueError):
    """A payload that is not Alertmanager's webhook version 4; the text says what is wrong."""


def parse_payload(raw: bytes) -> WebhookPayload:
    try:
        return WebhookPayload.model_validate_json(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False)[:5]:
            where = ".".join(str(part) for part in error["loc"]) or "the body"
            problems.append(f"{where}: {error['msg']}")
        more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise PayloadError("not an Alertmanager webhook payload (version 4): "
                           + "; ".join(problems) + more) from None


class Mapped(BaseModel):
    """An Alertmanager alert as the bot's, with what the catalog said."""

    model_config = ConfigDict(frozen=True)

    alert: Alert
    known: bool  # the catalog knows its service
    truncated: int = 0  # alerts Alertmanager left out of the payload it came in
    firing: bool


def fingerprint_of(am_fingerprint: str) -> str:
    return _PREFIX + am_fingerprint


def map_alert(item: WebhookAlert, payload: WebhookPayload, entries: Sequence[EndpointInfo],
              services: Sequence[str]) -> Mapped:
    """``item`` as an ``Alert``: its service and endpoint from the catalog (``entries``,
    ``services``: the configured ones), its severity from the ``severity`` label."""
    labels = item.labels
    service = labels.get("service") or labels.get("job") or ""
    route, method = labels.get("route"), labels.get("method", "")
    endpoint = None
    known = bool(service) and (service in services
                               or any(e.service == service for e in entries))
    if known and route:
        entry = next((e for e in entries if e.service == service and e.endpoint.route == route
                      and (not method or e.endpoint.method.upper() == method.upper())), None)
        endpoint = entry.column if entry is not None else None
    name = labels.get("alertname", "alert")
    summary = (item.annotations.get("summary") or item.annotations.get("description")
               or payload.commonAnnotations.get("summary", ""))
    links = [Link(title="Source", url=item.generatorURL)] if item.generatorURL else []
    if payload.externalURL:
        links.append(Link(title="Alertmanager", url=payload.externalURL))
    alert = Alert(
        id=f"{_PREFIX}{item.fingerprint}-{int(item.startsAt.timestamp())}", source=SOURCE,
        fingerprint=fingerprint_of(item.fingerprint), service=service or "unknown",
        endpoint=endpoint, signal=None,
        severity=_SEVERITIES.get(labels.get("severity", "").lower(), Severity.WARNING),
        title=name + (f": {summary}" if summary else ""), summary=summary,
        labels=dict(labels), starts_at=item.startsAt.astimezone(UTC),
        ends_at=item.ends_at.astimezone(UTC) if item.ends_at else None, links=tuple(links))
    return Mapped(alert=alert, known=known, truncated=payload.truncatedAlerts,
                  firing=item.status == "firing")


def matchers(labels: dict[str, str]) -> list[dict[str, object]]:
    """Alertmanager's matchers for exactly these labels (a silence of this alert)."""
    return [{"name": name, "value": value, "isRegex": False, "isEqual": True}
            for name, value in sorted(labels.items())]
