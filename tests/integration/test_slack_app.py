"""The real Bolt app in HTTP mode, sent signed requests over real HTTP, talking to a local
stand-in of the Slack Web API (``tests/slack_standin.py``) that records what it was asked."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from slack_sdk.signature import SignatureVerifier

from bot.app import Perfbot
from bot.ask.answer import ask
from bot.cli import _parser
from bot.clock import FakeClock
from bot.config import Settings, StorageSettings
from bot.metrics.base import MetricsBackend
from bot.metrics.demo import DemoBackend
from bot.notify.slack import make_web_client
from bot.render.blocks import answer_message, validate_blocks
from bot.render.message import Answer
from bot.slack.app import NO_INCIDENTS, NO_ONCALL
from bot.slack.replier import LOOKING, UserZones
from bot.slack.web import INVITE
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.prometheus_server import PrometheusServer, SlowProxy
from tests.slack_bot import SECRET, Bot, command_body
from tests.slack_standin import TOKEN, SlackStandIn

USERS = {"U1": "Europe/Paris", "U2": "America/New_York", "U3": "Asia/Tokyo"}


def mention(text: str, ts: str = "1700000001.000100", **extra: Any) -> dict[str, Any]:
    return {"type": "app_mention", "user": "U1", "text": f"<@UBOT> {text}", "ts": ts,
            "channel": "C1", "event_ts": ts, **extra}


def expected(perfbot: Perfbot, text: str, user: str = "U1") -> Answer:
    """The answer the core gives the asker, in their own time zone."""
    sources = replace(perfbot.sources, tz=ZoneInfo(USERS[user]))
    return ask(text, sources, perfbot.now(), chart=True)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(channels={"C1": True, "COUT": False}, users=dict(USERS)) as standin:
        yield standin


def perfbot_for(backend: MetricsBackend, database: Path | None = None) -> Perfbot:
    """The bot on ``backend``; its incidents and audit records in the SQLite file
    ``database`` (App Home and the incident commands read them), else in none at all: a
    test that reaches for the database then fails instead of writing ./perfbot.db."""
    url = f"sqlite:///{database or Path('/nonexistent/perfbot.db')}"
    return Perfbot(settings=Settings(storage=StorageSettings(url=url)), backend=backend,
                   clock=FakeClock(DEMO_END))


@pytest.fixture
def bot(slack: SlackStandIn, demo_backend: DemoBackend, tmp_path: Path) -> Iterator[Bot]:
    """Listeners run before the HTTP answer, so a test sees all their calls once it returns."""
    with Bot(perfbot_for(demo_backend, tmp_path / "perfbot.db"), slack, inline=True) as served:
        yield served


@pytest.mark.parametrize(
    "headers",
    [
        {"signature": "v0=" + "0" * 64},  # forged
        {"timestamp": None},  # missing
        {"timestamp": "yesterday"},  # not a number
        {"timestamp": "stale"},  # older than five minutes, signed correctly
    ],
    ids=["forged", "no-timestamp", "non-numeric-timestamp", "stale"],
)
def test_unsigned_requests_are_refused_and_do_nothing(
    bot: Bot, slack: SlackStandIn, headers: dict[str, Any]
) -> None:
    if headers.get("timestamp") == "stale":
        headers = {"timestamp": str(int(time.time()) - 600)}
    response = bot.command("p95 of orders last 24h", **headers)
    assert response.status_code == 401
    assert slack.calls() == []
    # The same request, properly signed, is answered: the refusal was the signature's doing.
    assert bot.command("p95 of orders last 24h").status_code == 200
    assert slack.calls("chat.update", delivered=True)


def test_slash_command_is_acknowledged_while_prometheus_takes_ten_seconds(
    slack: SlackStandIn, prometheus_server: PrometheusServer
) -> None:
    question = "p95 of orders last 24h"
    with SlowProxy(prometheus_server.url, delay=10) as slow:
        perfbot = perfbot_for(prometheus_backend_for(slow.url, timeout=timedelta(seconds=30)))
        with Bot(perfbot, slack, inline=False) as served:
            response = served.command(question)
            # Acknowledged before Prometheus answered anything.
            assert response.status_code == 200
            assert not slow.passed.is_set()
            assert slow.holding.wait(timeout=20), "the answer never queried Prometheus"
            assert slack.calls("chat.update") == []
            update = slack.wait_for("chat.update", timeout=60)[0]
            slack.wait_for("files.completeUploadExternal")
            assert slow.passed.is_set()
    methods = [c.method for c in slack.calls()]
    looking = slack.calls("chat.postMessage")[0]
    assert "Looking" in looking.args["text"]
    assert methods.index("chat.postMessage") < methods.index("chat.update") < methods.index(
        "files.completeUploadExternal")
    # The answer is the one Prometheus gives without the wait.
    want = answer_message(expected(perfbot_for(prometheus_backend_for(prometheus_server.url)),
                                   question))
    assert update.args["text"] == want.text
    assert update.args["blocks"] == list(want.blocks)
    upload = slack.calls("files.completeUploadExternal")[0]
    assert upload.args["channel_id"] == "C1"
    assert upload.args["thread_ts"] == update.args["ts"]  # the chart goes in the answer's thread
    assert slack.calls("upload")[0].args["bytes"] > 0


def test_commands_are_acknowledged_while_many_answers_are_stuck(
    slack: SlackStandIn, demo_backend: DemoBackend
) -> None:
    # Bolt runs listeners on 5 threads: answers that waited there kept later acks waiting
    # until Bolt gave up (404). Seven answers stuck on Slack must not hold the eighth's ack.
    stuck = [slack.hold("chat.postMessage") for _ in range(7)]
    with Bot(perfbot_for(demo_backend), slack, inline=False) as served:
        for n in range(1, 8):
            assert served.command("p95 of orders last 24h", user=f"U{n}").status_code == 200
        slack.wait_until_held("chat.postMessage")
        assert served.command("help", user="U8").status_code == 200
        slack.wait_for("response_url")  # help is answered while the seven still wait
        for release in stuck:
            release.set()
        served.replier.wait_for_replies(7)  # charts too: no answer outlives the test
    assert len(slack.calls("chat.postMessage", delivered=True)) == 7
    assert len(slack.calls("chat.update", delivered=True)) == 7


def test_one_person_may_have_three_questions_in_progress(
    slack: SlackStandIn, demo_backend: DemoBackend
) -> None:
    stuck = [slack.hold("chat.postMessage") for _ in range(3)]
    with Bot(perfbot_for(demo_backend), slack, inline=False) as served:
        for _ in range(3):
            served.command("p95 of orders last 24h", user="U1")
        slack.wait_until_held("chat.postMessage")
        served.command("p99 of orders last 24h", user="U1")
        (refusal,) = slack.wait_for("response_url")
        assert refusal.args["response_type"] == "ephemeral"
        assert refusal.args["text"].startswith("You already have 3 questions being answered")
        served.command("p99 of orders last 24h", user="U2")  # somebody else is answered
        (other,) = slack.wait_for("chat.update")
        assert other.args["text"] == answer_message(
            expected(perfbot_for(demo_backend), "p99 of orders last 24h", user="U2")).text
        for release in stuck:
            release.set()
        # U1's count drops when a reply is over, after its chart's upload, not at its
        # chat.update: wait for all five replies (U1's three, the refusal, U2's).
        served.replier.wait_for_replies(5)
        assert len(slack.calls("chat.update", delivered=True)) == 4
        served.command("p99 of orders last 24h", user="U1")  # done: U1 may ask again
        served.replier.wait_for_replies(6)
    assert len(slack.calls("chat.update", delivered=True)) == 5
    assert len(slack.calls("response_url")) == 1


def test_rate_limited_post_is_retried_and_delivered_once(bot: Bot, slack: SlackStandIn) -> None:
    slack.rate_limit("chat.postMessage", retry_after=1)
    assert bot.command("p95 of orders last 24h").status_code == 200
    posts = slack.calls("chat.postMessage")
    assert [c.status for c in posts] == [429, 200]
    assert len(slack.calls("chat.postMessage", delivered=True)) == 1
    assert len(slack.state.messages) == 1
    assert slack.calls("chat.update", delivered=True)


def test_server_error_on_an_edit_is_retried_and_delivered_once(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.server_error("chat.update", status=503)
    assert bot.command("p95 of orders last 24h").status_code == 200
    assert [c.status for c in slack.calls("chat.update")] == [503, 200]
    assert len(slack.calls("chat.postMessage", delivered=True)) == 1
    (update,) = slack.calls("chat.update", delivered=True)
    want = answer_message(expected(bot.perfbot, "p95 of orders last 24h"))
    assert slack.message("C1", update.args["ts"])["blocks"] == list(want.blocks)
    assert slack.calls("response_url") == []  # nothing went wrong, as far as the asker sees


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_on_a_post_is_not_retried_it_may_have_been_posted(
    bot: Bot, slack: SlackStandIn, status: int
) -> None:
    # A 5xx does not say Slack did not post: a retry could post the message twice.
    slack.server_error("chat.postMessage", status=status)
    assert bot.command("p95 of orders last 24h").status_code == 200
    assert [c.status for c in slack.calls("chat.postMessage")] == [status]
    (reply,) = slack.calls("response_url")
    assert reply.args["text"].startswith(f"Slack is having trouble (HTTP {status}")
    assert slack.calls("chat.update") == []


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_server_errors_on_an_edit_are_retried(
    bot: Bot, slack: SlackStandIn, status: int
) -> None:
    slack.server_error("chat.update", status=status)
    bot.command("p95 of orders last 24h")
    assert [c.status for c in slack.calls("chat.update")] == [status, 200]


def test_a_server_error_on_a_chart_upload_is_not_retried(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.server_error("files.completeUploadExternal", status=503)
    assert bot.command("p95 of orders last 24h").status_code == 200
    assert [c.status for c in slack.calls("files.completeUploadExternal")] == [503]
    (reply,) = slack.calls("response_url")
    assert reply.args["text"].startswith("The chart could not be posted. Slack is having")


def test_server_errors_on_every_retry_of_an_edit_tell_the_asker(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.server_error("chat.update", status=503, times=3)  # the first try and both retries
    assert bot.command("p95 of orders last 24h").status_code == 200
    assert [c.status for c in slack.calls("chat.update")] == [503] * 3 + [200]
    (reply,) = slack.calls("response_url")
    assert reply.args["response_type"] == "ephemeral"
    assert reply.args["text"].startswith(
        "I could not post the answer. Slack is having trouble (HTTP 503")
    # "Looking into it…" does not stay forever: a short line says it failed.
    shown = slack.message("C1", slack.calls("chat.update")[-1].args["ts"])
    assert shown["text"] == ":warning: The answer could not be posted here (service_unavailable)."
    assert LOOKING not in str(shown)


def test_an_answer_too_long_for_slack_is_replaced_by_its_headline(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.fail("chat.update", "msg_too_long")
    assert bot.command("p95 of orders last 24h").status_code == 200
    failed, shortened = slack.calls("chat.update")
    assert failed.error == "msg_too_long" and shortened.error is None
    shown = slack.message("C1", shortened.args["ts"])
    want = expected(bot.perfbot, "p95 of orders last 24h")
    assert want.headline in shown["text"]
    assert "The full answer was too long for Slack" in str(shown["blocks"])
    assert LOOKING not in str(shown)
    assert slack.calls("response_url") == []  # the asker has the headline, in the channel


def test_server_errors_on_a_mention_reach_the_asker_ephemerally(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.server_error("chat.update", status=503, times=3)
    assert bot.event(mention("p95 of orders last 24h")).status_code == 200
    (told,) = slack.calls("chat.postEphemeral", delivered=True)
    assert told.args["user"] == "U1" and "HTTP 503" in told.args["text"]


def test_server_errors_when_even_the_ephemeral_fails_crash_nothing(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.server_error("chat.postMessage", status=503)  # posts are not retried on a 5xx
    slack.server_error("chat.postEphemeral", status=503)
    assert bot.event(mention("p95 of orders last 24h")).status_code == 200
    assert slack.calls("chat.postEphemeral", delivered=True) == []
    # The bot still answers the next question.
    bot.event(mention("p95 of orders last 24h", ts="1700000002.000100"), event_id="Ev2")
    assert len(slack.calls("chat.update", delivered=True)) == 1


def test_times_are_in_each_askers_zone_looked_up_once_per_user(
    bot: Bot, slack: SlackStandIn
) -> None:
    question = "p95 of checkout yesterday"
    for user in ("U2", "U3", "U2"):
        assert bot.command(question, user=user).status_code == 200
    # users.info once per user: the zone is cached.
    assert [c.args["user"] for c in slack.calls("users.info")] == ["U2", "U3"]
    new_york, tokyo, again = (slack.message("C1", c.args["ts"])
                              for c in slack.calls("chat.update", delivered=True))
    assert again == {**new_york, "ts": again["ts"], "thread_ts": again["thread_ts"]}
    for message, user in ((new_york, "U2"), (tokyo, "U3")):
        want = expected(bot.perfbot, question, user=user)
        assert message["blocks"] == list(answer_message(want).blocks)
        assert want.table is not None
        # "yesterday" ends at the asker's own midnight, and the table says so in local time.
        midnight = bot.perfbot.now().astimezone(ZoneInfo(USERS[user])).strftime("%a 00:00")
        assert any(label.endswith(f"at {midnight}") for label, _ in want.table.rows)
    # Different days (New York's and Tokyo's yesterday), so different figures and labels.
    assert new_york["blocks"] != tokyo["blocks"]
    assert [row[0] for row in table_of(bot, question, "U2")] != [
        row[0] for row in table_of(bot, question, "U3")]


def test_time_zones_are_asked_again_after_hours_and_failures_after_a_minute(
    slack: SlackStandIn,
) -> None:
    now = [DEMO_END]
    client = make_web_client(TOKEN, base_url=slack.api_url, server_backoff=0.01)
    zones = UserZones(client, ZoneInfo("UTC"),
                      lambda: now[0])
    assert zones.zone("U2") == ZoneInfo("America/New_York")
    now[0] += timedelta(hours=5)
    assert zones.zone("U2") == ZoneInfo("America/New_York")
    assert len(slack.calls("users.info")) == 1  # kept
    now[0] += timedelta(hours=2)
    zones.zone("U2")
    assert len(slack.calls("users.info")) == 2  # six hours on: asked again
    slack.server_error("users.info", status=503, times=3)  # every retry fails
    assert zones.zone("U3") == ZoneInfo("UTC")  # the bot's zone meanwhile
    now[0] += timedelta(seconds=30)
    zones.zone("U3")
    assert [c.args["user"] for c in slack.calls("users.info", delivered=True)] == ["U2", "U2"]
    now[0] += timedelta(minutes=1)
    assert zones.zone("U3") == ZoneInfo("Asia/Tokyo")  # a minute on: asked again, found


def table_of(bot: Bot, question: str, user: str) -> tuple[tuple[str, ...], ...]:
    table = expected(bot.perfbot, question, user=user).table
    assert table is not None
    return tuple(tuple(row) for row in table.rows)


def test_chart_upload_not_in_channel_tells_the_asker_to_invite_the_bot(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.fail("files.completeUploadExternal", "not_in_channel")
    assert bot.command("p95 of orders last 24h").status_code == 200
    told = slack.calls("response_url")
    assert len(told) == 1
    assert told[0].args["response_type"] == "ephemeral"
    assert INVITE in told[0].args["text"]
    assert slack.calls("chat.update", delivered=True)  # the text answer still arrived


def test_command_in_a_channel_without_the_bot_asks_for_an_invite(
    bot: Bot, slack: SlackStandIn
) -> None:
    assert bot.command("p95 of orders last 24h", channel="COUT").status_code == 200
    assert slack.calls("chat.postMessage", delivered=True) == []
    told = slack.calls("response_url")
    assert INVITE in told[0].args["text"]
    assert told[0].args["response_type"] == "ephemeral"


def test_help_incident_commands_and_unconfigured_ones_are_ephemeral(
    bot: Bot, slack: SlackStandIn
) -> None:
    bot.command("help")
    bot.command("incidents")
    bot.command("ack INC-7")
    bot.command("oncall")
    bot.command("digest preview")
    help_reply, incidents, ack, oncall, digest = slack.calls("response_url")
    assert all(c.args["response_type"] == "ephemeral"
               for c in (help_reply, incidents, ack, oncall, digest))
    assert help_reply.args["text"] == answer_message(expected(bot.perfbot, "help")).text
    commands = section_texts(help_reply.args["blocks"])["Commands"]
    assert "• `/perf ack INC-42`: acknowledge an incident, as its button does" in commands
    assert "• `/perf incidents`: the open incidents, newest first\n" in commands
    assert "• `/perf oncall`: who is on call now and next, per schedule\n" in commands
    # Nothing is still to come: the digests are there.
    assert [line for line in commands.split("\n") if "not configured" in line] == []
    assert "• `/perf digest list`: this channel's and the configured digests" in commands
    assert incidents.args["text"] == "No open incidents."
    assert ack.args["text"].startswith("There is no incident `INC-7`.")
    assert oncall.args["text"].startswith("No on-call schedule is configured")
    assert "not configured" not in digest.args["text"]  # a preview, shown only to the asker
    assert slack.calls("chat.postMessage") == []


def test_mention_is_answered_in_its_thread(bot: Bot, slack: SlackStandIn) -> None:
    assert bot.event(mention("top 5 slowest endpoints this week")).status_code == 200
    looking = slack.calls("chat.postMessage", delivered=True)
    assert [c.args["thread_ts"] for c in looking] == ["1700000001.000100"]
    update = slack.calls("chat.update")[0]
    want = answer_message(expected(bot.perfbot, "top 5 slowest endpoints this week"))
    assert update.args["blocks"] == list(want.blocks)
    assert slack.calls("users.info")[0].args["user"] == "U1"


def test_duplicate_event_delivery_is_answered_once(bot: Bot, slack: SlackStandIn) -> None:
    event = mention("p95 of orders last 24h")
    assert bot.event(event).status_code == 200
    # Slack's retry: the same event id, signed anew, with the retry headers.
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert bot.event(event, headers=retry).status_code == 200
    assert len(slack.calls("chat.postMessage")) == 1
    # A different event is still answered.
    bot.event(mention("p95 of orders last 24h", ts="1700000002.000100"), event_id="Ev2")
    assert len(slack.calls("chat.postMessage")) == 2


def test_replayed_request_is_a_no_op(bot: Bot, slack: SlackStandIn) -> None:
    body = command_body("p95 of orders last 24h", slack, channel="C1", user="U1")
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    for _ in range(2):
        response = bot.send(body, "application/x-www-form-urlencoded", timestamp=stamp,
                            signature=signature)
        assert response.status_code == 200
    assert len(slack.calls("chat.postMessage")) == 1


def test_ten_kilobyte_dm_gets_a_short_ephemeral_reply(bot: Bot, slack: SlackStandIn) -> None:
    text = "p95 of orders " * 800
    event = {"type": "message", "channel_type": "im", "channel": "DU1", "user": "U1",
             "text": text, "ts": "1700000003.000100"}
    assert bot.event(event).status_code == 200
    told = slack.calls("chat.postEphemeral", delivered=True)
    assert len(told) == 1
    assert f"{len(text.strip()):,} characters" in told[0].args["text"]
    assert slack.calls("chat.postMessage") == []


def test_emoji_only_mention_gets_help(bot: Bot, slack: SlackStandIn) -> None:
    bot.event(mention(":tada: :rocket:"))
    want = expected(bot.perfbot, ":tada: :rocket:")
    assert want.kind == "help"
    update = slack.calls("chat.update", delivered=True)[0]
    assert update.args["blocks"] == list(answer_message(want).blocks)


def test_bot_messages_in_dms_are_ignored(bot: Bot, slack: SlackStandIn) -> None:
    event = {"type": "message", "channel_type": "im", "channel": "DU1", "user": "U2",
             "bot_id": "BOTHER", "text": "p95 of orders", "ts": "1700000004.000100"}
    assert bot.event(event).status_code == 200
    assert slack.calls("chat.postMessage") == []


# --- perfbot run: what it says when it cannot start ------------------------------------


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    args = _parser().parse_args(argv)  # the real command line
    code = args.func(args, io.StringIO())
    return code, capsys.readouterr().err


@pytest.fixture
def no_slack_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "PERFBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./perfbot.yaml: the built-in settings
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "argv", "missing"),
    [
        ({}, ["run"], "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": TOKEN}, ["run"], "SLACK_APP_TOKEN"),
        ({"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": "xapp-1"}, ["run", "--http", "0"],
         "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "  "}, ["run", "--http", "0"], "SLACK_BOT_TOKEN"),
    ],
    ids=["bot-token", "app-token", "signing-secret", "blank-bot-token"],
)
def test_run_names_the_missing_variable(
    no_slack_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    env: dict[str, str], argv: list[str], missing: str,
) -> None:
    for name, value in env.items():
        no_slack_env.setenv(name, value)
    code, err = run(argv, capsys)
    assert code == 2
    assert f"{missing} is not set" in err
    assert "Traceback" not in err


def test_run_refuses_a_bad_at_before_calling_slack(
    no_slack_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], slack: SlackStandIn
) -> None:
    no_slack_env.setenv("SLACK_BOT_TOKEN", TOKEN)
    no_slack_env.setenv("SLACK_SIGNING_SECRET", SECRET)
    code, err = run(["run", "--http", "0", "--slack-api-url", slack.api_url,
                     "--at", "tomorrow"], capsys)
    assert code == 2
    assert "--at: expected a time like 2026-11-20T14:00, got 'tomorrow'" in err
    assert slack.calls() == []


def test_run_stops_cleanly_on_sigterm(slack: SlackStandIn, tmp_path: Path) -> None:
    # What `docker stop` and systemd send; the process is real, signals need a main thread.
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "PERFBOT_METRICS__DEMO_DAYS": "3"}
    env.pop("PERFBOT_CONFIG", None)
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--http", "0", "--host", "127.0.0.1",
         "--slack-api-url", slack.api_url],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert bot.stdout is not None
        for line in bot.stdout:  # until it serves
            if "HTTP mode on" in line:
                break
        bot.send_signal(signal.SIGTERM)
        out, err = bot.communicate(timeout=30)
    finally:
        bot.kill()
    assert bot.returncode == 0, err
    assert "perfbot: stopped" in out
    assert "Traceback" not in err


def test_run_reports_what_slack_said_about_a_wrong_token(
    no_slack_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], slack: SlackStandIn
) -> None:
    no_slack_env.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    no_slack_env.setenv("SLACK_SIGNING_SECRET", SECRET)
    code, err = run(["run", "--http", "0", "--slack-api-url", slack.api_url], capsys)
    assert code == 2
    assert "Slack refused SLACK_BOT_TOKEN: auth.test said 'invalid_auth'" in err
    assert [c.method for c in slack.calls()] == ["auth.test"]


def test_run_reports_an_unreachable_slack(
    no_slack_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    no_slack_env.setenv("SLACK_BOT_TOKEN", TOKEN)
    no_slack_env.setenv("SLACK_SIGNING_SECRET", SECRET)
    code, err = run(["run", "--http", "0", "--slack-api-url", f"http://127.0.0.1:{port}/api/"],
                    capsys)
    assert code == 1
    assert "could not reach Slack" in err


def home_opened(bot: Bot, slack: SlackStandIn, user: str) -> list[dict[str, Any]]:
    """``user`` opens the Home tab: the blocks published for them."""
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home",
             "event_ts": "1700000005.000100"}
    assert bot.event(event, event_id=f"EvHome{user}").status_code == 200
    (published,) = slack.calls("views.publish", delivered=True)
    assert published.args["user_id"] == user
    view = published.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "home"
    blocks: list[dict[str, Any]] = view["blocks"]
    validate_blocks(blocks)
    return blocks


def section_texts(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """Each section's first bold line (its heading) and the text after it."""
    found = {}
    for block in blocks:
        if block["type"] == "section" and block["text"]["text"].startswith("*"):
            heading, _, rest = block["text"]["text"].partition("\n")
            found[heading.split("*")[1]] = rest
    return found


def test_app_home_shows_examples_and_that_nothing_is_open_or_on_call(
    bot: Bot, slack: SlackStandIn
) -> None:
    # The running loop's refresh tick discovers the catalog at start; App Home uses its
    # names (never discovering itself: tests/integration/test_prometheus_deadline.py).
    assert bot.perfbot.catalog.entries
    sections = section_texts(home_opened(bot, slack, "U2"))
    assert list(sections) == ["On call now", "Open incidents", "Ask me", "Commands",
                              "Your subscriptions"]
    assert sections["On call now"] == NO_ONCALL
    assert sections["Open incidents"] == NO_INCIDENTS
    help_reply = expected(bot.perfbot, "help", user="U2")
    assert help_reply.examples
    assert all(f"• {example}" in sections["Ask me"] for example in help_reply.examples)
    assert sections["Your subscriptions"].startswith("None yet")
    assert "/perf digest" in sections["Your subscriptions"]


def test_app_home_names_who_is_on_call(
    slack: SlackStandIn, demo_backend: DemoBackend, tmp_path: Path
) -> None:
    perfbot = replace(perfbot_for(demo_backend, tmp_path / "perfbot.db"),
                      oncall=lambda: ["U1", "U3"])
    with Bot(perfbot, slack, inline=True) as served:
        sections = section_texts(home_opened(served, slack, "U1"))
    assert sections["On call now"] == "<@U1>, <@U3>"


def test_app_home_of_an_unknown_user_crashes_nothing(bot: Bot, slack: SlackStandIn) -> None:
    event = {"type": "app_home_opened", "user": "U404", "tab": "home", "event_ts": "1.2"}
    assert bot.event(event, event_id="EvHome404").status_code == 200
    assert [c.error for c in slack.calls("views.publish")] == ["user_not_found"]


def test_manifest_declares_what_the_app_uses() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[2] / "slack-manifest.yaml").read_text())
    features, settings = manifest["features"], manifest["settings"]
    assert [c["command"] for c in features["slash_commands"]] == ["/perf"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"]
    assert {"app_mention", "message.im", "app_home_opened"} <= set(
        settings["event_subscriptions"]["bot_events"])
    # The scopes behind every Web API method the bot calls.
    assert {"chat:write", "commands", "files:write", "users:read", "app_mentions:read",
            "im:history"} <= set(manifest["oauth_config"]["scopes"]["bot"])
