"""The HTTP API client: one session with the credentials, retries, a deadline and a size cap
per call, the answer's form checked, and every failure translated.

``call`` retries connection failures (refused, reset) with exponential backoff and never
retries timeouts or HTTP errors. ``timeout`` bounds each socket read (and is the evaluation
time Prometheus is given); ``deadline`` bounds the whole call, retries and the body's
transfer included (``deadline.py``), so a server that trickles its answer cannot hold a
question; at most ``max_response_mb`` of an answer is read. The body is read here, in
chunks, not by ``prometheus_api_client`` (which reads it whole, however long it takes).
Every failure becomes one of the errors in ``bot.metrics.base``: its message for the
operator (URL, the server's words), its ``public`` one for a channel (neither).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import BaseModel, ValidationError
from urllib3.util.retry import Retry

from bot.clock import Now
from bot.metrics.base import (
    QueryRejectedError,
    TooLargeError,
    TooSlowError,
    UnreachableError,
    UnreadableAnswerError,
)
from bot.metrics.prometheus.deadline import Deadline, DeadlineAdapter
from bot.metrics.prometheus.errors import (
    MAX_ERROR_BODY,
    ApiError,
    public_rejection,
    reason,
    rejection,
    timed_out,
)
from bot.metrics.prometheus.shapes import (
    BuildInfoAnswer,
    Instant,
    InstantAnswer,
    MatrixAnswer,
    NamesAnswer,
    Sample,
    Series,
    SeriesAnswer,
    first_problem,
)
from bot.metrics.settings import PrometheusSettings
from bot.observability import telemetry, timed

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_CHUNK = 64 * 1024

__all__ = ["Instant", "PrometheusClient", "Sample", "Series"]


class PrometheusClient:
    """The Prometheus HTTP API calls perfbot makes, each run through ``call``."""

    def __init__(
        self,
        settings: PrometheusSettings,
        password: str | None = None,
        *,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = settings.url.rstrip("/")
        self.retries = settings.retries
        self.timeout = settings.timeout.total_seconds()
        self.deadline = settings.total_deadline.total_seconds()
        self.max_response = settings.max_response_bytes
        self._max_mb = settings.max_response_mb
        self._password = password
        self._backoff = backoff
        self._sleep = sleep
        self._session = requests.Session()
        self._session.verify = settings.verify_tls
        # No urllib3 retries (``call`` retries); read=False keeps read timeouts as such.
        adapter = DeadlineAdapter(max_retries=Retry(total=0, read=False, raise_on_status=False))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # Credentials live on the session, which every request goes through.
        if password is not None and settings.username:
            self._session.auth = (settings.username, password)
        elif password is not None:
            # No user name: the secret is a bearer token (Grafana Cloud, Mimir gateways).
            self._session.headers["Authorization"] = f"Bearer {password}"
        _read_environment_once(self._session, self.url)

    @property
    def safe_url(self) -> str:
        """The URL without any user:password part, for messages."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    # ---- the API calls --------------------------------------------------------------------

    def query_range(self, query: str, start: datetime, end: datetime, step: str) -> list[Series]:
        params = {"query": query, "start": f"{round(start.timestamp())}",
                  "end": f"{round(end.timestamp())}", "step": step, **self._server_timeout(),
                  # VictoriaMetrics moves start and end onto multiples of the step when it
                  # may cache the answer (over 50 points); the frames need the instants asked
                  # for. Prometheus, Thanos and Mimir ignore the parameter.
                  "nocache": "1"}
        answer = self.call(lambda d: self._get(d, "/api/v1/query_range", params, MatrixAnswer))
        return answer.data.result

    def query(self, query: str, at: datetime) -> Instant:
        """The instant query's data: a vector mostly; a scalar, matrix or string as asked."""
        params = {"query": query, "time": f"{at.timestamp():.3f}", **self._server_timeout()}
        return self.call(lambda d: self._get(d, "/api/v1/query", params, InstantAnswer)).data

    def series(self, match: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        params = {"match[]": match, **_span_params(start, end)}
        return self.call(lambda d: self._get(d, "/api/v1/series", params, SeriesAnswer)).data

    def metric_names(self, start: datetime, end: datetime) -> list[str]:
        return self.label_values("__name__", None, start, end)

    def label_names(self, selector: str, start: datetime, end: datetime) -> list[str]:
        params = {"match[]": selector, **_span_params(start, end)}
        return self.call(lambda d: self._get(d, "/api/v1/labels", params, NamesAnswer)).data

    def label_values(
        self, label: str, selector: str | None, start: datetime, end: datetime
    ) -> list[str]:
        params = _span_params(start, end)
        if selector is not None:
            params = {"match[]": selector, **params}
        path = f"/api/v1/label/{label}/values"
        return self.call(lambda d: self._get(d, path, params, NamesAnswer)).data

    def version(self, clock: Now) -> str:
        """The server's version, if it says (Thanos, Mimir and friends may not)."""
        return self.call(lambda d: self._version(d, clock))

    def _version(self, deadline: Deadline, clock: Now) -> str:
        headers: dict[str, str] = {}
        try:
            info = self._get(deadline, "/api/v1/status/buildinfo", {}, BuildInfoAnswer, headers)
        except ApiError as exc:
            if exc.status in (401, 403):
                raise
            # No buildinfo here; a working query will do.
            params = {"query": "vector(1)", "time": f"{clock().timestamp():.0f}"}
            self._get(deadline, "/api/v1/query", params, InstantAnswer)
            return "version not reported"
        version = info.data.version
        said = f"version {version}" if version else "version not reported"
        # VictoriaMetrics's buildinfo says nothing (Debian's 1.79) or a Prometheus version it
        # is compatible with; the header it sets on every answer tells it apart.
        return f"VictoriaMetrics, {said}" if "x-server-hostname" in headers else said

    def _server_timeout(self) -> dict[str, str]:
        # Prometheus gives up on its side too, instead of evaluating for nobody.
        return {"timeout": f"{self.timeout:g}s"}

    # ---- one request ----------------------------------------------------------------------

    def _get(self, deadline: Deadline, path: str, params: dict[str, str], shape: type[M],
             headers: dict[str, str] | None = None) -> M:
        """GET ``path``: its body read in chunks within the deadline and the size cap, then
        checked against ``shape``. An error answer raises ``ApiError``. ``headers``, if
        given, receives the answer's headers (names in lower case)."""
        connect = max(0.001, min(self.timeout, deadline.remaining()))
        response = self._session.get(f"{self.url}{path}", params=params, stream=True,
                                     timeout=(connect, self.timeout))
        with contextlib.closing(response):
            if headers is not None:
                headers.update({name.lower(): value for name, value in response.headers.items()})
            if response.status_code != 200:
                head = self._read(response, deadline, MAX_ERROR_BODY, cut=True)
                raise ApiError.from_body(response.status_code, bytes(head))
            body = self._read(response, deadline, self.max_response)
        try:
            return shape.model_validate_json(body)
        except ValidationError as exc:
            raise self._unreadable(first_problem(exc)) from None

    def _read(
        self, response: requests.Response, deadline: Deadline, limit: int, *, cut: bool = False
    ) -> bytearray:
        """The body, decoded, up to ``limit`` bytes: more is ``TooLargeError`` (``cut``: the
        start is enough, the rest is left unread)."""
        declared = response.headers.get("Content-Length", "")
        if not cut and declared.isdigit() and int(declared) > limit:
            raise self._too_large()  # refused before reading any of it
        body = bytearray()
        for chunk in response.iter_content(_CHUNK):
            if deadline.passed():
                raise self._too_slow()
            if len(body) + len(chunk) > limit:
                if cut:
                    body += chunk[: limit - len(body)]
                    break
                raise self._too_large()
            body += chunk
        if deadline.passed():  # the deadline cut the connection: the end seen was not the end
            raise self._too_slow()
        return body

    # ---- retries and failures -------------------------------------------------------------

    def call(self, request: Callable[[Deadline], T]) -> T:
        """Run one API call within the deadline: retry connection failures, translate every
        failure. Timed and counted (``perfbot_metrics_query_…``)."""
        measured = telemetry()
        try:
            with timed(measured.metrics_seconds):
                return self._call(request)
        except Exception as exc:
            measured.metrics_errors.labels(type(exc).__name__).inc()
            raise

    def _call(self, request: Callable[[Deadline], T]) -> T:
        attempt = 0
        with Deadline(self.deadline) as deadline:
            while True:
                try:
                    return request(deadline)
                except requests.RequestException as exc:
                    if deadline.passed():
                        raise self._too_slow() from None
                    delay = self._backoff * 2**attempt
                    retry = (isinstance(exc, requests.ConnectionError) and not timed_out(exc)
                             and not isinstance(exc, requests.exceptions.SSLError)
                             and attempt < self.retries and delay < deadline.remaining())
                    if not retry:
                        raise self._failed(exc, attempt) from None
                    log.info("Prometheus at %s: %s; retrying in %gs",
                             self.safe_url, reason(exc), delay)
                    self._sleep(delay)
                    attempt += 1
                except ApiError as exc:
                    raise QueryRejectedError(self._scrub(rejection(self.safe_url, exc)),
                                             public=public_rejection(exc)) from None

    def _failed(
        self, exc: requests.RequestException, attempt: int
    ) -> UnreachableError | QueryRejectedError:
        where = f"Prometheus at {self.safe_url}"
        if isinstance(exc, requests.Timeout) or timed_out(exc):
            return UnreachableError(
                f"{where} did not answer within {self.timeout:g}s",
                public=f"the metrics server did not answer within {self.timeout:g}s")
        if isinstance(exc, requests.exceptions.SSLError):
            return UnreachableError(
                f"{where}: TLS failed ({reason(exc)}); "
                "check the certificate or set metrics.prometheus.verify_tls",
                public="the metrics server's TLS certificate was refused")
        if isinstance(exc, requests.ConnectionError):
            tries = f" after {attempt + 1} tries" if attempt else ""
            return UnreachableError(
                f"{where} is not reachable ({reason(exc)}){tries}",
                public=f"the metrics server is not reachable ({reason(exc)})")
        # Also a body that breaks off or cannot be decoded.
        return self._unreadable(type(exc).__name__)

    def _unreadable(self, problem: str) -> UnreadableAnswerError:
        return UnreadableAnswerError(
            self._scrub(f"Prometheus at {self.safe_url} gave an answer perfbot cannot read "
                        f"({problem}); is metrics.prometheus.url the API's base URL?"),
            public="the metrics server answered in a form I can't read")

    def _too_slow(self) -> TooSlowError:
        return TooSlowError(
            f"Prometheus at {self.safe_url} did not finish answering within {self.deadline:g}s "
            "(metrics.prometheus.deadline); the call was cut",
            public=f"the metrics server took longer than {self.deadline:g}s")

    def _too_large(self) -> TooLargeError:
        return TooLargeError(
            f"Prometheus at {self.safe_url} sent an answer larger than {self._max_mb} MB "
            "(metrics.prometheus.max_response_mb); it was not read",
            public=f"the answer was larger than {self._max_mb} MB; narrow the question")

    def _scrub(self, message: str) -> str:
        if self._password:
            message = message.replace(self._password, "***")
        return message


def _read_environment_once(session: requests.Session, url: str) -> None:
    """What ``requests`` reads from the environment on every request when ``trust_env``
    (proxies twice per request; issue 13), read once for the one server the
    session talks to: HTTP(S)_PROXY and ALL_PROXY unless NO_PROXY names it, a CA bundle from
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE when TLS is verified, ~/.netrc without credentials."""
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if session.verify is True and bundle:
        session.verify = bundle
    if session.auth is None and "authorization" not in {h.lower() for h in session.headers}:
        session.auth = requests.utils.get_netrc_auth(url)


def _span_params(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": f"{start.timestamp():.0f}", "end": f"{end.timestamp():.0f}"}


