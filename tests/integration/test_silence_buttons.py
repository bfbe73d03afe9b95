"""The Silence / Unsilence buttons on the bot's own incidents, end to end: the real Bolt app
over HTTP is sent a signed press, opens its modal on the Slack stand-in (``views.open``),
is sent the modal's signed submission, and the silence is read back from the store, the
audit table and the message the stand-in holds. (Alertmanager's incidents: in
test_alertmanager_webhook, against a real Alertmanager.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Perfbot
from bot.incidents.lifecycle import Incident
from bot.metrics.demo import DemoBackend
from tests.slack_bot import view_submission_body
from tests.slack_incidents import (
    ADMIN,
    STRANGER,
    Served,
    acts_left,
    perfbot_on,
    shows,
    standin,
    status,
)
from tests.slack_standin import SlackStandIn


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as running:
        yield running


@pytest.fixture
def served(tmp_path: Path, demo_backend: DemoBackend, slack: SlackStandIn
           ) -> Iterator[Served]:
    perfbot: Perfbot = perfbot_on(f"sqlite:///{tmp_path / 'perfbot.db'}", demo_backend)
    with Served(perfbot, slack) as bot:
        yield bot


def opened_form(served: Served, slack: SlackStandIn, user: str, incident: Incident
                ) -> dict[str, Any]:
    """``user`` presses Silence: the modal the bot opened with the press's trigger_id."""
    assert served.press(user, "silence", incident).status_code == 200
    (call,) = slack.calls("views.open", delivered=True)
    assert call.args["trigger_id"] == "1.2.3"
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else dict(view)


def submit(served: Served, user: str, view: dict[str, Any], **values: str) -> Any:
    body = view_submission_body(user, view, values)
    return served.send(body, "application/x-www-form-urlencoded")


def test_silence_on_the_bots_own_incident_stores_it_shows_it_and_unsilence_ends_it(
    served: Served, slack: SlackStandIn,
) -> None:
    opened = served.open()
    assert "silence" in acts_left(served.shown(opened)["blocks"])
    view = opened_form(served, slack, ADMIN, opened)
    assert view["private_metadata"] == "INC-1"
    duration = next(b for b in view["blocks"] if b.get("block_id") == "duration")
    assert duration["element"]["initial_value"] == "2h"  # the default
    now = served.perfbot.now()
    answer = submit(served, ADMIN, view, duration="2h", comment="deploy in progress")
    assert answer.status_code == 200 and answer.text == ""  # the modal closes
    (silence,) = served.store.silences(now)
    assert (silence.matcher, silence.reason, silence.created_by, silence.ends_at) == (
        "orders", "deploy in progress", ADMIN, now + timedelta(hours=2))
    stored = served.incident(opened.id)
    assert stored.perfbot_silence == silence.id
    # Recorded before Slack shows it; the message now says so and offers Unsilence.
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed) == (
        ADMIN, "silence", f"silence:{silence.id}", True)
    shown = served.shown(stored)
    assert shows(shown, stored)
    assert f":mute: Silenced in perfbot: silence #{silence.id} until" in status(shown["blocks"])
    assert acts_left(shown["blocks"]) == [
        "acknowledge", "snooze", "resolve", "escalate", "unsilence", "show_chart"]
    (told,) = slack.calls("chat.postEphemeral", delivered=True)
    assert told.args["user"] == ADMIN and f"silence #{silence.id}" in told.args["text"]

    assert served.press(ADMIN, "unsilence", stored).status_code == 200
    assert served.store.silences(served.perfbot.now()) == []  # ended
    ended = served.incident(opened.id)
    assert ended.perfbot_silence is None
    assert acts_left(served.shown(ended)["blocks"])[-2:] == ["silence", "show_chart"]
    assert ":mute:" not in status(served.shown(ended)["blocks"])
    assert [(r.action, r.allowed) for r in served.audit.recent()] == [
        ("unsilence", True), ("silence", True)]


def test_a_stranger_pressing_silence_gets_no_form_and_is_recorded(
    served: Served, slack: SlackStandIn,
) -> None:
    opened = served.open()
    assert served.press(STRANGER, "silence", opened).status_code == 200
    assert slack.calls("views.open") == []
    (refusal,) = slack.calls("chat.postEphemeral", delivered=True)
    assert refusal.args["user"] == STRANGER and "may silence alerts" in refusal.args["text"]
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.allowed) == (STRANGER, "silence", False)
    assert served.store.silences(served.perfbot.now()) == []
    assert served.incident(opened.id) == opened


def test_a_forged_submission_by_a_stranger_changes_nothing(
    served: Served, slack: SlackStandIn,
) -> None:
    opened = served.open()
    view = opened_form(served, slack, ADMIN, opened)  # the admin's form, sent by someone else
    assert submit(served, STRANGER, view, duration="1d", comment="x").status_code == 200
    assert served.store.silences(served.perfbot.now()) == []
    assert served.incident(opened.id) == opened
    assert [(r.user, r.allowed) for r in served.audit.recent()] == [(STRANGER, False)]


@pytest.mark.parametrize(("typed", "says"), [
    ("soon", "`soon` is not a duration."),
    ("30s", "A silence lasts from 1m to 1w, not 30s."),
    ("8d", "A silence lasts from 1m to 1w, not 8d."),
    ("", "`` is not a duration."),
])
def test_a_bad_duration_is_said_on_the_form_and_changes_nothing(
    served: Served, slack: SlackStandIn, typed: str, says: str,
) -> None:
    opened = served.open()
    view = opened_form(served, slack, ADMIN, opened)
    answer = submit(served, ADMIN, view, duration=typed)
    assert answer.status_code == 200
    assert answer.json() == {"response_action": "errors", "errors": {"duration": says}}
    assert served.store.silences(served.perfbot.now()) == []
    assert served.incident(opened.id) == opened
    assert served.audit.recent() == []
