"""``perfbot run`` in Socket Mode (its default), for real: slack_sdk's builtin WebSocket client
against the stand-in's Socket Mode endpoint, answering through the stand-in's Web API."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import build
from bot.ask.answer import ask
from bot.cli import _parser
from bot.cli_slack import GRACE, PING_INTERVAL, cmd_run
from bot.clock import FakeClock
from bot.config import load_settings
from bot.render.blocks import SlackMessage, answer_message, text_message
from bot.slack.replier import RESTARTED
from tests.slack_standin import APP_TOKEN, TOKEN, SlackStandIn

AT = "2026-11-23T12:00:00+00:00"  # the bot's clock stands still here: answers are repeatable
QUESTION = "p95 of orders last 24h"
USERS = {"U1": "Europe/Paris"}


class Running:
    """``perfbot run`` in a thread, as the command line starts it; stopped on exit, and
    checked to leave none of its threads behind."""

    def __init__(self, slack: SlackStandIn, *, ping_interval: float = PING_INTERVAL,
                 grace: float = GRACE) -> None:
        args = _parser().parse_args(["run", "--slack-api-url", slack.api_url, "--at", AT])
        assert args.func is cmd_run
        self.slack = slack
        self.out = io.StringIO()
        self.stop = threading.Event()
        self.code: int | None = None
        self._before = set(threading.enumerate())

        def target() -> None:
            try:
                self.code = cmd_run(args, self.out, self.stop, ping_interval=ping_interval,
                                    grace=grace)
            finally:
                slack.socket_mode.wake()  # a bot that gave up is not waited for

        self.thread = threading.Thread(target=target, name="perfbot-run")

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def wait_connected(self, count: int = 1) -> None:
        """Until the bot opened its ``count``-th Socket Mode connection; fails at once if
        ``perfbot run`` exited instead (its stderr is in the captured output)."""
        self.slack.socket_mode.wait_for_connection(
            count, unless=lambda: not self.thread.is_alive())

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "perfbot run did not stop"
        assert self.code == 0
        assert bots_threads(self._before) == []


def bots_threads(before: set[threading.Thread]) -> list[str]:
    """The bot's threads started since ``before`` and still alive. Not counted: the stand-in's
    (they end on their own schedule) and Bolt's idle listener pool (Bolt has no way to shut
    it down; idle workers end with the interpreter), nor the one watchdog of the metrics
    calls' deadlines (``perfbot-deadlines``, one per process, idle between calls)."""
    return sorted(t.name for t in set(threading.enumerate()) - before if t.is_alive()
                  and not t.name.startswith(("ThreadPoolExecutor-", "standin-",
                                             "perfbot-deadlines"))
                  and not t.name.endswith("(process_request_thread)"))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """What ``perfbot run`` reads: both tokens, the demo workload (3 days: quick to make)."""
    for name in ("SLACK_SIGNING_SECRET", "PERFBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("PERFBOT_METRICS__DEMO_DAYS", "3")
    monkeypatch.chdir(tmp_path)  # no ./perfbot.yaml; the audit database lands here
    return monkeypatch


@pytest.fixture
def slack(env: pytest.MonkeyPatch) -> Iterator[SlackStandIn]:
    with SlackStandIn(users=dict(USERS)) as standin:
        yield standin


def expected(text: str, user: str = "U1") -> SlackMessage:
    """What the bot should answer: the core, on the same settings and clock as the bot."""
    moment = datetime.fromisoformat(AT)
    perfbot = build(load_settings(None), clock=FakeClock(moment))
    sources = replace(perfbot.sources, tz=ZoneInfo(USERS[user]))
    return answer_message(ask(text, sources, perfbot.now(), chart=True))


def slash_command(slack: SlackStandIn, text: str) -> dict[str, Any]:
    """A ``slash_commands`` envelope's payload: the form fields of HTTP mode, as JSON."""
    return {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "channel_id": "C1",
            "user_id": "U1", "command": "/perf", "text": text, "trigger_id": "1.2.3",
            "response_url": f"{slack.url}/response/1", "is_enterprise_install": "false"}


def mention_event(text: str, ts: str, event_id: str = "Ev1") -> dict[str, Any]:
    event = {"type": "app_mention", "user": "U1", "text": f"<@UBOT> {text}", "ts": ts,
             "channel": "C1", "event_ts": ts}
    return {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event": event, "event_id": event_id, "event_time": 1700000000}


def test_slash_command_is_acked_over_the_socket_then_answered(slack: SlackStandIn) -> None:
    socket = slack.socket_mode
    with Running(slack) as bot:
        bot.wait_connected()
        slow = slack.hold("chat.postMessage")  # Slack slow to take the "Looking…" message
        envelope = socket.push("slash_commands", slash_command(slack, QUESTION),
                               accepts_response_payload=True)
        # Acked while the bot's first Web API call is still waiting: the ack is not the answer.
        assert socket.wait_for_ack(envelope) == {"envelope_id": envelope}
        assert slack.calls("chat.postMessage") == []
        slow.set()
        update = slack.wait_for("chat.update")[0]
        slack.wait_for("files.completeUploadExternal")
    assert "perfbot: Socket Mode connected" in bot.out.getvalue()
    looking = slack.calls("chat.postMessage", delivered=True)
    assert [c.args["channel"] for c in looking] == ["C1"]
    assert "Looking" in looking[0].args["text"]
    want = expected(QUESTION)
    assert update.args["text"] == want.text
    assert update.args["blocks"] == list(want.blocks)
    # The answer replaced the "Looking…" message: one message in the channel.
    assert list(slack.state.messages) == [("C1", update.args["ts"])]
    assert slack.message("C1", update.args["ts"])["blocks"] == list(want.blocks)
    # The app token opened the socket, the bot token did the rest: the stand-in refuses
    # any other pairing with invalid_auth.
    assert [c.method for c in slack.calls()][:2] == ["auth.test", "apps.connections.open"]
    assert [c for c in slack.calls() if c.error is not None] == []
    assert slack.calls("response_url") == []


def test_mention_is_acked_over_the_socket_and_answered_in_its_thread(
    slack: SlackStandIn,
) -> None:
    socket = slack.socket_mode
    with Running(slack) as bot:
        bot.wait_connected()
        envelope = socket.push("events_api", mention_event(QUESTION, "1700000001.000100"))
        assert socket.wait_for_ack(envelope) == {"envelope_id": envelope}
        update = slack.wait_for("chat.update")[0]
        slack.wait_for("files.completeUploadExternal")
    looking = slack.calls("chat.postMessage", delivered=True)
    assert [c.args["thread_ts"] for c in looking] == ["1700000001.000100"]
    assert update.args["blocks"] == list(expected(QUESTION).blocks)
    upload = slack.calls("files.completeUploadExternal")[0]
    assert upload.args["thread_ts"] == "1700000001.000100"


def test_an_envelope_redelivered_after_a_lost_ack_is_acked_and_answered_once(
    slack: SlackStandIn,
) -> None:
    socket = slack.socket_mode
    with Running(slack) as bot:
        bot.wait_connected()
        first = socket.push("events_api", mention_event(QUESTION, "1700000001.000100"))
        socket.wait_for_ack(first)
        slack.wait_for("chat.update")
        # Slack resends an envelope whose ack it did not get: new envelope, same event.
        again = socket.push("events_api", mention_event(QUESTION, "1700000001.000100"),
                            retry_attempt=1)
        assert socket.wait_for_ack(again) == {"envelope_id": again}
        other = socket.push("events_api", mention_event(QUESTION, "1700000002.000100", "Ev2"))
        socket.wait_for_ack(other)
        slack.wait_for("chat.update", count=2)
        slack.wait_for("files.completeUploadExternal", count=2)
    threads = [c.args["thread_ts"] for c in slack.calls("chat.postMessage")]
    assert threads == ["1700000001.000100", "1700000002.000100"]


@pytest.mark.parametrize(
    ("how", "ping_interval"),
    # Slack's "disconnect" message reconnects at once; after a close frame or a cut the
    # client replaces its connection at its next check, every ``ping_interval``.
    [("disconnect-message", PING_INTERVAL), ("close-frame", 0.1), ("cut", 0.1)],
)
def test_a_dropped_socket_is_reopened_and_the_next_command_answered(
    slack: SlackStandIn, how: str, ping_interval: float,
) -> None:
    """Slack moves clients with a ``disconnect`` message, or just a close frame; a network
    failure cuts the connection."""
    socket = slack.socket_mode
    with Running(slack, ping_interval=ping_interval) as bot:
        bot.wait_connected()
        if how == "disconnect-message":
            socket.send({"type": "disconnect", "reason": "refresh_requested",
                         "debug_info": {"host": "standin"}})
        else:
            socket.drop(clean=how == "close-frame")
        bot.wait_connected(2)
        envelope = socket.push("slash_commands", slash_command(slack, QUESTION),
                               accepts_response_payload=True)
        assert socket.wait_for_ack(envelope) == {"envelope_id": envelope}
        update = slack.wait_for("chat.update")[0]
        slack.wait_for("files.completeUploadExternal")
    # A new URL for the new connection: the first was good for one connection only.
    opened = slack.calls("apps.connections.open", delivered=True)
    assert len(opened) == 2
    assert socket.refused == 0
    assert update.args["blocks"] == list(expected(QUESTION).blocks)


def run_to_exit(
    slack: SlackStandIn, capsys: pytest.CaptureFixture[str], *options: str,
    stop: threading.Event | None = None,
) -> tuple[int, str, str]:
    """``perfbot run`` that is expected to return by itself: exit status, stdout, stderr."""
    before = set(threading.enumerate())
    args = _parser().parse_args(["run", "--slack-api-url", slack.api_url, "--at", AT, *options])
    out = io.StringIO()
    code = cmd_run(args, out, stop or threading.Event())
    assert bots_threads(before) == []  # nothing of the Socket Mode client is left running
    return code, out.getvalue(), capsys.readouterr().err


def test_a_wrong_app_token_is_reported_with_what_slack_said(
    slack: SlackStandIn, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("SLACK_APP_TOKEN", "xapp-1-wrong")
    code, _, err = run_to_exit(slack, capsys)
    assert code == 2
    assert "Slack refused SLACK_APP_TOKEN: apps.connections.open said 'invalid_auth'" in err
    assert "Traceback" not in err
    assert [c.method for c in slack.calls()] == ["auth.test", "apps.connections.open"]
    assert slack.socket_mode.connections == 0


# slack_sdk 3.47 leaves the socket of a refused handshake for the garbage collector.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_a_websocket_that_does_not_open_is_reported(
    slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.socket_mode.refuse_all = True
    code, _, err = run_to_exit(slack, capsys)
    assert code == 1
    assert "the WebSocket to it did not open" in err
    assert "Traceback" not in err
    assert slack.socket_mode.refused >= 1


def test_http_mode_also_stops_when_told(
    slack: SlackStandIn, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    stop = threading.Event()
    stop.set()  # before it even serves: it must still return, not serve forever
    code, out, _ = run_to_exit(slack, capsys, "--http", "0", "--host", "127.0.0.1", stop=stop)
    assert code == 0
    assert "perfbot: HTTP mode on 127.0.0.1:" in out
    assert slack.calls("apps.connections.open") == []


def test_tokens_never_reach_the_log_even_at_debug(
    slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    socket = slack.socket_mode
    with caplog.at_level(logging.DEBUG), Running(slack) as bot:
        bot.wait_connected()
        envelope = socket.push("slash_commands", slash_command(slack, QUESTION))
        socket.wait_for_ack(envelope)
        slack.wait_for("files.completeUploadExternal")
    # Debug logging was on (slack_sdk logs its requests) and the answer was logged...
    assert any(r.name.startswith("slack_sdk") and r.levelno == logging.DEBUG
               for r in caplog.records)
    assert "answered U1 in C1 after" in caplog.text and QUESTION in caplog.text
    # ...but neither token, nor any part of them long enough to use.
    for token in (TOKEN, APP_TOKEN):
        assert token not in caplog.text
        assert token.split("-", 1)[1] not in caplog.text


def test_stopping_tells_the_askers_still_waiting_to_ask_again(slack: SlackStandIn) -> None:
    socket = slack.socket_mode
    with Running(slack, grace=0.2) as bot:
        bot.wait_connected()
        stalled = slack.hold("users.info")  # the answer stalls once under way
        envelope = socket.push("slash_commands", slash_command(slack, QUESTION))
        socket.wait_for_ack(envelope)
        slack.wait_until_held("users.info")
        bot.stop.set()  # as SIGTERM or Ctrl-C do
        bot.thread.join(timeout=30)
        assert "1 unanswered question(s) were told to ask again" in bot.out.getvalue()
        stalled.set()  # the answer now completes, too late: it must not be posted
        deadline = time.monotonic() + 20
        while any(t.name.startswith("perfbot-answer-") for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the stalled answer never ended"
            time.sleep(0.05)
    # One message in the channel, the "looking…" turned into the note; the late answer and
    # its chart were never posted.
    assert len(slack.calls("chat.postMessage", delivered=True)) == 1
    (update,) = slack.calls("chat.update")
    assert list(slack.state.messages) == [("C1", update.args["ts"])]
    restarted = text_message(RESTARTED)
    assert slack.message("C1", update.args["ts"])["blocks"] == list(restarted.blocks)
    assert slack.calls("files.completeUploadExternal") == []

