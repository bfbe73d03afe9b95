"""HTTP mode: the Bolt app behind a threaded WSGI server on ``/slack/events``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

log = logging.getLogger(__name__)

_WSGI_PATH = "/slack/events"


def wsgi_app(app: App, path: str = _WSGI_PATH) -> Callable[..., Iterable[bytes]]:
    """Bolt behind WSGI, refusing a missing or non-numeric timestamp with 401 (Bolt's
    verifier would raise on it and answer 500)."""
    handler = SlackRequestHandler(app, path=path)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        if environ.get("REQUEST_METHOD") == "POST" and not (stamp.isascii() and stamp.isdigit()):
            body = b'{"error": "invalid request"}'
            start_response("401 Unauthorized", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body)))])
            return [body]
        return handler(environ, start_response)

    return application


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a burst of commands beyond it has its connections
    # dropped and retried by the client a second later, a second off Slack's three.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def make_http_server(app: App, host: str, port: int) -> WSGIServer:
    """HTTP mode: Slack's requests on ``POST /slack/events``; ``port`` 0 picks a free one."""
    return make_server(host, port, wsgi_app(app), server_class=_ThreadingWSGIServer,
                       handler_class=_QuietHandler)
