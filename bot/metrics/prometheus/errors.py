"""Prometheus's failures in words: its JSON error body, HTTP statuses and connection errors.

An API error answer is ``{"status": "error", "errorType": "bad_data", "error": "..."}`` with
a 4xx or 5xx status; ``ApiError.from_body`` reads it (the client reads at most
``MAX_ERROR_BODY`` bytes of it). ``rejection`` says what it means for the operator (with the
URL and the body's words); ``public_rejection`` for a chat channel (neither: a proxy's error
page or Prometheus's own words may show internal names and addresses).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import requests

_MAX_BODY = 300  # characters of a body that is not Prometheus's JSON (a proxy's page)
MAX_ERROR_BODY = 64 * 1024  # bytes of an error answer read: its words are at the start


class ApiError(Exception):
    """An HTTP error answer from the API, with what its body says."""

    def __init__(self, status: int, error_type: str, error: str) -> None:
        self.status = status
        self.error_type = error_type  # Prometheus's errorType: bad_data, execution, timeout, …
        self.error = error
        super().__init__(f"HTTP {status}: {self.details}")

    @property
    def details(self) -> str:
        """``errorType: error`` as Prometheus's own clients print it, or what there is."""
        return ": ".join(part for part in (self.error_type, self.error) if part) or "no details"

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        """Prometheus's JSON error body, or the start of any other body."""
        return cls.from_body(response.status_code, response.content)

    @classmethod
    def from_body(cls, status: int, body: bytes) -> ApiError:
        """Prometheus's JSON error body, or the start of any other body."""
        text = body.decode("utf-8", errors="replace").strip()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and (payload.get("error") or payload.get("errorType")):
            return cls(status, str(payload.get("errorType") or ""),
                       str(payload.get("error") or ""))
        return cls(status, "", text[:_MAX_BODY])


def rejection(where: str, error: ApiError) -> str:
    """What an error answer means for a person, with Prometheus's own words."""
    if error.status in (401, 403):
        return (f"Prometheus at {where} refused perfbot's credentials (HTTP {error.status}); "
                "check metrics.prometheus.username and PERFBOT_PROMETHEUS_PASSWORD")
    if error.status == 404:
        return (f"Prometheus at {where} has no such API (HTTP 404); "
                "is metrics.prometheus.url the API's base URL?")
    return f"Prometheus at {where} rejected the query (HTTP {error.status}): {error.details}"


def public_rejection(error: ApiError) -> str:
    """What an error answer means, for a channel: the status, no URL, none of the body."""
    if error.status in (401, 403):
        return f"the metrics server refused perfbot's credentials (HTTP {error.status})"
    if error.status >= 500:
        return f"the metrics server failed (HTTP {error.status})"
    return f"the metrics server rejected the query (HTTP {error.status})"


def reason(exc: BaseException) -> str:
    """Why a connection failed, in words, from the innermost OS error."""
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cause, OSError) and "Name or service not known" in str(cause):
            return "host name not found"
        if type(cause).__name__ == "RemoteDisconnected":
            return "the server closed the connection without answering"
        if type(cause).__name__ == "NameResolutionError":
            return "host name not found"
    return "connection failed"


def timed_out(exc: BaseException) -> bool:
    """Whether a read timed out, also mid-body (``requests`` calls that a ConnectionError)."""
    return any(isinstance(cause, TimeoutError) or type(cause).__name__ == "ReadTimeoutError"
               for cause in _causes(exc))


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args]
        todo.extend(x for x in linked if isinstance(x, BaseException))
