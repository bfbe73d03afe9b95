"""``perfbot run`` observes itself, as a real process: ``/metrics`` (scraped and parsed
with prometheus_client's parser), ``/healthz`` and ``/readyz`` on the operational port, in
HTTP mode (``--http``) and in Socket Mode (``server.listen``); ``/readyz`` against a real
Prometheus that is then stopped; JSON logs without a token; and SIGTERM during an answer
with two replicas on a real PostgreSQL: leadership is released at once (the other replica
leads while the answer is still being posted), the answer is posted, the process exits 0.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.storage.leader import LEADING
from tests.bot_process import (
    AT,
    SECRET,
    BotProcess,
    minutely_policy,
    wait_until,
    write_config,
)
from tests.postgres_server import PostgresServer
from tests.prometheus_server import PrometheusServer, find_binaries, tiny_openmetrics
from tests.signed_http import command, post_signed, standin
from tests.slack_standin import APP_TOKEN, TOKEN, SlackStandIn

QUESTION = "p95 of orders last 24h"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin("C1") as s:
        yield s


def scrape(bot: BotProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics, parsed: each sample's value by (name, sorted labels)."""
    answer = httpx.get(f"{bot.ops_url()}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        assert family.name.startswith("perfbot_"), family.name
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    """The sum over the samples of ``name`` that have ``labels`` (and any others)."""
    return sum(v for (n, have), v in samples.items()
               if n == name and set(labels.items()) <= set(have))


def ready(bot: BotProcess) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{bot.ops_url()}/readyz", timeout=30)
    assert TOKEN not in answer.text and SECRET not in answer.text
    return answer.status_code, answer.json()


def ask_over_http(bot: BotProcess, slack: SlackStandIn, text: str) -> None:
    answer = post_signed(bot.ops_url(), command(text, slack, "C1"))
    assert answer.status_code == 200, answer.text


def answered_in_c1(slack: SlackStandIn) -> int:
    return len([c for c in slack.calls("chat.update", delivered=True)
                if c.args.get("channel") == "C1"])


def test_http_mode_serves_metrics_health_and_ready_and_a_question_moves_the_counters(
    tmp_path: Path, slack: SlackStandIn,
) -> None:
    config = write_config(tmp_path / "perfbot.yaml", f"sqlite:///{tmp_path / 'p.db'}",
                          minutely_policy())
    with BotProcess(tmp_path, slack, config, speed=1) as bot:
        bot.start()
        before = scrape(bot)
        assert value(before, "perfbot_leader") == 1.0  # SQLite: the only process leads
        assert value(before, "perfbot_questions_total", outcome="answered") == 0
        ask_over_http(bot, slack, QUESTION)
        wait_until("the answer", lambda: answered_in_c1(slack) >= 1, alive=bot)
        wait_until("the count", lambda: value(
            scrape(bot), "perfbot_questions_total", outcome="answered") == 1, alive=bot)
        after = scrape(bot)
        assert value(after, "perfbot_answer_seconds_count") == 1
        assert value(after, "perfbot_answer_seconds_sum") > 0
        assert total(after, "perfbot_slack_api_seconds_count", method="chat.update") >= 1
        assert total(after, "perfbot_slack_api_seconds_count", method="auth.test") == 1
        health = httpx.get(f"{bot.ops_url()}/healthz", timeout=10)
        assert (health.status_code, health.text) == (200, "ok\n")
        status, body = ready(bot)
        assert status == 200, body
        assert body == {"ready": True, "failing": [], "leader": True,
                        "checks": {"slack": "ok", "store": "ok", "metrics_server": "ok"}}
        assert httpx.post(f"{bot.ops_url()}/metrics", timeout=10).status_code == 405
        # The loop's first detection opened the demo's incidents and posted them.
        wait_until("incidents posted", lambda: total(
            scrape(bot), "perfbot_notifications_total", channel="slack", result="sent") >= 1,
            alive=bot)
        loop = scrape(bot)
        assert total(loop, "perfbot_incidents_opened_total") >= 1
        assert value(loop, "perfbot_detection_cycle_seconds_count") >= 1
        assert value(loop, "perfbot_detection_series_total") > 0
        # The policy's first step is due at the opening: a page, counted as a step.
        wait_until("a step", lambda: value(scrape(bot), "perfbot_escalation_steps_total") >= 1,
                   alive=bot)
        # A webhook delivery without the bearer token: refused, and counted by status.
        refused = httpx.post(f"{bot.ops_url()}/alertmanager", json={}, timeout=10)
        assert refused.status_code == 401
        assert value(scrape(bot), "perfbot_alertmanager_deliveries_total", status="401") == 1


def test_socket_mode_serves_them_on_server_listen_and_readyz_names_a_stopped_prometheus(
    tmp_path: Path, slack: SlackStandIn,
) -> None:
    data = tmp_path / "tiny.om"
    data.write_text(tiny_openmetrics(datetime.fromisoformat(AT)), encoding="utf-8")
    prometheus = PrometheusServer(data, tmp_path / "prom", find_binaries()).start()
    try:
        config = write_config(
            tmp_path / "perfbot.yaml", f"sqlite:///{tmp_path / 'p.db'}", minutely_policy(),
            extra={"server": {"listen": "127.0.0.1:0"},
                   "metrics": {"backend": "prometheus", "prometheus": {
                       "url": prometheus.url, "timeout": "3s", "retries": 0}}})
        with BotProcess(tmp_path, slack, config, speed=1, socket_mode=True) as bot:
            bot.start()
            assert "Socket Mode connected" in bot.output()
            status, body = ready(bot)
            assert (status, body["failing"], body["leader"]) == (200, [], True), body
            envelope = slack.socket_mode.push("slash_commands", {
                "token": "legacy", "team_id": "T1", "api_app_id": "A1", "channel_id": "C1",
                "user_id": "U1", "command": "/perf", "text": "p95 of shop last 1h",
                "trigger_id": "1.2.3", "response_url": f"{slack.url}/response/1",
                "is_enterprise_install": "false"})
            slack.socket_mode.wait_for_ack(envelope)
            wait_until("the count", lambda: total(
                scrape(bot), "perfbot_questions_total") >= 1, alive=bot)
            before = scrape(bot)
            assert total(before, "perfbot_answer_seconds_count") == 1
            assert total(before, "perfbot_metrics_query_seconds_count") >= 1
            prometheus.stop()
            # /readyz reuses its checks for a second: the next rounds see it stopped.
            wait_until("/readyz says 503", lambda: ready(bot)[0] == 503, timeout=30,
                       alive=bot)
            status, body = ready(bot)
            assert status == 503, body
            assert body["failing"] == ["metrics_server"]
            assert body["checks"] == {"slack": "ok", "store": "ok",
                                      "metrics_server": "not answering"}
            assert str(prometheus.port) not in json.dumps(body)  # no URL from the config
            after = scrape(bot)
            assert total(after, "perfbot_metrics_query_errors_total") > total(
                before, "perfbot_metrics_query_errors_total")
            health = httpx.get(f"{bot.ops_url()}/healthz", timeout=10)
            assert health.status_code == 200
    finally:
        prometheus.stop()


def test_json_logs_are_one_object_a_line_and_never_show_a_token(
    tmp_path: Path, slack: SlackStandIn,
) -> None:
    config = write_config(tmp_path / "perfbot.yaml", f"sqlite:///{tmp_path / 'p.db'}",
                          minutely_policy(), extra={"server": {"listen": "127.0.0.1:0"}})
    with BotProcess(tmp_path, slack, config, speed=1, socket_mode=True,
                    args=["--log-format", "json", "--log-level", "debug"]) as bot:
        bot.start()
        assert bot.stop() == 0
    output = bot.output()
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(logged) > 10, output
    assert all(set(entry) >= {"time", "level", "logger", "message"} for entry in logged)
    assert any(entry["logger"] == "bot.schedule" for entry in logged)
    # Every line is either the CLI's own "perfbot: …" line (stdout) or a JSON object.
    assert all(line.startswith(("{", "perfbot: ")) for line in output.splitlines() if line)
    for secret in (TOKEN, APP_TOKEN, SECRET):
        assert secret not in output


@pytest.mark.parametrize("socket_mode", [True, False], ids=["socket-mode", "http"])
def test_sigterm_handed_to_any_thread_stops_the_bot(
    tmp_path: Path, slack: SlackStandIn, socket_mode: bool,
) -> None:
    """``kill`` names the process; the kernel gives the signal to any of its threads that
    takes it, and Python runs the handler in the main thread only when that thread next
    runs. Before: in Socket Mode the main thread slept in an untimed wait, was never
    woken, and the bot never stopped (2 stops in 15 under load). Here the
    signal is sent to a thread other than the main one, every time."""
    extra = {"server": {"listen": "127.0.0.1:0"}} if socket_mode else None
    config = write_config(tmp_path / "perfbot.yaml", f"sqlite:///{tmp_path / 'p.db'}",
                          minutely_policy(), extra=extra)
    with BotProcess(tmp_path, slack, config, speed=1, socket_mode=socket_mode) as bot:
        bot.start()
        process = bot.process
        assert process is not None
        others = sorted(int(t) for t in os.listdir(f"/proc/{process.pid}/task")
                        if int(t) != process.pid)
        assert others, "perfbot run has no thread but the main one"
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.tgkill(process.pid, others[0], signal.SIGTERM) == 0, ctypes.get_errno()
        bot.process = None
        try:
            code = process.wait(timeout=60)  # a deadline: before the fix, never
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"SIGTERM to thread {others[0]} did not stop the bot:\n"
                                 f"{bot.output()}") from None
    assert code == 0, bot.output()
    assert "perfbot: stopped" in bot.output()


def test_sigterm_mid_answer_releases_the_lead_at_once_posts_the_answer_and_exits_0(
    tmp_path: Path, slack: SlackStandIn, postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database()
    # Takeover 10 s: a standby tries every 3.3 s and leads 3.3 s after it has the lock.
    config = write_config(tmp_path / "perfbot.yaml", url, minutely_policy(), takeover="10s")
    since = datetime.now(UTC)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with BotProcess(tmp_path / "a", slack, config, since=since, speed=1) as a, \
            BotProcess(tmp_path / "b", slack, config, since=since, speed=1) as b:
        a.start()
        wait_until("a leads", lambda: LEADING in a.output(), alive=a)
        b.start()
        assert value(scrape(a), "perfbot_leader") == 1
        assert value(scrape(b), "perfbot_leader") == 0
        assert ready(b)[1]["leader"] is False
        # The answer is computed, and Slack is slow to take it.
        release = slack.hold("chat.update", lambda args: args.get("channel") == "C1")
        try:
            ask_over_http(a, slack, QUESTION)
            slack.wait_until_held("chat.update")
            assert a.process is not None
            a.process.send_signal(15)  # SIGTERM, as docker stop
            # The other replica leads while a is still posting that answer: a gave the
            # lock up at once (before: only after the answer, so b waited for it).
            wait_until("b leads", lambda: LEADING in b.output(), timeout=20, alive=b)
            assert a.running, a.output()
            assert value(scrape(b), "perfbot_leader") == 1
            assert ready(b)[1]["leader"] is True
        finally:
            release.set()
        process, a.process = a.process, None
        assert process.wait(timeout=30) == 0, a.output()
    assert answered_in_c1(slack) == 1  # the answer was posted, not cut
    assert "leadership released" in a.output()
    assert "unanswered question" not in a.output()
