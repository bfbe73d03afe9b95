"""The HTTP API client: one session with the credentials, retries, and every failure translated.

Built on ``prometheus_api_client.PrometheusConnect``. Its own urllib3 retries are switched
off: ``call`` retries connection failures (refused, reset) with exponential backoff and
never retries timeouts or HTTP errors, so a dead server costs at most ``timeout`` per try.
Every failure becomes one of the errors in ``bot.metrics.base`` with a message for a person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from bot.clock import Now
from bot.metrics.base import QueryRejectedError, UnreachableError
from bot.metrics.prometheus.errors import ApiError, raise_api_errors, reason, rejection
from bot.metrics.settings import PrometheusSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
Sample = dict[str, Any]


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
        self._password = password
        self._backoff = backoff
        self._sleep = sleep
        self._session = requests.Session()
        self._session.verify = settings.verify_tls
        # Error answers raise ApiError with Prometheus's JSON body (see errors.py).
        self._session.hooks["response"].append(raise_api_errors)
        # Credentials live on the session, which the client uses for every request.
        if password is not None and settings.username:
            self._session.auth = (settings.username, password)
        elif password is not None:
            # No user name: the secret is a bearer token (Grafana Cloud, Mimir gateways).
            self._session.headers["Authorization"] = f"Bearer {password}"
        self._prom = PrometheusConnect(
            url=self.url,
            session=self._session,
            # requests takes float seconds; the client's ``int`` hint is narrower than needed.
            timeout=cast(int, self.timeout),
            # No urllib3 retries (``call`` retries); read=False keeps read timeouts as such.
            retry=Retry(total=0, read=False, raise_on_status=False),
        )

    @property
    def safe_url(self) -> str:
        """The URL without any user:password part, for messages."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    # ---- the API calls --------------------------------------------------------------------

    def query_range(self, query: str, start: datetime, end: datetime, step: str) -> list[Sample]:
        result: list[Sample] = self.call(
            lambda: self._prom.custom_query_range(
                query, start_time=start, end_time=end, step=step, params=self._server_timeout()
            )
        )
        return result

    def query(self, query: str, at: datetime) -> list[Sample]:
        params = {"time": f"{at.timestamp():.3f}", **self._server_timeout()}
        result: list[Sample] = self.call(lambda: self._prom.custom_query(query, params=params))
        return result

    def series(self, match: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        found: list[dict[str, str]] = self.call(
            lambda: self._prom.get_series(start, end, params={"match[]": match})
        )
        return found

    def metric_names(self, start: datetime, end: datetime) -> list[str]:
        return self.label_values("__name__", None, start, end)

    def label_names(self, selector: str, start: datetime, end: datetime) -> list[str]:
        params = {"match[]": selector, **_span_params(start, end)}
        labels: list[str] = self.call(lambda: self._prom.get_label_names(params=params))
        return labels

    def label_values(
        self, label: str, selector: str | None, start: datetime, end: datetime
    ) -> list[str]:
        params = _span_params(start, end)
        if selector is not None:
            params = {"match[]": selector, **params}
        values: list[str] = self.call(lambda: self._prom.get_label_values(label, params=params))
        return values

    def version(self, clock: Now) -> str:
        """The server's version, if it says (Thanos, Mimir and friends may not)."""
        return self.call(lambda: self._version(clock))

    def _version(self, clock: Now) -> str:
        try:
            response = self._session.get(
                f"{self.url}/api/v1/status/buildinfo", timeout=self.timeout
            )
        except ApiError as exc:
            if exc.status in (401, 403):
                raise
            # No buildinfo here; a working query will do.
            self._prom.custom_query("vector(1)", params={"time": f"{clock().timestamp():.0f}"})
            return "version not reported"
        version = response.json().get("data", {}).get("version", "")
        return f"version {version}" if version else "version not reported"

    def _server_timeout(self) -> dict[str, str]:
        # Prometheus gives up on its side too, instead of evaluating for nobody.
        return {"timeout": f"{self.timeout:g}s"}

    # ---- retries and failures -------------------------------------------------------------

    def call(self, request: Callable[[], T]) -> T:
        """Run one API call: retry connection failures, translate every failure."""
        attempt = 0
        while True:
            try:
                return request()
            except requests.Timeout:
                raise UnreachableError(
                    f"Prometheus at {self.safe_url} did not answer within {self.timeout:g}s"
                ) from None
            except requests.exceptions.SSLError as exc:
                raise UnreachableError(
                    f"Prometheus at {self.safe_url}: TLS failed ({reason(exc)}); "
                    "check the certificate or set metrics.prometheus.verify_tls"
                ) from None
            except requests.ConnectionError as exc:
                if attempt >= self.retries:
                    raise UnreachableError(
                        f"Prometheus at {self.safe_url} is not reachable ({reason(exc)})"
                        + (f" after {attempt + 1} tries" if attempt else "")
                    ) from None
                delay = self._backoff * 2**attempt
                log.info("Prometheus at %s: %s; retrying in %gs",
                         self.safe_url, reason(exc), delay)
                self._sleep(delay)
                attempt += 1
            except ApiError as exc:
                raise QueryRejectedError(self._scrub(rejection(self.safe_url, exc))) from None
            except PrometheusApiClientException as exc:  # not expected: the hook raises first
                raise QueryRejectedError(self._scrub(
                    f"Prometheus at {self.safe_url} refused the request: {exc}")) from None
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                # Also JSON that is not the Prometheus API: a wrong URL, a login page.
                raise QueryRejectedError(
                    f"Prometheus at {self.safe_url} gave an answer perfbot cannot read "
                    f"({type(exc).__name__}); is metrics.prometheus.url the API's base URL?"
                ) from None

    def _scrub(self, message: str) -> str:
        if self._password:
            message = message.replace(self._password, "***")
        return message


def _span_params(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": f"{start.timestamp():.0f}", "end": f"{end.timestamp():.0f}"}
