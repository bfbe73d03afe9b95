"""Stand-ins on loopback for what perfbot pages outside Slack, like ``slack_standin``.

``PagerDutyStandIn`` is the Events API v2 enqueue endpoint: it checks each body against the
v2 schema (a 32-character ``routing_key``, ``event_action`` trigger/acknowledge/resolve, a
``dedup_key`` of at most 255 characters — required for acknowledge and resolve — and for a
trigger ``payload.summary`` of 1 to 1024 characters, ``payload.source`` and
``payload.severity`` critical/error/warning/info, ``links`` with an ``href`` each), records
every call, and answers 202 (``{"status": "success", ..., "dedup_key"}``), 400 for a body
that does not pass (``{"status": "invalid event", "errors": [...]}``), or whatever status a
test queued with ``answer``.

``WebhookReceiver`` takes JSON posts, checks ``X-Perfbot-Signature`` with its secret and
answers 401 to a bad one, 204 to a good one (or a queued status).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback_server import LoopbackServer

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, like PagerDuty's


@dataclass(frozen=True)
class Event:
    """One request: its body (parsed, or None), the status answered and why."""

    body: dict[str, Any] | None
    status: int
    errors: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""

    @property
    def action(self) -> str | None:
        return self.body.get("event_action") if self.body else None

    @property
    def dedup_key(self) -> str | None:
        return self.body.get("dedup_key") if self.body else None


def schema_errors(body: Any) -> list[str]:
    """What makes ``body`` an invalid Events API v2 event (empty: a valid one)."""
    if not isinstance(body, dict):
        return ["the event must be a JSON object"]
    errors = []
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' must be a string of 32 characters")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append(f"'event_action' must be one of {', '.join(ACTIONS)}")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append(f"'dedup_key' is required to {action}")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
            errors.append("'payload.summary' must be a string of 1 to 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("'payload.source' is missing")
        if payload.get("severity") not in SEVERITIES:
            errors.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}")
        details = payload.get("custom_details")
        if details is not None and not isinstance(details, dict):
            errors.append("'payload.custom_details' must be an object")
        for link in body.get("links") or []:
            if not isinstance(link, dict) or not isinstance(link.get("href"), str):
                errors.append("each of 'links' must have an 'href'")
    return errors


class _Server(LoopbackServer):
    """A stand-in that hands each POST to ``handle``, its answer queued by ``answer``."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.queued: deque[int] = deque()
        self.lock = threading.Lock()
        super().__init__()

    def answer(self, *statuses: int) -> None:
        """The next requests get these statuses, in order, whatever they hold."""
        with self.lock:
            self.queued.extend(statuses)

    def handle(self, path: str, headers: dict[str, str],
               raw: bytes) -> tuple[int, dict[str, Any] | None]:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the events are recorded instead

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = server.handle(self.path, dict(self.headers.items()), raw)
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _queued(self) -> int | None:
        with self.lock:
            return self.queued.popleft() if self.queued else None

    def _record(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)


class PagerDutyStandIn(_Server):
    """``with PagerDutyStandIn() as pd:`` → ``pd.events_url`` for ``pagerduty.events_url``."""

    @property
    def events_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    def accepted(self) -> list[Event]:
        """The events answered 202, in order."""
        with self.lock:
            return [e for e in self.events if e.status == 202]

    def handle(self, path: str, headers: dict[str, str],
               raw: bytes) -> tuple[int, dict[str, Any] | None]:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        errors = tuple(schema_errors(body)) if path == "/v2/enqueue" else ("no such path",)
        told = self._queued()
        status = told if told is not None else 400 if errors else 202
        self._record(Event(body if isinstance(body, dict) else None, status, errors,
                           headers, raw))
        if status == 202:
            return status, {"status": "success", "message": "Event processed",
                            "dedup_key": body["dedup_key"]}
        if status == 400:
            return status, {"status": "invalid event", "message": "Event object is invalid",
                            "errors": list(errors) or ["told to refuse it"]}
        if status == 429:
            return status, {"status": "throttled", "message": "Requests for this service "
                            "are arriving too quickly. Please retry later."}
        return status, {"status": "error", "message": "internal error"}


class WebhookReceiver(_Server):
    """A webhook that checks perfbot's signature with ``secret`` (None: accepts unsigned)."""

    def __init__(self, secret: str | None) -> None:
        super().__init__()
        self.secret = secret

    def accepted(self) -> list[Event]:
        with self.lock:
            return [e for e in self.events if 200 <= e.status < 300]

    def handle(self, path: str, headers: dict[str, str],
               raw: bytes) -> tuple[int, dict[str, Any] | None]:
        errors: tuple[str, ...] = ()
        if self.secret is not None:
            stamp = headers.get("X-Perfbot-Timestamp", "")
            signed = b"v1:" + stamp.encode() + b":" + raw
            wanted = "v1=" + hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(wanted, headers.get("X-Perfbot-Signature", "")):
                errors = ("bad signature",)
        told = self._queued()
        status = 401 if errors else told if told is not None else 204
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self._record(Event(body if isinstance(body, dict) else None, status, errors,
                           headers, raw))
        return status, ({"error": errors[0]} if errors else None)
