"""``POST /alertmanager``: Alertmanager's webhook (payload version 4) in, incidents out.

Checked at the door, cheapest first: the bearer token (``PERFBOT_ALERTMANAGER_TOKEN``,
Alertmanager's ``http_config.authorization``; compared in constant time) before a byte
of the body is read, so a missing or wrong one is a 401 that changes nothing; then the
length (413 above ``MAX_BODY``, before reading) and type (415); then the payload (400
saying what is wrong). The answer is 200 only once every alert is stored (the outbox
posts it), 503 when the store cannot be written: Alertmanager retries both 5xx and
connection errors, and a retry is a duplicate the incidents absorb. Bodies and tokens
never reach the log.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from bot.alerts.alertmanager import (
    SOURCE,
    Mapped,
    PayloadError,
    WebhookPayload,
    map_alert,
    parse_payload,
)
from bot.app import Perfbot
from bot.catalog.model import EndpointInfo
from bot.incidents.service import Firing
from bot.metrics.base import MetricsError
from bot.render.alertmanager import alertmanager_message
from bot.storage import StorageError
from bot.web_server import Refused, WSGIApp, content_length, read_body

log = logging.getLogger(__name__)

PATH = "/alertmanager"
MAX_BODY = 4 << 20  # bytes; Alertmanager's max_alerts bounds a group, 4 MiB is thousands


def alertmanager_wsgi_app(perfbot: Perfbot, token: str | None) -> WSGIApp:
    """The webhook on ``perfbot``'s incidents; ``token``: the bearer token it must carry
    (None: every request is refused, saying the bot has none set)."""
    # One delivery at a time: duplicates (two Alertmanagers of a cluster, retries) are
    # judged against what the one before stored.
    lock = threading.Lock()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise Refused("405 Method Not Allowed", "only POST")
            _authorized(environ, token)
            length = content_length(environ, MAX_BODY)
            kind = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
            if kind != "application/json":
                raise Refused("415 Unsupported Media Type", "expected application/json")
            try:
                payload = parse_payload(read_body(environ, length))
            except PayloadError as exc:
                raise Refused("400 Bad Request", str(exc)) from None
            with lock:
                stored = receive(perfbot, payload)
        except Refused as refused:
            log.info("alertmanager: refused a request from %s: %s %s",
                     environ.get("REMOTE_ADDR", "?"), refused.status, refused)
            return _answer(start_response, refused.status, {"error": str(refused)})
        except StorageError as exc:
            log.warning("alertmanager: could not store a notification (503, Alertmanager "
                        "retries): %s", exc)
            return _answer(start_response, "503 Service Unavailable",
                           {"error": "the incident store is unavailable; retry"})
        return _answer(start_response, "200 OK", {"incidents": stored})

    return application


def _authorized(environ: dict[str, Any], token: str | None) -> None:
    if not token:
        raise Refused("401 Unauthorized", "PERFBOT_ALERTMANAGER_TOKEN is not set on the bot: "
                      "it takes no alerts")
    given = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            credentials.strip().encode(), token.encode()):
        raise Refused("401 Unauthorized", "missing or wrong bearer token")


def receive(perfbot: Perfbot, payload: WebhookPayload) -> list[str]:
    """Store each alert of ``payload`` as its incident; the incidents' names."""
    now = perfbot.now()
    entries, services = _catalog(perfbot)
    default = perfbot.settings.incidents.default_channel
    names = []
    for item in payload.alerts:
        mapped = map_alert(item, payload, entries, services)
        mapped = _with_end(mapped, now, perfbot)
        firing = Firing(alert=mapped.alert, message=alertmanager_message(mapped, default),
                        urgency="high" if mapped.alert.severity == "critical" else "low")
        # Another replica may get the same group at once (two Alertmanagers of a cluster):
        # one at a time per alert, across processes, so both end in one incident.
        with perfbot.incident_store.serialized(f"alertmanager:{mapped.alert.fingerprint}"):
            incident = perfbot.incidents.received(firing, resolved=not mapped.firing,
                                                  now=now)
        if incident is not None:
            names.append(incident.name)
    log.info("alertmanager: %s notification of %d alert(s) from %s stored: %s",
             payload.status, len(payload.alerts), payload.receiver, ", ".join(names) or "-")
    return names


def _with_end(mapped: Mapped, now: datetime, perfbot: Perfbot) -> Mapped:
    """A firing alert ends, unless repeated, ``alertmanager.resolve_after`` from now:
    Alertmanager's webhook never says when a firing alert ends."""
    if not mapped.firing or (mapped.alert.ends_at is not None and mapped.alert.ends_at > now):
        return mapped
    ends = now + perfbot.settings.alertmanager.resolve_after
    return mapped.model_copy(update={"alert": mapped.alert.model_copy(
        update={"ends_at": ends})})


def _catalog(perfbot: Perfbot) -> tuple[list[EndpointInfo], list[str]]:
    """The catalog the alerts are mapped on: the one the bot has, however old, so that a slow
    or hung metrics server never holds an alert (the webhook takes one at a time); discovered
    here only before the first."""
    services = list(perfbot.settings.catalog.services)
    catalog = perfbot.last_catalog()
    if catalog is None:
        try:
            catalog = perfbot.catalog
        except MetricsError as exc:  # the metrics server is away: the configured services only
            log.warning("alertmanager: no endpoint catalog (%s): mapping on configured "
                        "services", exc)
    return (list(catalog.entries) if catalog is not None else []), services


def _answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]
            ) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


__all__ = ["PATH", "SOURCE", "alertmanager_wsgi_app", "receive"]
