"""An incident as Slack messages, drawn from its stored state: the words of each state, the
buttons each state allows, escaping of what metrics and people wrote, and Slack's limits."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.alerts.acts import Act
from bot.incidents.escalation import Notify, Position
from bot.incidents.lifecycle import Entry, Incident, State, act, recover
from bot.render.blocks import (
    ALERT_ACTIONS_BLOCK,
    ALERT_STATUS_BLOCK,
    MAX_BLOCKS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    alert_action_id,
    validate_blocks,
)
from bot.render.incident import (
    incident_message,
    incident_text,
    page_line,
    page_message,
    reply_text,
    storm_message,
)
from bot.render.incident_lists import (
    incident_timeline,
    incidents_list,
    incidents_text,
    timeline_text,
)
from tests.incident_factory import AT, incident

BERLIN = ZoneInfo("Europe/Berlin")
ACK, SNOOZE, RESOLVE, ESCALATE, CHART = (Act.ACKNOWLEDGE, Act.SNOOZE, Act.RESOLVE,
                                         Act.ESCALATE, Act.SHOW_CHART)


def acts_of(blocks: tuple[dict[str, Any], ...]) -> list[str]:
    return [e["action_id"] for b in blocks if b.get("block_id") == ALERT_ACTIONS_BLOCK
            for e in b["elements"]]


def status_of(blocks: tuple[dict[str, Any], ...]) -> str:
    (status,) = [b for b in blocks if b.get("block_id") == ALERT_STATUS_BLOCK]
    return "\n".join(e["text"] for e in status["elements"])


def ids(incident: Incident, *acts: Act) -> list[str]:
    return [alert_action_id(a, incident.name) for a in acts]


def done(change: object) -> Incident:
    incident = getattr(change, "incident", None)
    assert isinstance(incident, Incident), change
    return incident


def test_a_triggered_incident_has_every_button_and_says_since_when() -> None:
    opened = incident()
    message = incident_message(opened, BERLIN)
    header = message.blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"] == "🔴 CRITICAL: orders p95 latency up · INC-7"
    assert [b["text"]["text"].split("\n")[0] for b in message.blocks[1:3]] == ["*Part 0*",
                                                                               "*Part 1*"]
    status = status_of(message.blocks)
    assert status.startswith(":rotating_light: Triggered <!date^")
    assert "no escalation policy" in status
    assert "|Mon 23 Nov at 13:00 CET>" in status  # the fallback in the configured zone
    assert acts_of(message.blocks) == ids(opened, ACK, SNOOZE, RESOLVE, ESCALATE, Act.SILENCE,
                                          CHART)
    snooze = next(e for b in message.blocks if b.get("block_id") == ALERT_ACTIONS_BLOCK
                  for e in b["elements"] if e["type"] == "static_select")
    assert snooze["options"][0]["value"] == "15m|INC-7"
    assert "INC-7" in message.text and "triggered" in message.text


def test_acknowledged_and_snoozed_drop_the_acknowledge_button() -> None:
    acked = done(act(incident(), ACK, "U1", AT + timedelta(minutes=3), policy=None))
    message = incident_message(acked, BERLIN)
    assert status_of(message.blocks).startswith(":eyes: Acknowledged by <@U1> <!date^")
    assert acts_of(message.blocks) == ids(acked, SNOOZE, RESOLVE, ESCALATE, Act.SILENCE, CHART)
    snoozed = done(act(incident(), SNOOZE, "U2", AT, policy=None, snooze=timedelta(hours=1)))
    status = status_of(incident_message(snoozed, BERLIN).blocks)
    until = int((AT + timedelta(hours=1)).timestamp())
    assert status.startswith(f":zzz: Snoozed by <@U2> until <!date^{until}^")
    assert ALERT_ACTIONS_BLOCK in json.dumps(incident_message(snoozed, BERLIN).blocks)
    assert alert_action_id(ACK, "INC-7") not in acts_of(incident_message(snoozed,
                                                                         BERLIN).blocks)


def test_resolved_keeps_only_the_chart_and_says_by_whom_after_how_long() -> None:
    resolved = done(act(incident(), RESOLVE, "U1", AT + timedelta(minutes=42), policy=None))
    message = incident_message(resolved, BERLIN)
    assert acts_of(message.blocks) == ids(resolved, CHART)
    status = status_of(message.blocks)
    assert status.startswith(":white_check_mark: Resolved by <@U1> <!date^")
    assert status.split("\n")[0].endswith(", after 42m")
    without_chart = done(act(incident(with_chart=False), RESOLVE, "U1", AT, policy=None))
    assert acts_of(incident_message(without_chart, BERLIN).blocks) == []


def test_recovered_on_its_own_says_how_with_the_metrics_words_inert() -> None:
    how = "p95 back to 230 ms <!channel> *now*"
    recovered = done(recover(incident(), AT + timedelta(minutes=40), how))
    status = status_of(incident_message(recovered, BERLIN).blocks)
    assert ", after 40m: p95 back to 230 ms ‹!channel› ∗now∗" in status
    assert status.startswith(":white_check_mark: Recovered on its own <!date^")
    assert "<!channel>" not in status


def test_escalation_reopening_and_silence_in_words() -> None:
    escalated = incident().model_copy(update={
        "policy": "payments", "level": 2,
        "escalation": Position(incident="INC-7", step=2, due=AT + timedelta(minutes=10))})
    status = status_of(incident_message(escalated, BERLIN,
                                        paged="step 2, pass 1: <@U2> <!here>").blocks)
    assert "escalated 2 steps, last paged: step 2, pass 1: <@U2> &lt;!here&gt;" in status
    assert f"next step <!date^{int((AT + timedelta(minutes=10)).timestamp())}^" in status
    reopened = incident().model_copy(update={"reopened": 2, "silenced": "silence #3 (<@U9>)"})
    status = status_of(incident_message(reopened, BERLIN).blocks)
    assert ":repeat: Reopened 2 times" in status
    assert ":mute: Silenced by silence #3 (&lt;@U9&gt;)" in status


def test_people_and_metrics_cannot_inject_markup() -> None:
    evil = incident(title="<!channel> `rm` *x* <https://evil|click>")
    message = incident_message(evil, BERLIN)
    everything = json.dumps(message.blocks) + message.text
    assert "<!channel>" not in everything and "<https://evil" not in everything
    by_operator = done(act(evil, ACK, "alice <!here>", AT, policy=None))
    status = status_of(incident_message(by_operator, BERLIN).blocks)
    assert "Acknowledged by alice &lt;!here&gt;" in status and "<@alice" not in status


def test_within_slacks_limits() -> None:
    big = incident(title="x" * 400)
    big = big.model_copy(update={"message": big.message.model_copy(update={
        "sections": [s.model_copy(update={"text": "y" * 5000})
                     for s in big.message.sections * 40]})})
    message = incident_message(big, BERLIN)
    validate_blocks(message.blocks)
    assert len(message.blocks) == MAX_BLOCKS
    assert len(message.blocks[0]["text"]["text"]) <= MAX_HEADER_CHARS
    assert message.blocks[0]["text"]["text"].endswith("… · INC-7")
    assert all(len(b["text"]["text"]) <= MAX_SECTION_CHARS for b in message.blocks
               if b["type"] == "section")
    # The acts, then the Useful / Noise buttons (a detection alert's), both kept.
    assert [b["block_id"] for b in message.blocks[-2:]] == [ALERT_ACTIONS_BLOCK, "alert_feedback"]


def test_the_page_dm_says_who_for_what_with_a_link_and_an_acknowledge_button() -> None:
    opened = incident().model_copy(update={"policy": "payments"})
    note = Notify(key="INC-7:0:1", incident="INC-7", kind="users", step=1, pass_number=0,
                  due=AT, users=("U1", "U2"))
    message = page_message(opened, note, "https://test.slack.com/archives/C1/p1")
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "You are paged for *INC-7*: 🔴 CRITICAL: orders p95 latency up" in text
    assert "Step 2, pass 1 of policy payments. Also paged: <@U2>." in text
    assert "<https://test.slack.com/archives/C1/p1|Open its message> in <#C1>" in text
    assert acts_of(message.blocks) == ids(opened, ACK)
    reminder = page_message(opened.model_copy(update={"acknowledged_at": AT}), note.model_copy(
        update={"kind": "reminder", "users": ("U1",)}), None)
    assert "You acknowledged *INC-7* <!date^" in json.dumps(reminder.blocks)
    assert "Posted in <#C1>" in json.dumps(reminder.blocks)


def test_the_thread_line_mentions_whom_it_pages() -> None:
    opened = incident()
    note = Notify(key="k", incident="INC-7", kind="users", step=0, pass_number=1, due=AT,
                  users=("U1",))
    assert page_line(opened, note) == ":rotating_light: Paged <@U1> (step 1, pass 2)"
    group = note.model_copy(update={"kind": "group", "users": (), "group": "S1"})
    assert page_line(opened, group, threaded=True) == \
        "*INC-7*: :rotating_light: Paged <!subteam^S1> (step 1, pass 2)"
    here = note.model_copy(update={"kind": "channel", "users": (), "mention": "here"})
    assert "Paged <!here>" in page_line(opened, here)
    nobody = note.model_copy(update={"kind": "schedule", "users": (), "schedule": "web"})
    assert page_line(opened, nobody) == \
        ":warning: Nobody is on call of web to page (step 1, pass 2)"


def test_a_reply_keeps_the_bots_mentions_only() -> None:
    said = reply_text(incident(), "Resolved by <@U1>: p95 <!here> <http://x|y>")
    assert said == "Resolved by <@U1>: p95 &lt;!here&gt; &lt;http://x|y&gt;"
    assert reply_text(incident(), "back", threaded=True) == "*INC-7*: back"


def test_a_storm_summary_lists_every_incident_within_the_limits() -> None:
    few = [incident(n) for n in range(1, 9)]
    message = storm_message(few)
    assert "*8 incidents* opened here within a minute" in message.blocks[0]["text"]["text"]
    assert all(f"*INC-{n}*" in json.dumps(message.blocks) for n in range(1, 9))
    many = storm_message([incident(n, title="z" * 300) for n in range(1, 1000)])
    validate_blocks(many.blocks)
    assert "more lines" in json.dumps(many.blocks)


def test_the_list_shows_open_incidents_newest_first_with_state_and_age() -> None:
    old = done(act(incident(1, at=AT), ACK, "U1", AT, policy=None))
    new = incident(2, at=AT + timedelta(minutes=20)).model_copy(update={"level": 1})
    gone = done(act(incident(3), RESOLVE, "U1", AT, policy=None))
    quiet = incident(4, at=AT - timedelta(hours=1)).model_copy(update={"silenced": "s #1"})
    now = AT + timedelta(minutes=30)
    message = incidents_list([old, gone, new, quiet], BERLIN, now=now)
    lines = message.blocks[1]["text"]["text"].split("\n")
    assert [line.split("*")[1] for line in lines] == ["INC-2", "INC-1", "INC-4"]
    assert "triggered, escalated 1×" in lines[0] and "|10m ago>" in lines[0]
    assert "acknowledged by <@U1>" in lines[1] and "^{ago}|30m ago>" in lines[1]
    assert "· silenced ·" in lines[2]
    assert message.blocks[0]["text"]["text"] == "*3 open incidents*, newest first"
    assert incidents_list([gone], BERLIN).text == "No open incidents."
    text = incidents_text([old, new], BERLIN, now)
    assert text.split("\n")[0].split()[:3] == ["INC-2", "10m", "triggered,"]
    assert "acknowledged by @U1" in text and "<" not in text


def test_the_timeline_with_people_and_long_histories() -> None:
    opened = incident()
    entries = [Entry(at=AT, kind="opened", text="critical: orders p95 latency up"),
               Entry(at=AT + timedelta(minutes=5), kind="paged", text="step 1, pass 1: <@U1>"),
               Entry(at=AT + timedelta(minutes=6), kind="acknowledge", user="U1",
                     text="acknowledged <!channel>")]
    message = incident_timeline(opened, entries, BERLIN)
    body = message.blocks[2]["text"]["text"]
    assert "*paged*: step 1, pass 1: <@U1>" in body
    assert "*acknowledge* by <@U1>: acknowledged &lt;!channel&gt;" in body
    long = incident_timeline(opened, [entries[1]] * 3000, BERLIN)
    validate_blocks(long.blocks)
    assert len(long.blocks) <= MAX_BLOCKS and "more lines" in json.dumps(long.blocks)
    text = timeline_text(opened, entries, BERLIN)
    assert "Mon 23 Nov 13:06:00 CET  acknowledge by @U1: acknowledged @channel" in text


def test_the_terminal_twin_says_the_same_without_markup() -> None:
    acked = done(act(incident(), ACK, "U1", AT, policy=None)).model_copy(
        update={"reopened": 1})
    text = incident_text(acked, BERLIN)
    assert text.split("\n")[0] == "🔴 CRITICAL: orders p95 latency up (INC-7)"
    assert "  Acknowledged by @U1 Mon 23 Nov 13:00 CET" in text
    assert "  Reopened once" in text
    assert "[Snooze] · [Resolve] · [Escalate now] · [Silence] · [Show chart]" in text
    assert "<!date" not in text and ":eyes:" not in text
    assert acked.state is State.ACKNOWLEDGED
