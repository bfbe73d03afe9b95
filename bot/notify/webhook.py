"""A generic JSON webhook, as the outbox sends to it: a policy step's event with the
incident's evidence, signed with HMAC-SHA256 when a secret is configured.

The receiver checks ``X-Perfbot-Signature: v1=<hex>``, the HMAC-SHA256 of
``v1:<X-Perfbot-Timestamp>:<body>`` under the shared secret (the timestamp is signed so a
captured request cannot be replayed later), and may drop a repeat by ``X-Perfbot-Delivery``
(the outbox key: the same for every retry of one event). The URL and the secret are read
from the environment when sending; neither appears in a log or an error (a URL may carry a
token in its path).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests

from bot.incidents.lifecycle import EventAction, Incident
from bot.incidents.policies import WebhookTarget
from bot.notify.pagerduty import NotAccepted, TryLater, answer_class, dedup_key, evidence
from bot.notify.pagerduty import links as incident_links
from bot.notify.pagerduty import said as reason

SIGNATURE_HEADER = "X-Perfbot-Signature"
TIMESTAMP_HEADER = "X-Perfbot-Timestamp"
DELIVERY_HEADER = "X-Perfbot-Delivery"


def body(incident: Incident, action: EventAction, step: int | None,
         message_link: str | None = None) -> dict[str, Any]:
    """What the webhook receives: the event, the incident and its evidence."""
    alert = incident.alert
    return {
        "event": action, "incident": incident.name, "dedup_key": dedup_key(incident),
        "state": str(incident.state), "title": alert.title, "severity": str(alert.severity),
        "service": alert.service, "endpoint": alert.endpoint,
        "step": step + 1 if step is not None else None,
        "links": incident_links(incident, message_link), "details": evidence(incident),
    }


def signature(secret: str, timestamp: str, raw: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 of ``v1:<timestamp>:<body>``."""
    signed = b"v1:" + timestamp.encode() + b":" + raw
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class Webhooks:
    """Posts events to the webhooks the steps name; URLs and secrets from ``environ``."""

    def __init__(self, timeout: float = 10.0,
                 environ: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self.environ = os.environ if environ is None else environ
        self.session = requests.Session()

    def send(self, target: WebhookTarget, payload: dict[str, Any], delivery: str,
             now: datetime) -> None:
        url = self.environ.get(target.url_env, "").strip()
        if not url.startswith(("http://", "https://")):
            raise NotAccepted(f"{target.url_env} is not set to an http(s) URL")
        secret = ""
        if target.secret_env is not None:
            secret = self.environ.get(target.secret_env, "")
            if not secret:
                raise NotAccepted(f"{target.secret_env} is not set: the webhook's body "
                                  "cannot be signed")
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        stamp = str(int(now.timestamp()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
                   DELIVERY_HEADER: delivery}
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, stamp, raw)
        try:
            response = self.session.post(url, data=raw, headers=headers,
                                         timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:  # its text carries the URL: not shown
            raise TryLater(f"the webhook of {target.url_env} is unreachable "
                           f"({type(exc).__name__})") from None
        error = answer_class(response.status_code)
        if error is not None:
            raise error(f"the webhook of {target.url_env} answered {response.status_code}: "
                        f"{reason(response, secrets=(url, secret))}")
