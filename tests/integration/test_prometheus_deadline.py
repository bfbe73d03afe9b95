"""A slow or strange Prometheus cannot freeze the bot: real Prometheus behind a fault-injecting
proxy (``tests/fault_proxy.py``), the real Bolt app over signed HTTP on the Slack stand-in.

Each test says what the bot did before: a trickled answer kept a question for as long as the
server liked; a trickled discovery held the catalog lock, so help, App Home and every other
question waited; an unreachable server before the first catalog, a wrong shape or a 500 gave
a generic error with a traceback, or the server's URL and body in the channel.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Perfbot
from bot.ask.answer import Sources, ask
from bot.clock import FakeClock
from bot.config import Settings, StorageSettings
from bot.metrics.base import MetricsBackend, MetricsError, Window
from bot.metrics.prometheus import PrometheusBackend
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics
from bot.render.message import AnswerKind
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.fault_proxy import FaultProxy, Fixed, Pad, Trickle
from tests.prometheus_server import PrometheusServer, free_port
from tests.slack_bot import Bot
from tests.slack_standin import SlackStandIn

WINDOW = Window(start=DEMO_END - timedelta(hours=1), end=DEMO_END, step=timedelta(minutes=5))
QUESTION = "p95 of orders last 24h"
UNREADABLE = "the metrics server answered in a form I can't read"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(channels={"C1": True}, users={"U1": "UTC", "U2": "UTC"}) as standin:
        yield standin


@pytest.fixture
def proxy(prometheus_server: PrometheusServer) -> Iterator[FaultProxy]:
    with FaultProxy(prometheus_server.url) as proxied:
        yield proxied


def perfbot_on(backend: MetricsBackend, tmp_path: Path) -> Perfbot:
    storage = StorageSettings(url=f"sqlite:///{tmp_path / 'perfbot.db'}")
    return Perfbot(settings=Settings(storage=storage), backend=backend, clock=FakeClock(DEMO_END))


def home_opened(user: str = "U2") -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home",
            "event_ts": "1700000000.000001"}


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


# ---- the deadline and the size cap ----------------------------------------------------------


def test_a_trickled_answer_is_cut_at_the_deadline(proxy: FaultProxy) -> None:
    # A byte every 0.2 s never trips the 1 s read timeout; the whole answer would take
    # minutes (the proxy gives up trickling after 30 s and sends the rest: the old client
    # waited that long and answered).
    proxy.set("/api/v1/query_range", Trickle(every=0.2, limit=30))
    backend = prometheus_backend_for(proxy.url, timeout=timedelta(seconds=1))  # deadline 6s
    with pytest.raises(MetricsError) as caught:
        backend.latency(WINDOW)
    assert caught.value.public == "the metrics server took longer than 6s"
    assert "did not finish answering within 6s" in str(caught.value)
    # The transfer was stopped, not abandoned: the proxy saw the client hang up mid-answer.
    assert proxy.cut.wait(timeout=20)
    assert not proxy.finished.is_set()


def test_a_trickle_on_a_kept_alive_connection_is_cut_too(
    prometheus_server: PrometheusServer,
) -> None:
    # Prometheus keeps connections open: the second call reuses the first one's connection,
    # which the deadline must watch as well.
    with FaultProxy(prometheus_server.url, keep_alive=True) as kept:
        backend = prometheus_backend_for(kept.url, timeout=timedelta(seconds=1))
        assert not backend.latency(WINDOW).empty
        kept.set("/api/v1/query_range", Trickle(every=0.2, limit=30))
        with pytest.raises(MetricsError) as caught:
            backend.latency(WINDOW)
        assert caught.value.public == "the metrics server took longer than 6s"
        assert kept.cut.wait(timeout=20)
        assert not kept.finished.is_set()
        assert len(set(kept.clients)) == 1  # every call, the cut one too, on one connection


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "until-close"])
def test_an_answer_over_the_size_cap_is_refused_unread(
    proxy: FaultProxy, declare_length: bool
) -> None:
    # ~14 MB of extra series against a 1 MB cap: refused from the Content-Length, or after
    # reading 1 MB of a body whose length is not said; never read whole.
    proxy.set("/api/v1/query_range", Pad(series=20_000, declare_length=declare_length))
    settings = PrometheusSettings(url=proxy.url, max_response_mb=1)
    backend = PrometheusBackend(settings, MetricNames(), SaturationMetrics(),
                                clock=lambda: DEMO_END)
    with pytest.raises(MetricsError) as caught:
        backend.throughput(WINDOW)
    assert caught.value.public == "the answer was larger than 1 MB; narrow the question"
    assert "max_response_mb" in str(caught.value)
    assert proxy.cut.wait(timeout=20)
    assert not proxy.finished.is_set()


def test_the_deadline_defaults_to_the_timeout_and_a_margin_and_cannot_be_shorter() -> None:
    assert PrometheusSettings(timeout=timedelta(seconds=30)).total_deadline == timedelta(
        seconds=35)
    assert PrometheusSettings(deadline="1m").total_deadline == timedelta(minutes=1)
    with pytest.raises(ValueError, match=r"deadline \(5s\) is shorter than "
                                         r"metrics.prometheus.timeout \(10s\)"):
        PrometheusSettings(deadline="5s")


# ---- shapes and error answers ---------------------------------------------------------------


def _matrix(values: list[list[Any]]) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"service": "orders"}, "values": values}]}}).encode()


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/api/v1/query_range", _matrix([[1700000000, "abc"]]), "values.0.1"),
        ("/api/v1/query_range", b'{"status":"success"}', "data: Field required"),
        ("/api/v1/query_range",
         b'{"status":"success","data":{"resultType":"vector","result":[]}}', "resultType"),
        ("/api/v1/query_range", b"<html>Grafana login</html>", "Invalid JSON"),
        ("/api/v1/query", _matrix([[1700000000, "1"]]), "matrix where an instant vector"),
    ],
    ids=["not-a-number", "no-data", "vector-for-matrix", "html", "matrix-for-vector"],
)
def test_an_answer_of_the_wrong_shape_gets_its_own_message(
    proxy: FaultProxy, prometheus_backend: PrometheusBackend, path: str, body: bytes,
    where: str, caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = perfbot_on(prometheus_backend, Path("/nonexistent")).catalog
    proxy.set(path, Fixed(200, body))
    backend = prometheus_backend_for(proxy.url)
    with pytest.raises(MetricsError) as caught:
        if path == "/api/v1/query":  # the summary's instant queries
            backend.summary(DEMO_END, endpoints=[catalog.entries[0].endpoint])
        else:
            backend.latency(WINDOW)
    assert caught.value.public == UNREADABLE
    assert where in str(caught.value)  # the operator learns where the answer went wrong
    if path == "/api/v1/query_range":
        sources = Sources(backend=backend, catalog=catalog, tz=Settings().zone)
        with caplog.at_level(logging.WARNING):
            reply = ask(QUESTION, sources, DEMO_END)
        assert reply.kind is AnswerKind.ERROR
        assert reply.headline.endswith(f": {UNREADABLE}.")
        assert proxy.url not in reply.headline
        no_tracebacks(caplog)


def test_a_500_shows_its_status_in_slack_and_its_details_only_in_the_log(
    proxy: FaultProxy, slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "db at 10.9.8.7:5432 said: password hunter2 expired"
    body = json.dumps({"status": "error", "errorType": "internal", "error": secret}).encode()
    perfbot = perfbot_on(prometheus_backend_for(proxy.url), tmp_path)
    assert perfbot.catalog.entries  # discovery passes through; the queries fail
    proxy.set("/api/v1/query_range", Fixed(500, body))
    with caplog.at_level(logging.WARNING), Bot(perfbot, slack, inline=True) as served:
        assert served.command(QUESTION).status_code == 200
    update = slack.calls("chat.update", delivered=True)[0]
    said = json.dumps([update.args["text"], update.args["blocks"]])
    assert "the metrics server failed (HTTP 500)" in update.args["text"]
    for leak in ("10.9.8.7", "hunter2", proxy.url, "127.0.0.1"):
        assert leak not in said
    # The operator has it all: where, and what the server said.
    assert any(proxy.url in r.getMessage() and secret in r.getMessage()
               for r in caplog.records)
    no_tracebacks(caplog)


# ---- no catalog: unreachable, or discovery trickling -----------------------------------------


def test_before_any_catalog_an_unreachable_server_gets_a_specific_answer_and_help_works(
    slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    perfbot = perfbot_on(prometheus_backend_for(f"http://127.0.0.1:{port}", retries=0),
                         tmp_path)
    with caplog.at_level(logging.WARNING), Bot(perfbot, slack, inline=True) as served:
        assert served.command(QUESTION).status_code == 200
        assert served.command("help", user="U2").status_code == 200
        assert served.event(home_opened()).status_code == 200
    text = slack.calls("chat.update", delivered=True)[0].args["text"]
    assert ("I can't reach the metrics server yet (the metrics server is not reachable "
            "(connection refused)), so I don't know the endpoints; try again in a minute."
            ) in text
    assert str(port) not in text
    assert "connection refused" in caplog.text and str(port) in caplog.text  # the log has it
    no_tracebacks(caplog)
    helped = slack.calls("response_url")[0].args
    assert "For example" in helped["text"]
    assert "/api/checkout" in json.dumps(helped["blocks"])  # generic examples, no catalog
    assert "Commands" in json.dumps(helped["blocks"])
    assert slack.calls("views.publish", delivered=True)


def test_help_and_app_home_answer_while_the_first_discovery_trickles(
    proxy: FaultProxy, slack: SlackStandIn, tmp_path: Path
) -> None:
    # Every API call trickles; the deadline (35 s) is far off, so discovery is in progress
    # for all of this test until it is released.
    proxy.set("/api/v1/", Trickle(every=0.5, limit=60))
    perfbot = perfbot_on(prometheus_backend_for(proxy.url, timeout=timedelta(seconds=30)),
                         tmp_path)
    with Bot(perfbot, slack, inline=False) as served:
        assert served.command(QUESTION).status_code == 200
        assert proxy.trickling.wait(timeout=20), "the question never started discovery"
        assert served.command("help", user="U2").status_code == 200
        assert served.event(home_opened()).status_code == 200
        helped = slack.wait_for("response_url")[0].args
        published = slack.wait_for("views.publish")[0]
        # Both answered while the discovery was still being trickled.
        assert not proxy.finished.is_set() and not proxy.cut.is_set()
        proxy.release()
        proxy.clear()
        served.replier.wait_for_replies(1, timeout=60)
    assert "For example" in helped["text"]
    assert published.error is None
    assert "Ask me" in json.dumps(published.args["view"])
    answer = slack.calls("chat.update", delivered=True)[0].args["text"]
    assert "p95" in answer  # the question, once released, was answered from the metrics


def test_a_trickled_refresh_keeps_serving_the_last_catalog(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    backend = prometheus_backend_for(proxy.url, timeout=timedelta(seconds=30))
    perfbot = perfbot_on(backend, tmp_path)
    first = perfbot.catalog
    assert isinstance(perfbot.clock, FakeClock)
    perfbot.clock.advance(timedelta(minutes=11))  # past catalog.refresh: stale
    proxy.set("/api/v1/", Trickle(every=0.5, limit=15))
    refreshed: list[Any] = []
    refresher = threading.Thread(target=lambda: refreshed.append(perfbot.catalog))
    refresher.start()
    assert proxy.trickling.wait(timeout=20), "the refresh never asked the server"
    # Another reader meanwhile: the last catalog, without waiting for the refresh.
    assert perfbot.catalog is first
    assert perfbot.last_catalog() is first
    assert not proxy.finished.is_set()
    proxy.release()
    refresher.join(timeout=60)
    assert refreshed and refreshed[0] is not first  # the refresh did finish, and is served
    assert perfbot.catalog is refreshed[0]


def test_questions_before_the_first_catalog_share_one_discovery_and_its_failure(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    # The first discovery trickles past its deadline (6 s). A second reader meanwhile waits
    # for that outcome instead of asking the server again after it (eight questions used to
    # take one deadline each, in turn, behind the lock).
    proxy.set("/api/v1/", Trickle(every=0.2, limit=30))
    perfbot = perfbot_on(prometheus_backend_for(proxy.url, timeout=timedelta(seconds=1)),
                         tmp_path)
    failures: list[MetricsError] = []

    def read() -> None:
        try:
            _ = perfbot.catalog
        except MetricsError as exc:
            failures.append(exc)

    first = threading.Thread(target=read)
    first.start()
    assert proxy.trickling.wait(timeout=20), "discovery never asked the server"
    second = threading.Thread(target=read)
    second.start()
    first.join(timeout=60)
    second.join(timeout=60)
    assert [f.public for f in failures] == ["the metrics server took longer than 6s"] * 2
    assert len(proxy.paths) == 1  # one request to the server for both
    assert proxy.cut.wait(timeout=20)
