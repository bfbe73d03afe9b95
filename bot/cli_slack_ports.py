"""The ports ``perfbot run`` serves, once ``bot.cli_slack`` has checked the settings and built
the bot: Slack (Socket Mode's WebSocket, or ``--http PORT``'s events) and the operational
port's apps (Alertmanager's webhook, /metrics, /healthz, /readyz with its checks).

What stops the bot from starting (``NotReady``) and the exit statuses live here too: both
modules raise it. Everything heavy is imported when the bot runs, not when the CLI starts.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from contextlib import suppress
from threading import Event, Thread
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import Perfbot
    from bot.config import Settings
    from bot.web_server import BoundedWSGIServer, WSGIApp

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STOP_POLL = 1.0  # seconds, at most, between two looks for a signal in Socket Mode


class NotReady(Exception):
    """What stops the bot from starting; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def operational_apps(perfbot: Perfbot, slack_up: list[Callable[[], bool]],
                     leads: Callable[[], bool]) -> dict[str, WSGIApp]:
    """The operational port's apps by path: Alertmanager's webhook, /metrics, /healthz and
    /readyz (``slack_up``: how to tell Slack is connected, once ``serve`` can; ``leads``:
    whether this replica leads now)."""
    from bot.observability import (
        HEALTH_PATH,
        METRICS_PATH,
        READY_PATH,
        counted,
        health_app,
        metrics_app,
        ready_app,
        telemetry,
    )
    from bot.webhooks.alertmanager import PATH as ALERTMANAGER_PATH
    from bot.webhooks.alertmanager import alertmanager_wsgi_app

    telemetry().leader.set_function(lambda: 1.0 if leads() else 0.0)
    deliveries = telemetry().alertmanager
    return {
        ALERTMANAGER_PATH: counted(alertmanager_wsgi_app(perfbot, _token(perfbot.settings)),
                                   lambda status: deliveries.labels(status).inc()),
        METRICS_PATH: metrics_app(), HEALTH_PATH: health_app(),
        READY_PATH: ready_app(_readiness(perfbot, slack_up), leads),
    }


def _readiness(perfbot: Perfbot, slack_up: list[Callable[[], bool]]
               ) -> dict[str, Callable[[], str | None]]:
    """/readyz's checks: Slack connected, the store reachable, the metrics server answering.
    Each says what failed in fixed words; why (hosts, errors) goes to the log only."""
    from sqlalchemy import text

    from bot.metrics.base import MetricsError
    from bot.metrics.prometheus import PrometheusBackend
    from bot.storage import StorageError

    def slack() -> str | None:
        return None if slack_up and slack_up[0]() else "not connected"

    def store() -> str | None:
        try:
            with perfbot.database.reading("check the store") as connection:
                connection.execute(text("SELECT 1"))
        except StorageError as exc:
            log.warning("readiness: %s", exc)
            return "unreachable"
        return None

    def metrics() -> str | None:
        backend = perfbot.backend
        if not isinstance(backend, PrometheusBackend):  # the demo's data is in the process
            return None
        try:
            backend.ping()
        except MetricsError as exc:
            log.warning("readiness: %s", exc)
            return "not answering"
        return None

    return {"slack": slack, "store": store, "metrics_server": metrics}


def _token(settings: Settings) -> str | None:
    token = settings.alertmanager_token
    return token.get_secret_value().strip() or None if token is not None else None


def serve(args: argparse.Namespace, app: App, app_token: str | None,
          signing_secret: str | None, stop: Event, ping_interval: float, out: TextIO,
          connected: Callable[[], None], webhooks: dict[str, WSGIApp],
          settings: Settings, slack_up: list[Callable[[], bool]]) -> None:
    """Serve Slack until ``stop`` is set or Ctrl-C; ``connected`` once Slack can reach the
    bot (HTTP: the port is open; Socket Mode: the WebSocket is). The operational port
    serves ``webhooks``: ``--http PORT`` (with Slack's events), else ``server.listen``."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.slack.http import PATH as SLACK_PATH
    from bot.slack.http import slack_wsgi_app
    from bot.web_server import by_path, make_bounded_server

    if args.http is not None:
        assert signing_secret is not None  # bot.cli_slack checked it for HTTP mode
        server = make_bounded_server(by_path(
            {SLACK_PATH: slack_wsgi_app(app, signing_secret), **webhooks}), args.host, args.http)
        print(f"perfbot: HTTP mode on {args.host}:{server.server_port}/slack/events", file=out)
        _said_webhooks(out, args.host, server.server_port, webhooks)
        try:
            connected()
        except BaseException:
            server.server_close()
            raise
        slack_up.append(lambda: not stop.is_set())  # auth.test passed; Slack calls us
        stopper = Thread(target=_shutdown_when, args=(stop, server), daemon=True)
        stopper.start()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        if stop.is_set():  # it shut the server down: let it finish (Ctrl-C leaves it waiting)
            stopper.join()
        return
    listen = settings.server
    try:
        ops = make_bounded_server(by_path(webhooks), listen.host, listen.port)
    except OSError as exc:
        raise NotReady(f"cannot serve the operational port server.listen={listen.listen}: "
                       f"{exc.strerror or exc}; set server.listen to a free HOST:PORT",
                       EXIT_FAILED) from None
    _said_webhooks(out, listen.host, ops.server_port, webhooks)
    serving = Thread(target=ops.serve_forever, name="operational-port", daemon=True)
    serving.start()
    # The handler's web client is the app's: apps.connections.open goes to --slack-api-url.
    handler = SocketModeHandler(app, app_token, ping_interval=ping_interval)
    slack_up.append(handler.client.is_connected)
    try:  # its threads run from here on: close it whatever happens
        _connect(handler)
        print("perfbot: Socket Mode connected", file=out)
        connected()
        with suppress(KeyboardInterrupt):
            # The handler's threads do the work. Waits of a second at a time: the kernel
            # may hand SIGTERM to any thread, and a main thread blocked in an untimed wait
            # is never woken to run the Python handler (cpython#85300): stop hung forever.
            while not stop.wait(STOP_POLL):
                pass
    finally:
        handler.client.close()
        ops.shutdown()
        ops.server_close()


def _said_webhooks(out: TextIO, host: str, port: int, webhooks: dict[str, WSGIApp]) -> None:
    print(f"perfbot: webhooks on {host}:{port}: {', '.join(sorted(webhooks))}", file=out)


def _connect(handler: SocketModeHandler) -> None:
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        handler.client.connect()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        raise NotReady(f"Slack refused SLACK_APP_TOKEN: apps.connections.open said "
                       f"{error!r}") from None
    except (SlackClientError, OSError) as exc:
        raise NotReady(f"could not reach Slack to open the Socket Mode connection: {exc}",
                       EXIT_FAILED) from None
    # A WebSocket that fails to open is only logged by slack_sdk, not raised.
    if not handler.client.is_connected():
        raise NotReady("Slack gave a Socket Mode URL but the WebSocket to it did not open "
                       "(the log above says why); check that this host can reach Slack "
                       "over WebSockets (wss://, port 443)", EXIT_FAILED)


def _shutdown_when(stop: Event, server: BoundedWSGIServer) -> None:
    stop.wait()
    server.shutdown()
