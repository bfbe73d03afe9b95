"""Alert buttons, end to end: the real Bolt app in HTTP mode is sent signed ``block_actions``
over real HTTP, talks to the Slack Web API stand-in, and records into a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.alerts.message import AlertMessage, Section
from bot.analytics.findings.model import Severity
from bot.app import Perfbot
from bot.clock import FakeClock
from bot.config import Settings, SlackSettings, StorageSettings
from bot.metrics.demo import DemoBackend
from bot.render.alert import actions
from bot.render.blocks import (
    ALERT_ACTIONS_BLOCK,
    ALERT_STATUS_BLOCK,
    alert_action_id,
    alert_message,
)
from bot.slack.actions import post_alert
from tests.conftest import DEMO_END
from tests.slack_bot import Bot
from tests.slack_standin import SlackStandIn

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


class Served(Bot):
    """The Bolt app on loopback, an alert already posted in C1, and signed clicks on it."""

    def __init__(self, perfbot: Perfbot, slack: SlackStandIn, *, inline: bool = True) -> None:
        self.alerts, self.audit = perfbot.alerts, perfbot.audit
        super().__init__(perfbot, slack, inline=inline)
        self.ts = post_alert(self.client, self.alerts, "C1", ALERT)
        self.posted = slack.message("C1", self.ts)

    def __enter__(self) -> Served:
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.audit.database.close()

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
        return self.send(body, "application/x-www-form-urlencoded", signature=signature)


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
    perfbot = Perfbot(settings=settings, backend=demo_backend, clock=FakeClock(DEMO_END))
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
    perfbot = Perfbot(settings=settings, backend=demo_backend, clock=FakeClock(DEMO_END))
    with Served(perfbot, slack) as bot:
        assert bot.press(ADMIN, "resolve").status_code == 200
        assert acts_left(slack.message("C1", bot.ts)["blocks"]) == ["show_chart"]
    assert f"not recorded: {ADMIN} resolve on {FINDING} (allowed=True, admin)" in caplog.text
    assert "cannot open the database" in caplog.text


def test_presses_stuck_on_slack_do_not_hold_other_requests(
    served: Served, slack: SlackStandIn
) -> None:
    # Bolt's listener pool has 5 threads; presses whose work waited there held every ack after.
    with Served(served.perfbot, slack, inline=False) as bot:
        stuck = [slack.hold("chat.postEphemeral") for _ in range(6)]
        strangers = [f"U{n}0" for n in range(1, 7)]
        for user in strangers:
            assert bot.press(user, "resolve").status_code == 200
        slack.wait_until_held("chat.postEphemeral")
        assert bot.command("help", user=ADMIN).status_code == 200
        slack.wait_for("response_url")
        for release in stuck:
            release.set()
        refusals = slack.wait_for("chat.postEphemeral", count=6)
    assert sorted(c.args["user"] for c in refusals) == sorted(strangers)
    assert sorted(r.user for r in bot.audit.recent()) == sorted(strangers)


# --- /perf ack|resolve|snooze ID: the buttons' acts, typed ---------------------------------


def told(slack: SlackStandIn) -> list[str]:
    """What the slash command told its asker, privately."""
    replies = slack.calls("response_url")
    assert all(r.args["response_type"] == "ephemeral" for r in replies)
    return [r.args["text"] for r in replies]


def test_an_unauthorized_resolve_command_changes_nothing(
    served: Served, slack: SlackStandIn
) -> None:
    assert served.command(f"resolve {FINDING}", user=STRANGER).status_code == 200
    assert slack.calls("chat.update") == []
    assert slack.message("C1", served.ts) == served.posted
    (refusal,) = told(slack)
    assert refusal.startswith(":no_entry: Only ") and "may resolve this alert" in refusal
    # Mentions stay mentions (not escaped), so Slack shows who may.
    assert f"<@{ADMIN}>" in refusal and f"<!subteam^{GROUP}>" in refusal
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed) == (
        STRANGER, "resolve", FINDING, False)
    # The alert is still open: an admin's resolve goes through afterwards.
    served.command(f"resolve {FINDING}", user=ADMIN)
    assert acts_left(slack.message("C1", served.ts)["blocks"]) == ["show_chart"]


def test_the_ack_command_does_what_the_button_does(
    served: Served, slack: SlackStandIn
) -> None:
    # Typed in another channel: the alert is updated where it was posted.
    assert served.command(f"ack {FINDING}", user=ADMIN, channel="C2").status_code == 200
    (update,) = slack.calls("chat.update", delivered=True)
    assert (update.args["channel"], update.args["ts"]) == ("C1", served.ts)
    typed = slack.message("C1", served.ts)["blocks"]
    assert told(slack) == []
    # The same press on a fresh copy of the alert gives the same blocks.
    with Served(served.perfbot, slack) as other:
        other.press(ADMIN, "acknowledge")
        assert slack.message("C1", other.ts)["blocks"] == typed
    assert acts_left(typed) == ["snooze", "resolve", "escalate", "show_chart"]
    # One record each, alike: the command's and the button's (the same database).
    rows = served.audit.recent()
    assert [(r.user, r.action, r.target, r.allowed, r.detail) for r in rows] == [
        (ADMIN, "acknowledge", FINDING, True, "admin")] * 2


def test_commands_and_buttons_build_on_each_other(served: Served, slack: SlackStandIn) -> None:
    served.press(ADMIN, "escalate")
    served.command(f"snooze {FINDING} 4h", user=MEMBER)
    served.command(f"resolve {FINDING}", user=ADMIN)
    lines = status_lines(slack.message("C1", served.ts)["blocks"])
    assert [line.split(" by ")[0] for line in lines] == ["Escalated", ":zzz: Snoozed 4h",
                                                         "Resolved"]
    # Resolved: the alert is no longer open to commands, and nothing more is written.
    served.command(f"ack {FINDING}", user=ADMIN)
    assert len(slack.calls("chat.update")) == 3
    assert f"no open alert with id `{FINDING}`" in told(slack)[-1]


@pytest.mark.parametrize(
    ("text", "says"),
    [("ack f-unknown-9", "There is no open alert with id `f-unknown-9`"),
     ("resolve <script>", "no open alert with id `&lt;script&gt;`"),
     ("ack", "Usage: `/perf ack ID`"),
     ("resolve a b", "Usage: `/perf resolve ID`"),
     (f"snooze {FINDING} 2w", "I can snooze for 15m, 1h, 4h, 1d, not `2w`")],
)
def test_a_command_without_an_open_alert_or_with_bad_words_changes_nothing(
    served: Served, slack: SlackStandIn, text: str, says: str
) -> None:
    assert served.command(text, user=ADMIN).status_code == 200
    (reply,) = told(slack)
    assert says in reply
    assert slack.calls("chat.update") == []
    assert served.audit.recent() == []


def test_snooze_command_defaults_to_an_hour(served: Served, slack: SlackStandIn) -> None:
    served.command(f"snooze {FINDING}", user=ADMIN)
    (line,) = status_lines(slack.message("C1", served.ts)["blocks"])
    assert line.startswith(f":zzz: Snoozed 1h by <@{ADMIN}>")
    (row,) = served.audit.recent()
    assert row.detail == "admin; for 1h"
