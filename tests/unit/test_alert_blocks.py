"""An alert on Slack: the demo's alert opened as an incident and drawn as Block Kit (every
part and button, within Slack's limits), and the buttons' action ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.acts import SNOOZE_CHOICES, Act
from bot.detection import run_cycle
from bot.incidents.lifecycle import open_incident
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.playbooks.loading import load_playbooks
from bot.render.alert import build_alert
from bot.render.blocks import (
    ALERT_ACTIONS_BLOCK,
    ALERT_STATUS_BLOCK,
    alert_action_id,
    alert_element,
    parse_alert_action_id,
    validate_blocks,
)
from bot.render.incident import incident_message

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def elements(blocks: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("block_id") == ALERT_ACTIONS_BLOCK for e in b["elements"]]


def test_the_demo_alert_as_an_incident_message() -> None:
    backend = DemoBackend(DemoWorkload.generate(end=AT, days=10, seed=7))
    playbooks = load_playbooks(Path(__file__).parents[2] / "playbooks").playbooks
    report = run_cycle(backend, AT, timedelta(days=2), playbooks=playbooks,
                       deploys=backend.workload.deploys)
    item = next(e for e in report.explained if e.finding.service == "payments")
    built, alert = build_alert(item, UTC, chart=False), item.alert()
    assert alert.chart is not None
    incident = open_incident(42, alert, built, channel="C1", policy=None, urgency="high",
                             silenced="", now=AT).incident
    message = incident_message(incident, UTC)
    validate_blocks(message.blocks)
    assert message.blocks[0] == {"type": "header",
                                 "text": {"type": "plain_text", "text": f"{built.title} · INC-42"}}
    # The header, the alert's parts, the status, the buttons, Useful / Noise.
    assert len(message.blocks) == len(built.sections) + 4
    assert all(block["text"]["text"].startswith(f"*{part.title}*\n")
               for part, block in zip(built.sections, message.blocks[1:-3], strict=True))
    assert message.blocks[-3]["block_id"] == ALERT_STATUS_BLOCK
    assert message.blocks[-1]["block_id"] == "alert_feedback"
    found = [parse_alert_action_id(e["action_id"]) for e in elements(message.blocks)]
    assert found == [(act, "INC-42") for act in
                     ("acknowledge", "snooze", "resolve", "escalate", "silence", "show_chart")]


def test_buttons_carry_the_incident_and_snooze_is_a_menu() -> None:
    ack, snooze, resolve, escalate, chart = (
        alert_element(act, "INC-7") for act in (Act.ACKNOWLEDGE, Act.SNOOZE, Act.RESOLVE,
                                                 Act.ESCALATE, Act.SHOW_CHART))
    assert [e["text"]["text"] for e in (ack, resolve, escalate, chart)] == [
        "Acknowledge", "Resolve", "Escalate now", "Show chart"]
    assert {e["value"] for e in (ack, resolve, escalate, chart)} == {"INC-7"}
    assert (resolve["style"], escalate["style"]) == ("primary", "danger")
    assert snooze["type"] == "static_select"
    assert snooze["action_id"] == alert_action_id(Act.SNOOZE, "INC-7")
    assert [o["value"] for o in snooze["options"]] == [f"{d}|INC-7" for d in SNOOZE_CHOICES]
    assert list(SNOOZE_CHOICES) == ["15m", "1h", "4h", "1d"]
    validate_blocks([{"type": "actions", "elements": [ack, snooze, resolve, escalate, chart]}])


def test_foreign_action_ids_are_not_alert_actions() -> None:
    assert parse_alert_action_id(alert_action_id("resolve", "a:b")) == ("resolve", "a:b")
    for foreign in ("resolve:f1", "alert.resolve", "alert.resolve:", "perf_help"):
        with pytest.raises(ValueError, match="not an alert action"):
            parse_alert_action_id(foreign)
