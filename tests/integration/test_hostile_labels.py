"""A route label that tries to close the answer's code block and ping everyone, end to end: a
real Prometheus holds the series, a question is sent to the real Bolt app over signed HTTP,
and the answer the bot posts on the Slack stand-in is read back: blocks and fallback text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Perfbot
from bot.clock import FakeClock
from bot.config import Settings, StorageSettings
from bot.metrics.base import Endpoint
from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import prometheus_backend_for
from tests.prometheus_server import PrometheusServer, block_spans, find_binaries
from tests.slack_bot import Bot
from tests.slack_standin import SlackStandIn

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
START = END - timedelta(hours=7)
HISTOGRAM = "http_server_request_duration_seconds"
BOUNDS = ("0.1", "0.5", "1", "2.5", "+Inf")
ROUTE = "/x```<!channel><@U999>"
HOSTILE = Endpoint(service="orders", method="GET", route=ROUTE)
# (endpoint, requests per minute in each bucket, not cumulative): the hostile one is slowest.
PLAN = (
    (HOSTILE, (0, 5, 30, 20, 5)),
    (Endpoint(service="pay<!here>", method="POST", route="/api/pay"), (10, 40, 10, 0, 0)),
    (Endpoint(service="orders", method="GET", route="/api/ok"), (60, 0, 0, 0, 0)),
)


def write_openmetrics(directory: Path) -> list[Path]:
    """Counters every minute from START to END, one OpenMetrics file per 2h block."""
    paths = []
    minutes = int((END - START) / timedelta(minutes=1))
    for n, (first, last) in enumerate(block_spans(START, END)):
        lines = [f"# TYPE {HISTOGRAM} histogram"]
        for minute in range(minutes + 1):
            moment = START + timedelta(minutes=minute)
            if not first <= moment <= last:
                continue
            ts = int(moment.timestamp())
            for endpoint, per_bucket in PLAN:
                route = endpoint.route.replace("\\", "\\\\").replace('"', '\\"')
                labels = (f'job="{endpoint.service}",http_route="{route}",'
                          f'http_request_method="{endpoint.method}",'
                          'http_response_status_code="200"')
                running = 0
                for le, count in zip(BOUNDS, per_bucket, strict=True):
                    running += count * minute
                    lines.append(f'{HISTOGRAM}_bucket{{{labels},le="{le}"}} {running} {ts}')
                lines.append(f"{HISTOGRAM}_count{{{labels}}} {running} {ts}")
                lines.append(f"{HISTOGRAM}_sum{{{labels}}} {running * 0.7:.1f} {ts}")
        lines.append("# EOF")
        path = directory / f"block-{n:03d}.om"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusBackend]:
    workdir = tmp_path_factory.mktemp("hostile-labels")
    files = write_openmetrics(workdir)
    with PrometheusServer(files, workdir / "prometheus", find_binaries()) as server:
        yield prometheus_backend_for(server.url, now=END)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(channels={"C1": True}, users={"U1": "UTC"}) as standin:
        yield standin


def texts(value: Any) -> Iterator[str]:
    """Every string in the blocks: mrkdwn and plain text alike."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def test_the_prometheus_has_the_hostile_route(backend: PrometheusBackend) -> None:
    assert HOSTILE in backend.endpoints()


@pytest.mark.parametrize("question", ["top 3 slowest endpoints in the last 3 hours",
                                      "p95 of the orders service last 3 hours"])
def test_a_hostile_route_is_shown_inert_in_the_answer(
    backend: PrometheusBackend, slack: SlackStandIn, tmp_path: Path, question: str
) -> None:
    perfbot = Perfbot(settings=Settings(storage=StorageSettings(
        url=f"sqlite:///{tmp_path / 'perfbot.db'}")), backend=backend, clock=FakeClock(END))
    event = {"type": "app_mention", "user": "U1", "text": f"<@UBOT> {question}",
             "ts": "1700000001.000100", "channel": "C1", "event_ts": "1700000001.000100"}
    with Bot(perfbot, slack, inline=True) as bot:
        assert bot.event(event).status_code == 200
    update = slack.wait_for("chat.update")[0]
    shown = [update.args["text"], *texts(update.args["blocks"])]
    everything = "\n".join(shown)
    # The answer is about the hostile route, so the label was there to be shown.
    assert "/xˋˋˋ&lt;!channel&gt;&lt;@U999&gt;" in everything, everything
    for text in shown:
        for live in ("<!channel>", "<@U999>", "<!here>", "<!"):
            assert live not in text, f"{live} is live in {text!r}"
        assert text.count("```") % 2 == 0, f"an unbalanced code fence in {text!r}"
    # The fallback text, which Slack shows in notifications, is escaped too.
    assert "<" not in update.args["text"]
