"""An alert as Block Kit: every part and button, within Slack's limits, and its updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.alerts.acts import Act
from bot.alerts.message import AlertMessage, Section
from bot.analytics.findings.model import Severity
from bot.detection import run_cycle
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.playbooks.loading import load_playbooks
from bot.render.alert import actions, build_alert
from bot.render.blocks import (
    ALERT_ACTIONS_BLOCK,
    ALERT_STATUS_BLOCK,
    MAX_BLOCKS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    SNOOZE_CHOICES,
    alert_action_id,
    alert_message,
    alert_update,
    parse_alert_action_id,
    validate_blocks,
)
from bot.slack.actions import status_line

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def alert(sections: int = 2, text: str = "line", chart: bool = True,
          title: str = "🟠 WARNING: checkout slower") -> AlertMessage:
    return AlertMessage(
        finding_id="f1", severity=Severity.WARNING, title=title,
        sections=[Section(title=f"Part {i}", text=text) for i in range(sections)],
        actions=actions("f1"), chart_png=b"\x89PNG" if chart else None,
    )


def elements(blocks: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("block_id") == ALERT_ACTIONS_BLOCK for e in b["elements"]]


def test_the_demo_alert_as_blocks() -> None:
    backend = DemoBackend(DemoWorkload.generate(end=AT, days=10, seed=7))
    playbooks = load_playbooks(Path(__file__).parents[2] / "playbooks").playbooks
    report = run_cycle(backend, AT, timedelta(days=2), playbooks=playbooks,
                       deploys=backend.workload.deploys)
    item = next(e for e in report.explained if e.finding.service == "payments")
    built = build_alert(item, UTC)
    message = alert_message(built)
    assert message.text == built.title
    assert message.blocks[0] == {"type": "header",
                                 "text": {"type": "plain_text", "text": built.title}}
    assert len(message.blocks) == len(built.sections) + 2
    assert all(part.title in block["text"]["text"]
               for part, block in zip(built.sections, message.blocks[1:-1], strict=True))
    found = [parse_alert_action_id(e["action_id"]) for e in elements(message.blocks)]
    assert found == [(act, built.finding_id) for act in
                     ("acknowledge", "snooze", "resolve", "escalate", "show_chart")]


def test_buttons_carry_the_finding_and_snooze_is_a_menu() -> None:
    ack, snooze, resolve, escalate, chart = elements(alert_message(alert()).blocks)
    assert [e["text"]["text"] for e in (ack, resolve, escalate, chart)] == [
        "Acknowledge", "Resolve", "Escalate now", "Show chart"]
    assert {e["value"] for e in (ack, resolve, escalate, chart)} == {"f1"}
    assert snooze["type"] == "static_select"
    assert [o["value"] for o in snooze["options"]] == [f"{d}|f1" for d in SNOOZE_CHOICES]
    assert list(SNOOZE_CHOICES) == ["15m", "1h", "4h", "1d"]


def test_no_chart_no_chart_button() -> None:
    acts = [parse_alert_action_id(e["action_id"])[0]
            for e in elements(alert_message(alert(chart=False)).blocks)]
    assert "show_chart" not in acts and "resolve" in acts


def test_a_huge_alert_stays_within_slacks_limits() -> None:
    message = alert_message(alert(sections=80, text="x" * 5000, title="T" * 400))
    assert len(message.blocks) == MAX_BLOCKS
    assert len(message.blocks[0]["text"]["text"]) == MAX_HEADER_CHARS
    assert all(len(b["text"]["text"]) <= MAX_SECTION_CHARS for b in message.blocks[1:-1])
    assert message.blocks[-1]["block_id"] == ALERT_ACTIONS_BLOCK  # the buttons survive
    validate_blocks(message.blocks)


def test_foreign_action_ids_are_not_alert_actions() -> None:
    assert parse_alert_action_id(alert_action_id("resolve", "a:b")) == ("resolve", "a:b")
    for foreign in ("resolve:f1", "alert.resolve", "alert.resolve:", "perf_help"):
        with pytest.raises(ValueError, match="not an alert action"):
            parse_alert_action_id(foreign)


def test_updates_add_status_lines_and_drop_pointless_buttons() -> None:
    posted = list(alert_message(alert()).blocks)
    acked = alert_update(posted, "acknowledge", "Acknowledged by <@U1> at 13:02")
    assert acked[:-2] == posted[:-1]  # the alert's parts unchanged
    assert acked[-2] == {"type": "context", "block_id": ALERT_STATUS_BLOCK, "elements": [
        {"type": "mrkdwn", "text": "Acknowledged by <@U1> at 13:02"}]}
    assert [parse_alert_action_id(e["action_id"])[0] for e in elements(acked)] == [
        "snooze", "resolve", "escalate", "show_chart"]
    resolved = alert_update(acked, "resolve", "Resolved by <@U2> at 13:30")
    assert [e["text"] for e in resolved[-2]["elements"]] == [
        "Acknowledged by <@U1> at 13:02", "Resolved by <@U2> at 13:30"]
    assert [parse_alert_action_id(e["action_id"])[0] for e in elements(resolved)] == [
        "show_chart"]
    without_chart = alert_update(list(alert_message(alert(chart=False)).blocks), "resolve", "R")
    assert without_chart[-1]["block_id"] == ALERT_STATUS_BLOCK  # no empty actions block


def test_status_lines_stay_a_valid_context_after_many_updates() -> None:
    blocks = list(alert_message(alert()).blocks)
    for n in range(15):
        blocks = alert_update(blocks, "escalate", f"Escalated #{n}")
    texts = [e["text"] for e in blocks[-2]["elements"]]
    assert len(texts) == 10 and texts[-1] == "Escalated #14"


def test_status_lines_show_each_reader_their_own_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    stamp = int(AT.timestamp())
    assert status_line(Act.RESOLVE, "U1", AT, berlin, None) == (
        f"Resolved by <@U1> at <!date^{stamp}^{{time}}|13:00 CET>")
    snoozed = status_line(Act.SNOOZE, "U1", AT, berlin, "1d")
    assert snoozed.endswith(f"until <!date^{stamp + 86400}^{{time}}|13:00 CET>")
