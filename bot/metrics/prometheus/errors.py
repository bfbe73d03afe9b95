"""Prometheus's failures in words: its JSON error body, HTTP statuses and connection errors.

An API error answer is ``{"status": "error", "errorType": "bad_data", "error": "..."}`` with
a 4xx or 5xx status. ``raise_api_errors`` (a ``requests`` response hook on the client's
session) turns such an answer into ``ApiError`` from the body itself, before the client
library would raise its own exception that holds only the body's ``repr``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import requests

_MAX_BODY = 300  # characters of a body that is not Prometheus's JSON (a proxy's page)


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
        text = response.content.decode("utf-8", errors="replace").strip()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and (payload.get("error") or payload.get("errorType")):
            return cls(response.status_code, str(payload.get("errorType") or ""),
                       str(payload.get("error") or ""))
        return cls(response.status_code, "", text[:_MAX_BODY])


def raise_api_errors(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A response hook: an answer that is neither 200 nor a redirect raises ``ApiError``."""
    if response.status_code != 200 and not response.is_redirect:
        raise ApiError.from_response(response)


def rejection(where: str, error: ApiError) -> str:
    """What an error answer means for a person, with Prometheus's own words."""
    if error.status in (401, 403):
        return (f"Prometheus at {where} refused perfbot's credentials (HTTP {error.status}); "
                "check metrics.prometheus.username and PERFBOT_PROMETHEUS_PASSWORD")
    if error.status == 404:
        return (f"Prometheus at {where} has no such API (HTTP 404); "
                "is metrics.prometheus.url the API's base URL?")
    return f"Prometheus at {where} rejected the query (HTTP {error.status}): {error.details}"


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
