"""Secrets never reach the output of a real ``perfbot`` process: a storage.url it cannot
read (its password holding ``/``) and a token in the settings file, whatever its case, are
refused with a specific message, no traceback, and the secret nowhere in stdout or stderr."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot_process import REPO, SECRET
from tests.slack_standin import TOKEN, SlackStandIn

PASSWORD = "s3cr/etPW"
FILE_TOKEN = "xoxb-from-the-file-42"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(channels={"C1": True}, users={"U1": "UTC"}) as running:
        yield running


def perfbot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "PYTHONPATH": str(REPO),
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)


def run_args(config: Path, slack: SlackStandIn) -> list[str]:
    return ["run", "--config", str(config), "--http", "0", "--host", "127.0.0.1",
            "--slack-api-url", slack.api_url]


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_an_unreadable_storage_url_exits_with_its_password_masked(
    tmp_path: Path, slack: SlackStandIn, command: str,
) -> None:
    config = tmp_path / "perfbot.yaml"
    config.write_text(f"storage:\n  url: 'postgresql+psycopg://bot:{PASSWORD}@db.example:"
                      "notaport/perfbot'\n", encoding="utf-8")
    args = ["check-config", "--config", str(config)] if command == "check-config" \
        else run_args(config, slack)
    done = perfbot(tmp_path, *args)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "storage.url: expected a database URL like postgresql+psycopg://" in done.stderr
    assert "'postgresql+psycopg://bot:***@db.example:notaport/perfbot'" in done.stderr
    assert "Traceback" not in output
    for part in (PASSWORD, "s3cr", "etPW"):
        assert part not in output


@pytest.mark.parametrize("key", ["SLACK_BOT_TOKEN", "Slack_Bot_Token"])
def test_a_token_in_the_file_is_refused_whatever_its_case(
    tmp_path: Path, slack: SlackStandIn, key: str,
) -> None:
    config = tmp_path / "perfbot.yaml"
    config.write_text(f"{key}: {FILE_TOKEN}\n", encoding="utf-8")
    for args in (["check-config", "--config", str(config)], run_args(config, slack)):
        done = perfbot(tmp_path, *args)
        output = done.stdout + done.stderr
        assert done.returncode == 2, output
        assert (f"{key}: secrets are read from the environment only (set SLACK_BOT_TOKEN), "
                "remove it from the file") in done.stderr
        assert FILE_TOKEN not in output and "Traceback" not in output
    assert slack.calls("auth.test") == []
