"""Alert buttons, end to end: the real Bolt app in HTTP mode is sent signed ``block_actions``
over real HTTP, talks to the Slack Web API stand-in, and records into a real SQLite file."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.analytics.findings import Severity
from bot.app import Perfbot
from bot.audit import AuditStore
from bot.config import Settings, SlackSettings, StorageSettings
from bot.metrics.demo import DemoBackend
from bot.render.alert import AlertMessage, Section, actions
from bot.render.blocks import (
    ALERT_ACTIONS_BLOCK,
    ALERT_STATUS_BLOCK,
    alert_action_id,
    alert_message,
)
from bot.slack.actions import AlertBook
from bot.slack.app import build_slack_app, make_http_server, make_web_client
from tests.conftest import DEMO_END
from tests.slack_standin import TOKEN, SlackStandIn

SECRET = "test-signing-secret"
ADMIN, STRANGER, MEMBER = "U1", "U2", "U3"
GROUP = "S1"
FINDING = "f-payments-1"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
ALERT = AlertMessage(
    finding_id=FINDING, severity=Severity.CRITICAL,
    title="🔴 CRITICAL: payments error ratio up",
    sections=[Section(title="What", text="• POST /api/checkout: errors 7.2% vs 0.1% usual"),
              Section(title="Likely cause", text="payments 2.31.0 was deployed 5 minutes before")],
    actions=actions(FINDING), chart_png=PNG,
)


class Served:
    """The Bolt app on loopback, an alert already posted in C1, and signed clicks on it."""

    def __init__(self, perfbot: Perfbot, slack: SlackStandIn) -> None:
        self.slack = slack
        client = make_web_client(TOKEN, base_url=slack.api_url)
        self.alerts = AlertBook()
        self.audit = AuditStore(perfbot.settings.storage.url)
        app = build_slack_app(perfbot, client=client, process_before_response=True,
                              signing_secret=SECRET, audit=self.audit, alerts=self.alerts)
        self.server = make_http_server(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.server_port}/slack/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.http = httpx.Client(timeout=30)
        self.ts = self.alerts.post(client, "C1", ALERT)
        self.posted = slack.message("C1", self.ts)

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.audit.close()

    def press(self, user: str, act: str, *, option: str | None = None,
              signature: str | None = None) -> httpx.Response:
        """``user`` presses ``act`` on the alert as it now stands in the channel."""
        message = self.slack.message("C1", self.ts)
        element: dict[str, Any] = {"action_id": alert_action_id(act, FINDING),
                                   "block_id": ALERT_ACTIONS_BLOCK, "action_ts": "1700000100.1"}
        if option is None:
            element |= {"type": "button", "value": FINDING}
        else:
            element |= {"type": "static_select",
                        "selected_option": {"text": {"type": "plain_text", "text": option},
                                            "value": f"{option}|{FINDING}"}}
        payload = {
            "type": "block_actions", "token": "legacy", "api_app_id": "A1",
            "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"},
            "container": {"type": "message", "message_ts": self.ts, "channel_id": "C1"},
            "channel": {"id": "C1", "name": "alerts"}, "trigger_id": "1.2.3",
            "message": {"type": "message", "user": "UBOT", "ts": self.ts,
                        "text": message["text"], "blocks": message["blocks"]},
            "response_url": f"{self.slack.url}/response/2", "actions": [element],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(time.time()))
        if signature is None:
            signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
        return self.http.post(self.url, content=body, headers=headers)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    users = {ADMIN: "Europe/Paris", STRANGER: "America/New_York", MEMBER: "Asia/Tokyo"}
    with SlackStandIn(users=users, groups={GROUP: [MEMBER, "U9"]}) as standin:
        yield standin


@pytest.fixture
def served(slack: SlackStandIn, demo_backend: DemoBackend, tmp_path: Path) -> Iterator[Served]:
    settings = Settings(
        timezone="Europe/Berlin",
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'perfbot.db'}"),
        slack=SlackSettings(admins=[ADMIN], allowed_groups=[GROUP]),
    )
    perfbot = Perfbot(settings=settings, backend=demo_backend, clock=lambda: DEMO_END)
    with Served(perfbot, slack) as bot:
        yield bot


def acts_left(blocks: list[dict[str, Any]]) -> list[str]:
    found = [b for b in blocks if b.get("block_id") == ALERT_ACTIONS_BLOCK]
    return [e["action_id"].split(":")[0].removeprefix("alert.")
            for b in found for e in b["elements"]]


def status_lines(blocks: list[dict[str, Any]]) -> list[str]:
    found = [b for b in blocks if b.get("block_id") == ALERT_STATUS_BLOCK]
    return [e["text"] for b in found for e in b["elements"]]


def test_the_posted_alert_has_every_button(served: Served) -> None:
    assert served.posted["blocks"] == list(alert_message(ALERT).blocks)
    assert acts_left(served.posted["blocks"]) == [
        "acknowledge", "snooze", "resolve", "escalate", "show_chart"]


def test_a_stranger_pressing_resolve_changes_nothing(
    served: Served, slack: SlackStandIn
) -> None:
    assert served.press(STRANGER, "resolve").status_code == 200
    assert slack.calls("chat.update") == []
    assert slack.message("C1", served.ts) == served.posted
    (refusal,) = slack.calls("chat.postEphemeral", delivered=True)
    assert refusal.args["user"] == STRANGER and refusal.args["channel"] == "C1"
    assert f"<@{ADMIN}>" in refusal.args["text"] and f"<!subteam^{GROUP}>" in refusal.args["text"]
    assert "may resolve this alert" in refusal.args["text"]
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed) == (
        STRANGER, "resolve", FINDING, False)
    assert row.at == DEMO_END


def test_an_admin_acknowledging_updates_the_alert_in_place(
    served: Served, slack: SlackStandIn
) -> None:
    assert served.press(ADMIN, "acknowledge").status_code == 200
    (update,) = slack.calls("chat.update", delivered=True)
    assert (update.args["channel"], update.args["ts"]) == ("C1", served.ts)
    blocks = slack.message("C1", served.ts)["blocks"]
    # The alert's parts are untouched; a status line is added; Acknowledge is gone.
    assert blocks[: len(served.posted["blocks"]) - 1] == served.posted["blocks"][:-1]
    (line,) = status_lines(blocks)
    assert line.startswith(f"Acknowledged by <@{ADMIN}> at <!date^{int(DEMO_END.timestamp())}^")
    assert line.endswith("|13:00 CET>")  # the fallback, in the bot's zone
    assert acts_left(blocks) == ["snooze", "resolve", "escalate", "show_chart"]
    assert slack.calls("chat.postEphemeral") == []
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.allowed, row.detail) == (
        ADMIN, "acknowledge", True, "admin")


def test_a_user_group_member_may_resolve_and_the_group_is_looked_up_once(
    served: Served, slack: SlackStandIn
) -> None:
    assert served.press(MEMBER, "escalate").status_code == 200
    assert served.press(MEMBER, "resolve").status_code == 200
    (lookup,) = slack.calls("usergroups.users.list")
    assert lookup.args["usergroup"] == GROUP
    blocks = slack.message("C1", served.ts)["blocks"]
    assert acts_left(blocks) == ["show_chart"]  # a resolved alert keeps only its chart
    lines = status_lines(blocks)
    assert [line.split(" at ")[0] for line in lines] == [
        f"Escalated by <@{MEMBER}>", f"Resolved by <@{MEMBER}>"]
    rows = served.audit.recent()
    assert [(r.action, r.allowed, r.detail) for r in rows] == [
        ("resolve", True, f"member of {GROUP}"), ("escalate", True, f"member of {GROUP}")]


def test_snooze_with_the_duration_menu(served: Served, slack: SlackStandIn) -> None:
    assert served.press(ADMIN, "snooze", option="4h").status_code == 200
    blocks = slack.message("C1", served.ts)["blocks"]
    (line,) = status_lines(blocks)
    assert line.startswith(f":zzz: Snoozed 4h by <@{ADMIN}> at ")
    until = int(DEMO_END.timestamp()) + 4 * 3600
    assert f"until <!date^{until}^{{time}}|17:00 CET>" in line
    assert acts_left(blocks) == ["snooze", "resolve", "escalate", "show_chart"]
    (row,) = served.audit.recent()
    assert (row.action, row.allowed, row.detail) == ("snooze", True, "admin; for 4h")


def test_a_stranger_may_show_the_chart_in_the_thread(
    served: Served, slack: SlackStandIn
) -> None:
    assert served.press(STRANGER, "show_chart").status_code == 200
    (upload,) = slack.calls("files.completeUploadExternal", delivered=True)
    assert upload.args["channel_id"] == "C1" and upload.args["thread_ts"] == served.ts
    assert slack.calls("upload")[0].args["bytes"] == len(PNG)
    assert slack.calls("chat.update") == []
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.allowed, row.detail) == (
        STRANGER, "show_chart", True, "chart posted")


def test_a_forged_block_action_is_refused_and_records_nothing(
    served: Served, slack: SlackStandIn
) -> None:
    response = served.press(ADMIN, "resolve", signature="v0=" + "0" * 64)
    assert response.status_code == 401
    assert [c.method for c in slack.calls()] == ["chat.postMessage"]  # the alert itself
    assert served.audit.recent() == []
    # Signed properly, the same press goes through: the refusal was the signature's doing.
    assert served.press(ADMIN, "resolve").status_code == 200
    assert [r.action for r in served.audit.recent()] == ["resolve"]


def test_an_unwritable_audit_log_does_not_lose_the_press(
    slack: SlackStandIn, demo_backend: DemoBackend, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"),
        slack=SlackSettings(admins=[ADMIN]),
    )
    perfbot = Perfbot(settings=settings, backend=demo_backend, clock=lambda: DEMO_END)
    with Served(perfbot, slack) as bot:
        assert bot.press(ADMIN, "resolve").status_code == 200
        assert acts_left(slack.message("C1", bot.ts)["blocks"]) == ["show_chart"]
    assert f"not recorded: {ADMIN} resolve on {FINDING} (allowed=True, admin)" in caplog.text
    assert "cannot open the audit table" in caplog.text
