"""The bot watching itself: its Prometheus metrics, ``/metrics``, ``/healthz`` and
``/readyz``, and log lines as JSON with the secrets masked.

One ``Telemetry`` holds every ``perfbot_…`` metric in a registry of its own (never
prometheus_client's global one), so a process, or a test, that installs a fresh one starts
from zero. The edges (the Slack client, the Prometheus client, the outbox, the loop's ticks,
the replier) count through ``telemetry()``; the pure core never imports this module (an
import-linter contract says so). Nothing here imports the rest of the bot.

The three endpoints are unauthenticated, like any scrape target and health probe: they show
counts, timings and check names, never a label value from the configuration, a URL or a
secret. ``/readyz`` names a failing check in fixed words; the reason goes to the log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

# Answers take seconds (a chart, a slow metrics server); API calls and queries far less.
ANSWER_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CHANNELS = ("slack", "pagerduty", "webhook")


class Telemetry:
    """Every metric of one process, in ``registry``."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.questions = Counter(
            "perfbot_questions", "Questions taken, by how they ended: answered, failed "
            "(the answer could not be computed or posted), cut (the bot stopped first), "
            "refused (too many at once, or asked while stopping)", ["outcome"],
            registry=registry)
        self.answer_seconds = Histogram(
            "perfbot_answer_seconds", "From the \"looking…\" message to the answer posted",
            buckets=ANSWER_BUCKETS, registry=registry)
        self.incidents_opened = Counter(
            "perfbot_incidents_opened", "Incidents opened, by severity", ["severity"],
            registry=registry)
        self.notifications = Counter(
            "perfbot_notifications", "Outbox effects carried out, by channel and result: "
            "sent, retried (failed, tried again later), failed (given up or refused)",
            ["channel", "result"], registry=registry)
        self.escalation_steps = Counter(
            "perfbot_escalation_steps", "Escalation steps sent (a page, a PagerDuty event or "
            "a webhook call of a policy step)", registry=registry)
        self.digests_posted = Counter(
            "perfbot_digests_posted", "Digests posted", registry=registry)
        self.digests_failed = Counter(
            "perfbot_digests_failed", "Digests that could not be posted", registry=registry)
        self.slack_seconds = Histogram(
            "perfbot_slack_api_seconds", "Slack Web API calls, by method (retries included)",
            ["method"], buckets=CALL_BUCKETS, registry=registry)
        self.slack_errors = Counter(
            "perfbot_slack_api_errors", "Slack Web API calls that failed, by method and "
            "error (Slack's error code, or the exception's kind)", ["method", "error"],
            registry=registry)
        self.metrics_seconds = Histogram(
            "perfbot_metrics_query_seconds", "Calls to the metrics server (Prometheus API), "
            "retries included", buckets=CALL_BUCKETS, registry=registry)
        self.metrics_errors = Counter(
            "perfbot_metrics_query_errors", "Calls to the metrics server that failed, by "
            "kind", ["kind"], registry=registry)
        self.leader = Gauge(
            "perfbot_leader", "1 while this replica leads (runs detection, escalation and "
            "digests), else 0", registry=registry)
        self.detection_seconds = Histogram(
            "perfbot_detection_cycle_seconds", "Detection cycles, start to incidents stored",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120), registry=registry)
        self.detection_series = Counter(
            "perfbot_detection_series", "Series the detection cycles checked",
            registry=registry)
        self.ticks_failed = Counter(
            "perfbot_loop_ticks_failed", "Loop ticks that failed, by tick", ["tick"],
            registry=registry)
        self.alertmanager = Counter(
            "perfbot_alertmanager_deliveries", "Alertmanager webhook deliveries, by the "
            "HTTP status answered", ["status"], registry=registry)
        self.leader.set(0)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


_current = Telemetry()
_current_lock = threading.Lock()


def telemetry() -> Telemetry:
    """This process's metrics."""
    return _current


def install(fresh: Telemetry) -> Telemetry:
    """Make ``fresh`` this process's metrics (``perfbot run`` starts each run with one)."""
    global _current
    with _current_lock:
        _current = fresh
    return fresh


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    """Observe how long the block took, whatever way it ended."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)


# --- the endpoints -------------------------------------------------------------------------

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# A readiness check: None when fine, else the fixed words /readyz shows (the reason, which
# may name hosts or echo configuration, is the check's to log).
Check = Callable[[], str | None]
METRICS_PATH, HEALTH_PATH, READY_PATH = "/metrics", "/healthz", "/readyz"


def _send(start_response: Callable[..., Any], status: str, body: bytes,
          kind: str) -> list[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [body]


def _get_only(app: WSGIApp) -> WSGIApp:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            body = json.dumps({"error": "only GET is served here"}).encode()
            start_response("405 Method Not Allowed", [
                ("Content-Type", "application/json"), ("Allow", "GET, HEAD"),
                ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)
    return application


def metrics_app() -> WSGIApp:
    """``/metrics``: the current telemetry in Prometheus's text format."""
    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        return _send(start_response, "200 OK", telemetry().exposition(), CONTENT_TYPE_LATEST)
    return _get_only(application)


def health_app() -> WSGIApp:
    """``/healthz``: the process serves (200 "ok" for as long as it does)."""
    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        return _send(start_response, "200 OK", b"ok\n", "text/plain; charset=utf-8")
    return _get_only(application)


def ready_app(checks: Mapping[str, Check], leading: Callable[[], bool], *,
              reuse: float = 1.0, clock: Callable[[], float] = time.monotonic) -> WSGIApp:
    """``/readyz``: 200 when every check passes, else 503; the JSON body gives each check's
    state and whether this replica leads. A check that raises fails (and is logged). The
    checks' results are reused for ``reuse`` seconds: the endpoint is open to anyone, and
    a flood of probes must not become a flood of queries on the metrics server and store."""
    lock = threading.Lock()
    last: list[tuple[float, dict[str, str]]] = []

    def run_checks() -> dict[str, str]:
        with lock:  # one round at a time; the probes behind it get its result
            if last and clock() - last[0][0] < reuse:
                return last[0][1]
            states: dict[str, str] = {}
            for name, check in checks.items():
                try:
                    states[name] = check() or "ok"
                except Exception:
                    log.exception("readiness check %s failed", name)
                    states[name] = "check failed"
            last[:] = [(clock(), states)]
            return states

    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        states = run_checks()
        failing = sorted(name for name, state in states.items() if state != "ok")
        body = {"ready": not failing, "failing": failing, "checks": states,
                "leader": bool(leading())}
        status = "200 OK" if not failing else "503 Service Unavailable"
        return _send(start_response, status, json.dumps(body).encode(), "application/json")
    return _get_only(application)


def counted(app: WSGIApp, counter: Callable[[str], None]) -> WSGIApp:
    """``app``, calling ``counter`` with each answer's status code (``"200"``)."""
    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            counter(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info) if exc_info is not None \
                else start_response(status, headers)
        return app(environ, start)
    return application


# --- logs ----------------------------------------------------------------------------------

class SecretMask(logging.Filter):
    """Replaces each of ``secrets`` (the tokens, passwords and keys this process holds) with
    ``***`` in every record's message and exception text, before any handler formats it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def hide(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = self.hide(record.getMessage()), None
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_info, record.exc_text = None, self.hide(text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message (and the
    exception's traceback, when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                     timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_handler(stream: Any, form: str, secrets: Iterable[str]) -> logging.Handler:
    """A handler writing to ``stream`` as ``form`` ("text" or "json"), masking ``secrets``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if form == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(SecretMask(secrets))
    return handler
