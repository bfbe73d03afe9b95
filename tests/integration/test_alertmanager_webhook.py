"""Alertmanager in: a real Alertmanager sends its webhook to ``perfbot run --http PORT``
(``POST /alertmanager`` beside Slack's events); incidents are posted on the Slack stand-in.
Alerts are fed through Alertmanager's own API, so grouping, repeats and resolutions are
Alertmanager's. Bad input is posted straight to the bot's port."""

from __future__ import annotations

import io
import json
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import yaml
from slack_sdk.signature import SignatureVerifier

from bot.cli import _parser
from bot.cli_slack import cmd_run
from bot.incidents.lifecycle import Incident, State
from bot.storage import Database
from bot.storage.audit import AuditStore
from bot.storage.incidents import IncidentStore
from tests.alertmanager_server import AlertmanagerServer
from tests.integration.test_slack_socket_mode import AT
from tests.prometheus_server import free_port
from tests.slack_bot import SECRET, command_body, view_submission_body
from tests.slack_standin import TOKEN, SlackStandIn

AM_TOKEN = "am-token-0123456789"


@dataclass
class Bot:
    url: str  # the operational port
    slack: SlackStandIn
    store: IncidentStore
    out: io.StringIO
    am_port: int  # where the bot creates silences (alertmanager.url)

    def command(self, text: str) -> str:
        """``/perf text`` from U1, signed as Slack signs it; what the bot answered."""
        body = command_body(text, self.slack, channel="C1", user="U1")
        stamp = str(int(time.time()))
        before = len(self.slack.calls("response_url"))
        answer = httpx.post(f"{self.url}/slack/events", content=body, timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
                timestamp=stamp, body=body)})
        assert answer.status_code == 200, answer.text
        _wait_for(lambda: len(self.slack.calls("response_url")) > before, "the answer",
                  self.out)
        return json.dumps(self.slack.calls("response_url")[-1].args)

    def signed(self, body: bytes) -> None:
        """A form-encoded ``payload`` (a press, a modal's submission) from Slack, signed."""
        stamp = str(int(time.time()))
        answer = httpx.post(f"{self.url}/slack/events", content=body, timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
                timestamp=stamp, body=body)})
        assert answer.status_code == 200, answer.text
        assert answer.text == ""  # acknowledged (a modal: closed)

    def press(self, user: str, act: str, incident: Incident) -> None:
        """``user`` presses ``act`` on the incident's message as the stand-in holds it."""
        assert incident.message_ts is not None
        shown = self.slack.message(incident.channel, incident.message_ts)
        payload = {
            "type": "block_actions", "token": "legacy", "api_app_id": "A1",
            "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"},
            "container": {"type": "message", "message_ts": incident.message_ts,
                          "channel_id": incident.channel},
            "channel": {"id": incident.channel}, "trigger_id": f"9.{time.monotonic_ns()}",
            "message": {"type": "message", "ts": incident.message_ts, "text": shown["text"],
                        "blocks": shown["blocks"]},
            "actions": [{"type": "button", "action_id": f"alert.{act}:{incident.name}",
                         "block_id": "alert_actions", "value": incident.name,
                         "action_ts": "1700000100.1"}]}
        self.signed(urlencode({"payload": json.dumps(payload)}).encode())

    def posts(self, alertname: str) -> list[dict[str, Any]]:
        return [c.args for c in self.slack.calls("chat.postMessage")
                if alertname in json.dumps(c.args)]

    def incidents(self, alertname: str) -> list[Incident]:
        return [i for i in self.store.listed(open_only=False, limit=1000)
                if i.alert.labels.get("alertname") == alertname]

    def webhook(self, body: bytes | dict[str, Any], token: str | None = AM_TOKEN,
                **headers: str) -> httpx.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **headers}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return httpx.post(f"{self.url}/alertmanager", content=data, headers=sent, timeout=10)


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Bot]:
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    monkeypatch.setenv("PERFBOT_ALERTMANAGER_TOKEN", AM_TOKEN)
    monkeypatch.chdir(tmp_path)
    am_port = free_port()
    config = tmp_path / "perfbot.yaml"
    url = f"sqlite:///{tmp_path / 'perfbot.db'}?timeout=1"  # a locked store fails fast
    config.write_text(yaml.safe_dump({
        "metrics": {"backend": "demo", "demo_days": 3},
        "storage": {"url": url},
        "detection": {"interval": "24h"},  # the bot's own incidents stay out of the way
        "incidents": {"default_channel": "C1"},
        "catalog": {"services": {"orders": {"channel": "C2"}}},
        "alertmanager": {"url": f"http://127.0.0.1:{am_port}"},
        "slack": {"admins": ["U1"]},
    }), encoding="utf-8")
    with SlackStandIn(channels={"C1": True, "C2": True}) as slack:
        args = _parser().parse_args(["run", "--config", str(config), "--slack-api-url",
                                     slack.api_url, "--at", AT, "--http", "0",
                                     "--host", "127.0.0.1"])
        out, stop = io.StringIO(), threading.Event()
        thread = threading.Thread(target=lambda: cmd_run(args, out, stop), name="perfbot-run")
        thread.start()
        port = _wait_for(lambda: re.search(r"HTTP mode on 127\.0\.0\.1:(\d+)", out.getvalue()),
                         "the bot's port", out)
        _wait_for(lambda: "incidents loop on" in out.getvalue(), "the loop", out)
        database = Database(url)
        try:
            yield Bot(f"http://127.0.0.1:{port.group(1)}", slack, IncidentStore(database), out,
                      am_port)
        finally:
            stop.set()
            thread.join(60)
            database.engine().dispose()


def _wait_for(what: Callable[[], Any], name: str, out: io.StringIO | None = None,
              timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"never saw {name}" + (f"; output:\n{out.getvalue()}" if out else ""))


def payload(status: str = "firing", *, labels: dict[str, str] | None = None,
            fingerprint: str = "f00d", starts: str = "2026-12-03T09:00:00Z",
            ends: str = "0001-01-01T00:00:00Z", **extra: Any) -> dict[str, Any]:
    alert_labels = labels or {"alertname": "HighLatency", "service": "orders"}
    return {"version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0,
            "status": status, "receiver": "perfbot", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am.test", **extra,
            "alerts": [{"status": status, "labels": alert_labels,
                        "annotations": {"summary": "p95 above 1s"}, "startsAt": starts,
                        "endsAt": ends, "generatorURL": "http://prom.test",
                        "fingerprint": fingerprint}]}


# --- a real Alertmanager ---------------------------------------------------------------------

def test_firing_repeating_grouped_and_resolved_through_a_real_alertmanager(
        bot: Bot, tmp_path: Path) -> None:
    with AlertmanagerServer(tmp_path, f"{bot.url}/alertmanager", AM_TOKEN) as am:
        starts = datetime.now(UTC)
        one = {"alertname": "CheckoutSlow", "service": "orders", "instance": "a"}
        two = {"alertname": "CheckoutSlow", "service": "orders", "instance": "b"}
        am.post(one, starts=starts)
        am.post(two, starts=starts)
        # grouped: one notification of both alerts, one incident (and message) per alert
        _wait_for(lambda: len(bot.posts("CheckoutSlow")) == 2, "two posts", bot.out)
        incidents = bot.incidents("CheckoutSlow")
        assert len(incidents) == 2 and all(i.is_open for i in incidents)
        assert {i.channel for i in incidents} == {"C2"}  # the catalog's channel of orders
        first = am.notifications()
        # repeating: Alertmanager notifies again (repeat_interval 4s); nothing new is posted
        _wait_for(lambda: am.notifications() >= first + 1, "a repeat notification",
                  timeout=30)
        time.sleep(1)
        assert len(bot.posts("CheckoutSlow")) == 2
        assert len(bot.incidents("CheckoutSlow")) == 2
        # resolved
        am.resolve(one, starts)
        _wait_for(lambda: any(i.state is State.RESOLVED for i in bot.incidents("CheckoutSlow")),
                  "a resolution", bot.out, timeout=30)
        states = sorted(i.alert.labels["instance"] + ":" + i.state
                        for i in bot.incidents("CheckoutSlow"))
        assert states == ["a:resolved", "b:triggered"]
        assert len(bot.posts("CheckoutSlow")) == 2


def test_a_silence_from_slack_is_created_in_alertmanager_and_stops_its_notifications(
        bot: Bot, tmp_path: Path) -> None:
    with AlertmanagerServer(tmp_path, f"{bot.url}/alertmanager", AM_TOKEN,
                            port=bot.am_port) as am:
        labels = {"alertname": "Noisy", "service": "orders", "note": 'a "quoted" {value}'}
        am.post(labels, starts=datetime.now(UTC))
        _wait_for(lambda: bot.posts("Noisy"), "the post", bot.out, timeout=30)
        [incident] = bot.incidents("Noisy")
        answer = bot.command(f"silence {incident.name} 2h deploy in progress")
        [silence] = am.silences()
        assert silence["id"] in answer and silence["status"]["state"] == "active"
        assert silence["createdBy"] == "U1" and silence["comment"] == "deploy in progress"
        assert {(m["name"], m["value"]) for m in silence["matchers"]} == set(labels.items())
        # its id is said in the incident's thread and kept for unsilence
        _wait_for(lambda: any(silence["id"] in json.dumps(c.args)
                              for c in bot.slack.calls("chat.postMessage")), "the thread reply",
                  bot.out)
        # silenced: Alertmanager sends nothing more (repeat_interval is 4s)
        time.sleep(1.5)
        sent = am.notifications()
        time.sleep(7)
        assert am.notifications() == sent
        answer = bot.command(f"unsilence {incident.name}")
        assert "deleted" in answer
        [expired] = am.silences()
        assert expired["status"]["state"] == "expired"
        _wait_for(lambda: am.notifications() > sent, "notifications again", timeout=30)


def test_the_silence_button_creates_the_silence_in_alertmanager_and_unsilence_deletes_it(
        bot: Bot, tmp_path: Path) -> None:
    with AlertmanagerServer(tmp_path, f"{bot.url}/alertmanager", AM_TOKEN,
                            port=bot.am_port) as am:
        labels = {"alertname": "Pressed", "service": "orders", "note": 'a "quoted" {value}'}
        am.post(labels, starts=datetime.now(UTC))
        _wait_for(lambda: bot.posts("Pressed"), "the post", bot.out, timeout=30)
        _wait_for(lambda: bot.incidents("Pressed")[0].message_ts, "its ts", bot.out)
        [incident] = bot.incidents("Pressed")
        assert "alert.silence:" in json.dumps(
            bot.slack.message(incident.channel, str(incident.message_ts))["blocks"])
        bot.press("U2", "silence", incident)  # not allowed: no form, nothing silenced
        _wait_for(lambda: bot.slack.calls("chat.postEphemeral"), "the refusal", bot.out)
        assert bot.slack.calls("views.open") == [] and am.silences() == []
        bot.press("U1", "silence", incident)
        [opened] = _wait_for(lambda: bot.slack.calls("views.open"), "the form", bot.out)
        view = opened.args["view"]
        view = json.loads(view) if isinstance(view, str) else view
        bot.signed(view_submission_body("U1", view, {"duration": "2h",
                                                     "comment": "noisy during the deploy"}))
        [silence] = _wait_for(am.silences, "the silence in Alertmanager", bot.out)
        assert silence["status"]["state"] == "active"
        assert silence["createdBy"] == "U1" and silence["comment"] == "noisy during the deploy"
        assert {(m["name"], m["value"]) for m in silence["matchers"]} == set(labels.items())
        ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
        assert timedelta(hours=1, minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=2)
        # Stored, then shown: its id on the message, and Unsilence in place of Silence.
        stored = _wait_for(lambda: [i for i in bot.incidents("Pressed")
                                    if i.alertmanager_silence == silence["id"]], "the store")[0]
        def message() -> dict[str, Any]:
            return bot.slack.message(stored.channel, str(stored.message_ts))

        _wait_for(lambda: f"silence {silence['id']}" in json.dumps(message()["blocks"]),
                  "the message showing the silence", bot.out)
        shown = message()
        assert "alert.unsilence:" in json.dumps(shown["blocks"])
        assert "alert.silence:" not in json.dumps(shown["blocks"])
        bot.press("U1", "unsilence", stored)
        _wait_for(lambda: am.silences()[0]["status"]["state"] == "expired", "the deletion",
                  bot.out)
        _wait_for(lambda: bot.incidents("Pressed")[0].alertmanager_silence is None,
                  "the store", bot.out)
        rows = AuditStore(bot.store.database).recent()
        assert [(r.user, r.action, r.allowed) for r in rows] == [
            ("U1", "unsilence", True), ("U1", "silence", True), ("U2", "silence", False)]


# --- bad input and its refusals ------------------------------------------------------------

def test_a_missing_or_wrong_token_is_401_and_changes_nothing(bot: Bot) -> None:
    for token in (None, "wrong", AM_TOKEN + "x", AM_TOKEN[:-1]):
        answer = bot.webhook(payload(), token=token)
        assert answer.status_code == 401, (token, answer.text)
    answer = bot.webhook(payload(), token=None, Authorization=f"Basic {AM_TOKEN}")
    assert answer.status_code == 401
    assert bot.incidents("HighLatency") == []


def test_unknown_fields_are_ignored_missing_and_wrong_types_say_what(bot: Bot) -> None:
    extra = payload(surprise={"a": 1})
    extra["alerts"][0]["newField"] = [1, 2]
    assert bot.webhook(extra).status_code == 200
    missing = payload(fingerprint="f1")
    del missing["alerts"][0]["labels"]
    answer = bot.webhook(missing)
    assert answer.status_code == 400 and "alerts.0.labels: Field required" in answer.text
    wrong = payload(fingerprint="f2")
    wrong["truncatedAlerts"] = "many"
    answer = bot.webhook(wrong)
    assert answer.status_code == 400 and "truncatedAlerts" in answer.text
    assert bot.webhook(b"{not json").status_code == 400
    assert bot.webhook(payload(), **{"Content-Type": "text/plain"}).status_code == 415
    assert len(bot.incidents("HighLatency")) == 1


def test_a_10_mb_body_is_refused_before_it_is_read(bot: Bot) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      f"{AM_TOKEN}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {10 * 1024 * 1024}\r\n\r\n").encode())
        answer = sock.recv(4096).decode()  # not one byte of the body was sent
    assert answer.startswith("HTTP/1.0 413") or answer.startswith("HTTP/1.1 413"), answer


def test_truncated_unknown_service_and_hostile_labels(bot: Bot) -> None:
    labels = {"alertname": "Weird", "service": 'pay"}{ments\nx', "route": '/a"}'}
    assert bot.webhook(payload(labels=labels, truncatedAlerts=3)).status_code == 200
    _wait_for(lambda: bot.posts("Weird"), "the post", bot.out)
    post = bot.posts("Weird")[0]
    text = json.dumps(post)
    assert post["channel"] == "C1"
    assert "not in the catalog: routed to the default channel" in text
    assert "left 3 alert(s)" in text


def test_duplicate_concurrent_deliveries_end_in_one_incident_and_one_message(bot: Bot) -> None:
    body = payload(labels={"alertname": "Dup", "service": "orders"}, fingerprint="d0d0")
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(bot.webhook(body).status_code))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 8
    _wait_for(lambda: bot.posts("Dup"), "the post", bot.out)
    time.sleep(2.5)  # a sweep or more: a second message would be out by now
    assert len(bot.incidents("Dup")) == 1 and len(bot.posts("Dup")) == 1


def test_resolved_before_firing_ends_resolved_and_unposted(bot: Bot) -> None:
    labels = {"alertname": "Late", "service": "orders"}
    resolved = payload("resolved", labels=labels, fingerprint="1a7e",
                       ends="2026-12-03T09:05:00Z")
    assert bot.webhook(resolved).status_code == 200
    assert bot.webhook(payload(labels=labels, fingerprint="1a7e")).status_code == 200
    time.sleep(2.5)
    [incident] = bot.incidents("Late")
    assert incident.state is State.RESOLVED
    assert bot.posts("Late") == []


def test_an_unwritable_store_is_503_and_alertmanager_may_retry(bot: Bot, tmp_path: Path
                                                                ) -> None:
    locker = sqlite3.connect(tmp_path / "perfbot.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another writer holds the store
    try:
        answer = bot.webhook(payload(labels={"alertname": "NoStore", "service": "orders"},
                                     fingerprint="5703"))
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert answer.status_code == 503, answer.text
    assert bot.incidents("NoStore") == []
    assert bot.webhook(payload(labels={"alertname": "NoStore", "service": "orders"},
                               fingerprint="5703")).status_code == 200
    assert len(bot.incidents("NoStore")) == 1


def test_an_alert_not_repeated_resolves_on_its_own(bot: Bot) -> None:
    labels = {"alertname": "Gone", "service": "orders"}
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    assert bot.webhook(payload(labels=labels, fingerprint="6011", ends=soon)).status_code == 200
    _wait_for(lambda: [i for i in bot.incidents("Gone") if i.state is State.RESOLVED],
              "the expiry", bot.out, timeout=30)
