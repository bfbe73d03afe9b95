"""HTTP mode: Slack's requests on ``POST /slack/events``, checked at the door, then Bolt's.

Anyone can reach this port, so a request is refused before it costs anything: a missing,
bad or oversized Content-Length (411/400/413) or a content type Slack never sends (415)
before a byte of the body is read; then a signature that is not Slack's over the raw
bytes, or a timestamp more than five minutes off (401), before anything decodes or parses
them; then a body that is not UTF-8 text holding a JSON object or a form (400). Refusals
are logged as one line: status, reason and client, never the body (it holds a
``response_url`` anyone could post to). Only what passed reaches Bolt, whose own signature
check is off (``build_slack_app``): it would check the same thing again, and it logs the
whole body of what it refuses.

The server is ``bot.web_server``'s: a fixed pool of workers, a bounded queue, a deadline
for the whole request.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request.internals import (
    build_normalized_headers,
    extract_content_type,
    parse_body,
)
from slack_sdk.signature import Clock, SignatureVerifier

from bot.web_server import (
    BoundedWSGIServer,
    Limits,
    Refused,
    WSGIApp,
    content_length,
    make_bounded_server,
    read_body,
)

log = logging.getLogger(__name__)

PATH = "/slack/events"
MAX_BODY = 1 << 20  # bytes; Slack's payloads are a few KB (a view submission tens of KB)
CONTENT_TYPES = ("application/x-www-form-urlencoded", "application/json")
WINDOW = 5 * 60  # seconds a signed timestamp is good for, either way (Slack's rule)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # int() of 5,000 digits raises; 12 is year 33658


class _WallClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def slack_wsgi_app(app: App, signing_secret: str, *, path: str = PATH,
                   now: Callable[[], float] = time.time) -> WSGIApp:
    """``app`` behind the checks above; ``now``: wall time in seconds (the signatures')."""
    verifier = SignatureVerifier(signing_secret, clock=_WallClock(now))

    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        try:
            length = _admitted(environ, path)
            text = _signed_text(environ, length, verifier, now())
            request = _bolt_request(text, environ)
        except Refused as refused:
            log.info("refused a request from %s: %s %s", environ.get("REMOTE_ADDR", "?"),
                     refused.status, refused)
            body = json.dumps({"error": str(refused)}).encode()
            start_response(refused.status, [("Content-Type", "application/json"),
                                            ("Content-Length", str(len(body)))])
            return [body]
        answer = app.dispatch(request)
        response = WsgiHttpResponse(status=answer.status, headers=answer.headers,
                                    body=answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    return application


def _admitted(environ: dict[str, Any], path: str) -> int:
    """The body's length, once the request line and headers say it may be read."""
    if environ.get("PATH_INFO") != path:
        raise Refused("404 Not Found", f"nothing here; Slack posts to {path}")
    if environ.get("REQUEST_METHOD") != "POST":
        raise Refused("405 Method Not Allowed", "only POST")
    length = content_length(environ, MAX_BODY)
    kind = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if kind not in CONTENT_TYPES:
        raise Refused("415 Unsupported Media Type", "expected " + " or ".join(CONTENT_TYPES))
    return length


def _signed_text(environ: dict[str, Any], length: int, verifier: SignatureVerifier,
                 now: float) -> str:
    """The body as text, once its signature is Slack's (checked on the raw bytes)."""
    stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    if not _TIMESTAMP.fullmatch(stamp) or abs(now - int(stamp)) > WINDOW:
        raise Refused("401 Unauthorized", "missing, malformed or stale timestamp")
    if not _SIGNATURE.fullmatch(signature):
        raise Refused("401 Unauthorized", "missing or malformed signature")
    raw = read_body(environ, length)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # Slack sends text (and the verifier decodes before hashing)
        raise Refused("400 Bad Request", "the body is not UTF-8 text") from None
    if not verifier.is_valid(text, stamp, signature):
        raise Refused("401 Unauthorized", "invalid signature")
    return str(text)


def _bolt_request(text: str, environ: dict[str, Any]) -> BoltRequest:
    """The request as Bolt reads it, or a 400 for a body Bolt cannot read (it would raise
    and answer 500): not JSON or a form, JSON that is not an object, nesting too deep."""
    request = WsgiHttpRequest(environ)
    headers = request.get_headers()
    try:
        # What BoltRequest does first, checked before it builds its context on it.
        body = parse_body(text, extract_content_type(build_normalized_headers(headers)))
        if not isinstance(body, dict):
            raise Refused("400 Bad Request", "the body is not a JSON object or form")
        problem = shape_problem(body)
        if problem is not None:
            raise Refused("400 Bad Request", f"the body is not a Slack payload: {problem}")
        return BoltRequest(body=text, query=request.query_string, headers=headers)
    except Refused:
        raise
    except (ValueError, RecursionError):
        raise Refused("400 Bad Request", "the body is not valid JSON or form data") from None
    except Exception as exc:  # signed, yet shaped unlike any Slack payload
        raise Refused("400 Bad Request", f"the body is not a Slack payload "
                      f"({type(exc).__name__})") from None


# Where Bolt's middleware and context builders call ``.get`` or index without checking the
# type (it would answer 500, logging a traceback): what Slack sends there.
_OBJECTS = ("event", "view", "container", "message", "function_data", "assistant_thread")
_OBJECTS_OR_IDS = ("team", "user", "channel", "enterprise")  # ids in some payloads
_LISTS_OF_OBJECTS = ("authorizations", "actions")
_EVENT_OBJECTS = ("item", "message", "previous_message", "function", "assistant_thread")
_EVENT_TEXTS = ("type", "subtype", "text", "user", "bot_id", "channel", "ts", "thread_ts")


def shape_problem(body: dict[str, Any]) -> str | None:
    """What in ``body`` is not shaped as in Slack's payloads, where Bolt relies on it."""
    for key in _OBJECTS:
        if key in body and not isinstance(body[key], dict):
            return f"{key} is not an object"
    for key in _OBJECTS_OR_IDS:
        if not isinstance(body.get(key), dict | str | None):
            return f"{key} is neither an object nor an id"
    for key in _LISTS_OF_OBJECTS:
        if key in body and not (isinstance(body[key], list)
                                and all(isinstance(item, dict) for item in body[key])):
            return f"{key} is not a list of objects"
    event = body.get("event", {})
    for key in _EVENT_OBJECTS:
        if key in event and not isinstance(event[key], dict):
            return f"event.{key} is not an object"
    for key in _EVENT_TEXTS:
        if not isinstance(event.get(key), str | None):
            return f"event.{key} is not text"
    return None


def make_http_server(app: App, host: str, port: int, *, signing_secret: str,
                     limits: Limits | None = None) -> BoundedWSGIServer:
    """HTTP mode: Slack's requests on ``POST /slack/events``; ``port`` 0 picks a free one."""
    return make_bounded_server(slack_wsgi_app(app, signing_secret), host, port, limits)
