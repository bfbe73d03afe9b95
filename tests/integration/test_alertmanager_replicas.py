"""Two ``perfbot run`` processes on one real PostgreSQL receive the same Alertmanager group at
the same moment (two Alertmanagers of a cluster, each notifying a different replica): each
alert still ends in one incident and one Slack message (counted at the stand-in)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.storage import Database
from bot.storage.incidents import IncidentStore
from tests.bot_process import BotProcess, minutely_policy, standin, wait_until, write_config
from tests.integration.test_alertmanager_webhook import payload
from tests.postgres_server import PostgresServer
from tests.slack_standin import SlackStandIn

TOKEN = "am-token-replicas-0123456789"
ALERTS = 5  # at most incidents.storm_threshold: each its own message, no storm summary


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as stand_in:
        yield stand_in


def port_of(bot: BotProcess) -> int:
    found = re.search(r"HTTP mode on 127\.0\.0\.1:(\d+)", bot.output())
    assert found, bot.output()
    return int(found.group(1))


def test_the_same_group_at_two_replicas_at_once_ends_in_one_incident_and_one_message(
    tmp_path: Path, slack: SlackStandIn, postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERFBOT_ALERTMANAGER_TOKEN", TOKEN)  # the processes inherit it
    url = postgres_server.create_database()
    config = write_config(tmp_path / "perfbot.yaml", url, minutely_policy())
    store = IncidentStore(Database(url))
    store.listed()  # the schema, before the bots open the database
    since = datetime.now(UTC)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with BotProcess(tmp_path / "a", slack, config, since=since) as a, \
            BotProcess(tmp_path / "b", slack, config, since=since) as b:
        for bot in (a, b):
            bot.start()
        ports = [port_of(a), port_of(b)]
        answers: list[int] = []

        def post(port: int, body: dict[str, Any], start: threading.Barrier) -> None:
            with httpx.Client(timeout=30) as http:
                start.wait(timeout=10)
                answers.append(http.post(
                    f"http://127.0.0.1:{port}/alertmanager", json=body,
                    headers={"Authorization": f"Bearer {TOKEN}"}).status_code)

        for number in range(ALERTS):  # each group sent to both replicas at the same moment
            body = payload(labels={"alertname": f"Twice{number:02d}", "service": "orders"},
                           fingerprint=f"7a1c{number:04x}")
            start = threading.Barrier(2)
            threads = [threading.Thread(target=post, args=(port, body, start))
                       for port in ports]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        assert answers == [200] * (2 * ALERTS)

        def posted(name: str) -> int:
            """Its channel messages (not the pages' DMs and thread lines that follow)."""
            return sum(1 for c in slack.calls("chat.postMessage")
                       if name in json.dumps(c.args) and not c.args.get("thread_ts")
                       and not str(c.args.get("channel", "")).startswith("D"))

        names = [f"Twice{n:02d}" for n in range(ALERTS)]
        wait_until("every alert posted", lambda: all(posted(n) for n in names), alive=a)
        time.sleep(3)  # more sweeps (a minute of the bots' clock): a second post is out
        incidents = [i for i in store.listed(open_only=False, limit=1000)
                     if i.alert.labels.get("alertname", "").startswith("Twice")]
        per_alert = {n: sum(1 for i in incidents if i.alert.labels["alertname"] == n)
                     for n in names}
        assert per_alert == dict.fromkeys(names, 1)
        assert {n: posted(n) for n in names} == dict.fromkeys(names, 1)
    store.database.close()
