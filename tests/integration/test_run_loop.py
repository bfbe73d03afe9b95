"""``perfbot run`` starts the incidents loop once Slack is connected and stops it on the way
out; ``--no-loop`` only answers. HTTP mode against the Slack stand-in on loopback."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.cli import _parser
from bot.cli_slack import cmd_run
from bot.durations import format_duration
from bot.schedule import SWEEP_EVERY
from tests.integration.test_slack_socket_mode import AT, bots_threads
from tests.slack_standin import TOKEN, SlackStandIn


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SlackStandIn]:
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    monkeypatch.setenv("PERFBOT_METRICS__DEMO_DAYS", "3")
    monkeypatch.chdir(tmp_path)  # the database (storage.url's default) lands here
    with SlackStandIn(users={"U1": "Europe/Paris"}) as standin:
        yield standin


def run_until(slack: SlackStandIn, *options: str,
              until: threading.Event | None = None) -> tuple[int, str, list[datetime]]:
    """``perfbot run --http 0`` in a thread, stopped once ``until`` is set (at once without
    it); its exit status, its output and the times the loop delivered the outbox at."""
    before = set(threading.enumerate())
    args = _parser().parse_args(["run", "--slack-api-url", slack.api_url, "--at", AT,
                                 "--http", "0", "--host", "127.0.0.1", *options])
    out, stop = io.StringIO(), threading.Event()
    delivered: list[datetime] = []
    codes: list[int] = []

    def deliver(now: datetime) -> int:
        delivered.append(now)
        if until is not None:
            until.set()
        return 0

    thread = threading.Thread(target=lambda: codes.append(
        cmd_run(args, out, stop, deliver=deliver)), name="perfbot-run")
    thread.start()
    if until is not None:
        assert until.wait(120), f"the loop never delivered; output so far:\n{out.getvalue()}"
    stop.set()
    thread.join(60)
    assert not thread.is_alive(), "perfbot run did not stop"
    assert bots_threads(before) == []  # the scheduler's thread too
    return codes[0], out.getvalue(), delivered


def test_the_loop_runs_once_connected_and_stops_with_the_bot(slack: SlackStandIn) -> None:
    code, out, delivered = run_until(slack, until=threading.Event())
    assert code == 0 and delivered
    lines = out.splitlines()
    assert lines[1].startswith("perfbot: HTTP mode on 127.0.0.1:")
    assert lines[2].startswith("perfbot: webhooks on 127.0.0.1:")  # /alertmanager too
    assert lines[3] == ("perfbot: incidents loop on: detection every 5m, escalation sweep "
                        f"every {format_duration(SWEEP_EVERY)}; leader: this process (SQLite "
                        "is for one process)")
    assert lines[-1] == "perfbot: stopped"


def test_no_loop_only_answers(slack: SlackStandIn) -> None:
    code, out, delivered = run_until(slack, "--no-loop")
    assert code == 0 and delivered == []
    assert "perfbot: --no-loop: answering questions only" in out
    assert "incidents loop on" not in out
