"""Prometheus's error answers in words: its JSON error body, or the start of another body."""

from __future__ import annotations

import pytest
import requests

from bot.metrics.prometheus.errors import ApiError, rejection

WHERE = "http://prometheus:9090"


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    return response


def test_the_json_error_body_gives_prometheus_own_type_and_words() -> None:
    body = (b'{"status":"error","errorType":"bad_data","error":"invalid parameter \\"query\\": '
            b'1:5: parse error: unclosed left parenthesis"}')
    error = ApiError.from_response(answer(400, body))
    assert (error.status, error.error_type) == (400, "bad_data")
    assert error.error == 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'
    assert rejection(WHERE, error) == (
        f"Prometheus at {WHERE} rejected the query (HTTP 400): bad_data: "
        'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'
    )


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (b'{"status":"error","error":"unauthorized"}', "unauthorized"),
        (b'{"status":"error","errorType":"execution"}', "execution"),
        (b"Bad Gateway\n", "Bad Gateway"),
        (b"<html>" + b"x" * 1000, "<html>" + "x" * 294),
        (b'["not", "an", "object"]', '["not", "an", "object"]'),
        (b"", "no details"),
    ],
)
def test_other_bodies_say_what_they_can(body: bytes, details: str) -> None:
    assert ApiError.from_response(answer(502, body)).details == details


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "refused perfbot's credentials (HTTP 401); check metrics.prometheus.username"),
        (403, "refused perfbot's credentials (HTTP 403)"),
        (404, "has no such API (HTTP 404); is metrics.prometheus.url the API's base URL?"),
        (422, "rejected the query (HTTP 422): execution: expanding series: too many"),
    ],
)
def test_statuses_are_explained(status: int, expected: str) -> None:
    body = b'{"status":"error","errorType":"execution","error":"expanding series: too many"}'
    message = rejection(WHERE, ApiError.from_response(answer(status, body)))
    assert message.startswith(f"Prometheus at {WHERE} ")
    assert expected in message
