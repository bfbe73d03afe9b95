"""The buttons on incident messages and ``/perf ack|snooze|resolve|escalate INC-n``, end to
end: incidents opened through ``perfbot.incidents.fire`` on a real SQLite file and posted by
the outbox's delivery to the Slack Web API stand-in; the real Bolt app in HTTP mode is sent
signed ``block_actions`` and slash commands over real HTTP. Every change is read back from
the store, the audit table and the messages the stand-in holds."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import Perfbot
from bot.incidents.lifecycle import Incident, State
from bot.incidents.policies import OnCallSettings
from bot.metrics.demo import DemoBackend
from bot.render.alert import alert_chart
from tests.slack_incidents import (
    ADMIN,
    CHANNEL,
    GROUP,
    MEMBER,
    STRANGER,
    ZONE,
    Served,
    acts_left,
    answers_done,
    perfbot_on,
    shows,
    standin,
    status,
    told,
)
from tests.slack_standin import SlackStandIn

EVERY_BUTTON = ["acknowledge", "snooze", "resolve", "escalate", "silence", "show_chart"]
PAGING = OnCallSettings.model_validate({
    "policies": [{"name": "sre", "steps": [{"notify_users": ["U9"], "wait": "10m"}]}],
    "routing": {"default": "sre"}})


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as running:
        yield running


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'perfbot.db'}"


@pytest.fixture
def perfbot(database: str, demo_backend: DemoBackend) -> Perfbot:
    return perfbot_on(database, demo_backend)


@pytest.fixture
def served(perfbot: Perfbot, slack: SlackStandIn) -> Iterator[Served]:
    with Served(perfbot, slack) as bot:
        yield bot


@pytest.fixture
def opened(served: Served) -> Incident:
    """INC-1, posted in C1 with its chart in its thread."""
    return served.open()


def unchanged(served: Served, incident: Incident) -> None:
    """Nothing happened to ``incident``: stored as it was, its message as posted, nothing
    more decided for Slack, no line added to its timeline."""
    assert served.incident(incident.id) == incident
    assert shows(served.shown(incident), incident)
    assert served.store.pending(served.perfbot.now() + timedelta(days=1)) == []
    assert [e.kind for e in served.store.timeline(incident.id)] == ["opened"]


# --- the buttons ----------------------------------------------------------------------------


def test_the_posted_incident_has_every_button_and_its_chart_in_its_thread(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    (post,) = slack.calls("chat.postMessage", delivered=True)
    assert post.args["channel"] == CHANNEL
    shown = served.shown(opened)
    assert shows(shown, opened)
    assert acts_left(shown["blocks"]) == EVERY_BUTTON
    assert all(e["action_id"].endswith(":INC-1") for b in shown["blocks"]
               if b["type"] == "actions" for e in b["elements"])
    (upload,) = slack.calls("files.completeUploadExternal", delivered=True)
    assert upload.args["channel_id"] == CHANNEL and upload.args["thread_ts"] == opened.message_ts


def test_a_stranger_pressing_resolve_changes_nothing_and_is_recorded(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    assert served.press(STRANGER, "resolve", opened).status_code == 200
    assert slack.calls("chat.update") == []
    unchanged(served, opened)
    (refusal,) = slack.calls("chat.postEphemeral", delivered=True)
    assert refusal.args["user"] == STRANGER and refusal.args["channel"] == CHANNEL
    assert f"<@{ADMIN}>" in refusal.args["text"] and f"<!subteam^{GROUP}>" in refusal.args["text"]
    assert "may resolve this alert" in refusal.args["text"]
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed, row.detail) == (
        STRANGER, "resolve", "INC-1", False, "not allowed")
    assert row.at == served.perfbot.now()


def test_an_admin_acknowledging_changes_the_stored_incident_and_edits_its_message(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    pressed_at = served.perfbot.now()
    assert served.press(ADMIN, "acknowledge", opened).status_code == 200
    stored = served.incident(opened.id)
    assert stored.state is State.ACKNOWLEDGED
    assert (stored.acknowledged_by, stored.acknowledged_at) == (ADMIN, pressed_at)
    assert stored.version > opened.version
    (update,) = slack.calls("chat.update", delivered=True)
    assert (update.args["channel"], update.args["ts"]) == (CHANNEL, opened.message_ts)
    shown = served.shown(stored)
    assert shows(shown, stored)  # drawn again from what was stored
    assert status(shown["blocks"]).startswith(
        f":eyes: Acknowledged by <@{ADMIN}> <!date^{int(pressed_at.timestamp())}^")
    assert "|Mon 23 Nov at 13:00 CET>" in status(shown["blocks"])  # the bot's zone
    assert acts_left(shown["blocks"]) == ["snooze", "resolve", "escalate", "silence", "show_chart"]
    # The alert's parts are untouched.
    assert shown["blocks"][1:3] == served.shown(opened)["blocks"][1:3]
    assert slack.calls("chat.postEphemeral") == []
    assert len(slack.calls("chat.postMessage")) == 1  # no second message
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed, row.detail) == (
        ADMIN, "acknowledge", "INC-1", True, "admin")
    assert [(e.kind, e.user) for e in served.store.timeline(opened.id)] == [
        ("opened", None), ("acknowledge", ADMIN)]


@pytest.mark.parametrize(("act", "option", "state"), [
    ("acknowledge", None, State.ACKNOWLEDGED), ("snooze", "15m", State.ACKNOWLEDGED),
    ("resolve", None, State.RESOLVED), ("escalate", None, State.TRIGGERED)])
def test_each_act_changes_the_stored_incident_with_one_record_and_one_edit(
    database: str, demo_backend: DemoBackend, slack: SlackStandIn, act: str,
    option: str | None, state: State,
) -> None:
    # With a policy, so that escalating now has something to show (its next step is due).
    with Served(perfbot_on(database, demo_backend, oncall=PAGING), slack) as served:
        opened = served.open()
        served.clock.advance(timedelta(minutes=3))
        assert served.press(ADMIN, act, opened, option=option).status_code == 200
        stored = served.incident(opened.id)
        assert stored.state is state and stored.version == opened.version + 1
        (update,) = slack.calls("chat.update", delivered=True)
        assert (update.args["channel"], update.args["ts"]) == (CHANNEL, opened.message_ts)
        shown = served.shown(stored)
        assert shows(shown, stored) and not shows(shown, opened)
        (row,) = served.audit.recent()
        assert (row.user, row.action, row.target, row.allowed, row.at) == (
            ADMIN, act, "INC-1", True, served.perfbot.now())
        assert [e.kind for e in served.store.timeline(opened.id)] == ["opened", act]
        assert len(slack.calls("chat.postMessage")) == 1
        assert slack.calls("chat.postEphemeral") == []


def test_a_user_group_member_may_act_and_the_group_is_looked_up_once(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    for act in ("acknowledge", "escalate", "resolve"):
        assert served.press(MEMBER, act, opened).status_code == 200
    (lookup,) = slack.calls("usergroups.users.list")
    assert lookup.args["usergroup"] == GROUP
    stored = served.incident(opened.id)
    assert stored.state is State.RESOLVED and stored.resolved_by == MEMBER
    # Escalating took the acknowledgement back; each press edited the one message.
    updates = slack.calls("chat.update", delivered=True)
    assert [u.args["ts"] for u in updates] == [opened.message_ts] * 3
    assert [status(u.args["blocks"]).split(" <!date")[0] for u in updates] == [
        f":eyes: Acknowledged by <@{MEMBER}>", ":rotating_light: Triggered",
        f":white_check_mark: Resolved by <@{MEMBER}>"]
    shown = served.shown(stored)
    assert shows(shown, stored)
    assert acts_left(shown["blocks"]) == ["show_chart"]  # a resolved incident keeps its chart
    rows = served.audit.recent()
    assert [(r.action, r.allowed, r.detail) for r in rows] == [
        ("resolve", True, f"member of {GROUP}"), ("escalate", True, f"member of {GROUP}"),
        ("acknowledge", True, f"member of {GROUP}")]


def test_snooze_with_the_duration_menu(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    now = served.perfbot.now()
    assert served.press(ADMIN, "snooze", opened, option="4h").status_code == 200
    stored = served.incident(opened.id)
    assert (stored.snoozed_by, stored.snoozed_until) == (ADMIN, now + timedelta(hours=4))
    shown = served.shown(stored)
    assert shows(shown, stored)
    until = int((now + timedelta(hours=4)).timestamp())
    assert status(shown["blocks"]).startswith(f":zzz: Snoozed by <@{ADMIN}> until <!date^{until}^")
    assert acts_left(shown["blocks"]) == ["snooze", "resolve", "escalate", "silence", "show_chart"]
    (row,) = served.audit.recent()
    assert (row.action, row.allowed, row.detail) == ("snooze", True, "admin; for 4h")
    # A choice the menu does not offer (a forged payload) does nothing at all.
    assert served.press(ADMIN, "snooze", stored, option="2w").status_code == 200
    assert served.incident(opened.id) == stored and len(served.audit.recent()) == 1
    assert len(slack.calls("chat.update")) == 1


def test_resolved_is_final_a_late_acknowledge_is_refused_privately_and_recorded(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    served.clock.advance(timedelta(minutes=42))
    assert served.press(ADMIN, "resolve", opened).status_code == 200
    resolved = served.incident(opened.id)
    shown = served.shown(resolved)
    # Pressed on a copy of the message from before the resolution (it still has the button).
    assert served.press(MEMBER, "acknowledge", opened).status_code == 200
    assert served.incident(opened.id) == resolved
    assert served.shown(resolved) == shown and len(slack.calls("chat.update")) == 1
    (note,) = slack.calls("chat.postEphemeral", delivered=True)
    assert note.args["user"] == MEMBER and note.args["channel"] == CHANNEL
    assert resolved.resolution == f"resolved by <@{ADMIN}> after 42m1s"  # posted a second in
    assert note.args["text"] == f"INC-1 is already resolved ({resolved.resolution})."
    late, first = served.audit.recent()
    assert (first.user, first.action, first.allowed) == (ADMIN, "resolve", True)
    assert (late.user, late.action, late.target, late.allowed, late.detail) == (
        MEMBER, "acknowledge", "INC-1", False, note.args["text"])
    assert [e.kind for e in served.store.timeline(opened.id)] == ["opened", "resolve"]


def test_a_late_press_on_an_incident_that_recovered_says_how_with_the_metrics_words_inert(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    served.clock.advance(timedelta(minutes=40))
    how = "p95 back to 230 ms <!here> <https://evil.example|click>"
    served.perfbot.incidents.cycle([], "detection", served.perfbot.now(),
                                   how={opened.fingerprint: how})
    served.drain()
    assert served.press(ADMIN, "acknowledge", opened).status_code == 200
    served.command("resolve INC-1", user=MEMBER)
    pressed = slack.calls("chat.postEphemeral", delivered=True)[0].args["text"]
    (typed,) = told(slack)
    for note in (pressed, typed):
        assert note.startswith("INC-1 is already resolved (recovered on its own after 40m")
        # The lifecycle keeps the metrics' angle brackets as look-alikes (no mention revives).
        assert note.endswith(": p95 back to 230 ms ‹!here› ‹https://evil.example|click›).")
    assert [(r.action, r.allowed) for r in served.audit.recent()] == [
        ("resolve", False), ("acknowledge", False)]


def check_acknowledge_and_resolve_at_once(served: Served, slack: SlackStandIn) -> None:
    """ADMIN presses Acknowledge and MEMBER Resolve at the same moment: one consistent
    state, the message showing it, and two audit rows that agree with the store."""
    opened = served.open()
    served.press_together([(ADMIN, "acknowledge"), (MEMBER, "resolve")], opened)
    answers_done()
    stored = served.incident(opened.id)
    # Whichever came first, the resolution stands (resolved is final).
    assert stored.state is State.RESOLVED and stored.resolved_by == MEMBER
    rows = {r.action: r for r in served.audit.recent(target=opened.name)}
    assert len(served.audit.recent(target=opened.name)) == 2 and set(rows) == {
        "acknowledge", "resolve"}
    assert (rows["resolve"].user, rows["resolve"].allowed) == (MEMBER, True)
    acknowledged_first = stored.acknowledged_by == ADMIN
    kinds = [e.kind for e in served.store.timeline(opened.id)]
    if acknowledged_first:
        assert rows["acknowledge"].allowed and rows["acknowledge"].detail == "admin"
        assert kinds == ["opened", "acknowledge", "resolve"]
        assert [c.args["user"] for c in slack.calls("chat.postEphemeral")] == []
    else:
        assert not rows["acknowledge"].allowed
        assert rows["acknowledge"].detail.startswith("INC-1 is already resolved")
        assert kinds == ["opened", "resolve"]
        assert [c.args["user"] for c in slack.calls("chat.postEphemeral")] == [ADMIN]
    assert shows(served.shown(stored), stored)
    assert {c.args["ts"] for c in slack.calls("chat.update", delivered=True)} == {
        opened.message_ts}
    assert len(slack.calls("chat.postMessage")) == 1
    assert served.store.pending(served.perfbot.now()) == []


def test_acknowledge_and_resolve_pressed_at_the_same_moment(
    perfbot: Perfbot, slack: SlackStandIn,
) -> None:
    with Served(perfbot, slack, inline=False) as served:
        check_acknowledge_and_resolve_at_once(served, slack)


def test_after_a_restart_a_new_bot_acts_on_the_message_the_old_one_posted(
    database: str, demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    with Served(perfbot_on(database, demo_backend), slack) as before:
        opened = before.open()
    posts = len(slack.calls("chat.postMessage"))
    # A new process: new settings, store, delivery and Bolt app on the same database file.
    with Served(perfbot_on(database, demo_backend), slack) as after:
        assert after.press(ADMIN, "acknowledge", opened).status_code == 200
        assert after.press(STRANGER, "show_chart", opened).status_code == 200
        stored = after.incident(opened.id)
        assert stored.state is State.ACKNOWLEDGED and stored.acknowledged_by == ADMIN
        (update,) = slack.calls("chat.update", delivered=True)
        assert (update.args["channel"], update.args["ts"]) == (CHANNEL, opened.message_ts)
        assert shows(after.shown(stored), stored)
        # The chart is drawn again from the stored alert, into the incident's thread.
        _, again = slack.calls("files.completeUploadExternal", delivered=True)
        assert again.args["channel_id"] == CHANNEL and again.args["thread_ts"] == \
            opened.message_ts
        uploads, chart = slack.calls("upload"), stored.alert.chart
        assert chart is not None
        assert uploads[-1].args["bytes"] == len(alert_chart(chart, ZONE)) == \
            uploads[0].args["bytes"]
        assert [(r.user, r.action, r.allowed, r.detail) for r in after.audit.recent()] == [
            (STRANGER, "show_chart", True, "chart posted"), (ADMIN, "acknowledge", True,
                                                             "admin")]
    assert len(slack.calls("chat.postMessage")) == posts  # nothing posted again


def test_replicas_edit_the_message_to_what_is_stored_whoever_edited_it_last(
    database: str, demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    # Two bots on one database (replicas behind a load balancer), each pressed in turn.
    with (Served(perfbot_on(database, demo_backend), slack) as one,
          Served(perfbot_on(database, demo_backend), slack) as two):
        opened = one.open()
        assert two.press(ADMIN, "acknowledge", opened).status_code == 200
        assert status(one.shown(opened)["blocks"]).startswith(":eyes: Acknowledged")
        # Escalating draws the message as one first posted it, but two's edit is on show.
        assert one.press(ADMIN, "escalate", opened).status_code == 200
        stored = one.incident(opened.id)
        assert stored.state is State.TRIGGERED and stored.acknowledged_by is None
        assert shows(one.shown(stored), stored)
        assert [u.args["ts"] for u in slack.calls("chat.update", delivered=True)] == [
            opened.message_ts] * 2


def test_a_stranger_may_show_the_chart_in_the_incidents_thread(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    assert served.press(STRANGER, "show_chart", opened).status_code == 200
    _, shown = slack.calls("files.completeUploadExternal", delivered=True)
    assert shown.args["channel_id"] == CHANNEL and shown.args["thread_ts"] == opened.message_ts
    assert slack.calls("upload")[-1].args["bytes"] > 1000
    assert slack.calls("chat.update") == [] and slack.calls("chat.postEphemeral") == []
    unchanged(served, opened)
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed, row.detail) == (
        STRANGER, "show_chart", "INC-1", True, "chart posted")


def test_show_chart_on_an_incident_in_a_storm_thread_uploads_in_that_thread(
    database: str, demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    # Two incidents at once over a threshold of one: one summary, each message in its thread.
    with Served(perfbot_on(database, demo_backend, storm_threshold=1), slack) as served:
        first, _ = served.fire(1), served.fire(2)
        served.drain()
        stored = served.incident(first.id)
        assert stored.thread_ts is not None and stored.message_ts != stored.thread_ts
        charts = len(slack.calls("files.completeUploadExternal"))
        assert served.press(STRANGER, "show_chart", stored).status_code == 200
        shown = slack.calls("files.completeUploadExternal", delivered=True)[charts:]
    # A reply's ts is no thread: the file goes in the thread the message is in.
    assert [(c.args["channel_id"], c.args["thread_ts"]) for c in shown] == [
        (CHANNEL, stored.thread_ts)]


def test_a_forged_block_action_is_refused_and_records_nothing(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    calls = len(slack.calls())
    response = served.press(ADMIN, "resolve", opened, signature="v0=" + "0" * 64)
    assert response.status_code == 401
    assert len(slack.calls()) == calls
    unchanged(served, opened)
    assert served.audit.recent() == []
    # Signed properly, the same press goes through: the refusal was the signature's doing.
    assert served.press(ADMIN, "resolve", opened).status_code == 200
    assert [r.action for r in served.audit.recent()] == ["resolve"]


def test_an_unwritable_audit_table_changes_nothing_and_says_so(
    served: Served, slack: SlackStandIn, opened: Incident, caplog: pytest.LogCaptureFixture,
) -> None:
    with served.perfbot.database.engine().begin() as connection:
        connection.execute(text("ALTER TABLE actions RENAME TO actions_elsewhere"))
    caplog.set_level(logging.WARNING)
    served.press(STRANGER, "resolve", opened)
    assert "not recorded: U2 resolve on INC-1 (allowed=False, not allowed)" in caplog.text
    served.press(ADMIN, "resolve", opened)
    # The change and its record are one transaction: without the record, no change.
    unchanged(served, opened)
    assert slack.calls("chat.update") == []
    refusal, nothing = (c.args for c in slack.calls("chat.postEphemeral", delivered=True))
    assert refusal["user"] == STRANGER and "may resolve this alert" in refusal["text"]
    # The refusal could not be recorded either: the stranger is told so.
    assert "Nothing changed, and I could not record this attempt" in refusal["text"]
    assert nothing["user"] == ADMIN
    assert nothing["text"].startswith(
        "Nothing changed: I could not record that you asked to resolve INC-1, so it and its "
        "message stay as they are. Please try again in a minute (")
    assert "could not resolve INC-1 for U1" in caplog.text


def test_presses_stuck_on_slack_do_not_hold_other_requests(
    perfbot: Perfbot, slack: SlackStandIn,
) -> None:
    # Bolt's listener pool has 5 threads; presses whose work waited there held every ack after.
    with Served(perfbot, slack, inline=False) as served:
        opened = served.open()
        stuck = [slack.hold("chat.postEphemeral") for _ in range(6)]
        strangers = [f"U{n}0" for n in range(1, 7)]
        for user in strangers:
            assert served.press(user, "resolve", opened).status_code == 200
        slack.wait_until_held("chat.postEphemeral")
        assert served.command("help", user=ADMIN).status_code == 200
        slack.wait_for("response_url")
        for release in stuck:
            release.set()
        refusals = slack.wait_for("chat.postEphemeral", count=6)
        answers_done()
    assert sorted(c.args["user"] for c in refusals) == sorted(strangers)
    assert sorted(r.user for r in served.audit.recent()) == sorted(strangers)
    assert served.incident(opened.id) == opened


# --- /perf ack|snooze|resolve|escalate INC-n: the buttons' acts, typed ------------------------


def test_an_unauthorized_resolve_command_changes_nothing(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    assert served.command("resolve INC-1", user=STRANGER).status_code == 200
    assert slack.calls("chat.update") == []
    unchanged(served, opened)
    (refusal,) = told(slack)
    assert refusal.startswith(":no_entry: Only ") and "may resolve this alert" in refusal
    # Mentions stay mentions (not escaped), so Slack shows who may.
    assert f"<@{ADMIN}>" in refusal and f"<!subteam^{GROUP}>" in refusal
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed) == (
        STRANGER, "resolve", "INC-1", False)
    # Still open: an admin's resolve goes through afterwards.
    served.command("resolve INC-1", user=ADMIN)
    assert acts_left(served.shown(opened)["blocks"]) == ["show_chart"]


def test_the_ack_command_does_what_the_button_does(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    other = served.open(2)
    # Typed in another channel: the message is edited where it was posted.
    assert served.command("ack INC-1", user=ADMIN, channel="C2").status_code == 200
    assert told(slack) == []
    (update,) = slack.calls("chat.update", delivered=True)
    assert (update.args["channel"], update.args["ts"]) == (CHANNEL, opened.message_ts)
    served.press(ADMIN, "acknowledge", other)
    typed, pressed = served.incident(opened.id), served.incident(other.id)
    assert shows(served.shown(typed), typed) and shows(served.shown(pressed), pressed)
    # The same words (and time: the clock stood still), on each incident's own message.
    assert status(served.shown(typed)["blocks"]).split("\n")[0] == status(
        served.shown(pressed)["blocks"]).split("\n")[0]
    assert acts_left(served.shown(typed)["blocks"]) == [
        "snooze", "resolve", "escalate", "silence", "show_chart"]
    # One record each, alike.
    assert [(r.user, r.action, r.target, r.allowed, r.detail) for r in served.audit.recent()
            ] == [(ADMIN, "acknowledge", "INC-2", True, "admin"),
                  (ADMIN, "acknowledge", "INC-1", True, "admin")]


def test_commands_and_buttons_build_on_each_other(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    served.press(ADMIN, "acknowledge", opened)
    served.command("escalate INC-1", user=ADMIN)
    served.command("snooze inc-1 4h", user=MEMBER)
    served.command("resolve 1", user=ADMIN)
    stored = served.incident(opened.id)
    assert stored.state is State.RESOLVED
    assert [(e.kind, e.user) for e in served.store.timeline(opened.id)] == [
        ("opened", None), ("acknowledge", ADMIN), ("escalate", ADMIN), ("snooze", MEMBER),
        ("resolve", ADMIN)]
    assert len(slack.calls("chat.update", delivered=True)) == 4
    assert shows(served.shown(stored), stored)
    assert told(slack) == []
    # Resolved: the commands are refused, privately, and recorded as refused.
    served.command("ack INC-1", user=ADMIN)
    assert len(slack.calls("chat.update")) == 4 and served.incident(opened.id) == stored
    assert told(slack)[-1].startswith("INC-1 is already resolved (resolved by <@U1> after")
    last = served.audit.recent()[0]
    assert (last.action, last.allowed) == ("acknowledge", False)
    assert [r.allowed for r in served.audit.recent()] == [False] + [True] * 4


@pytest.mark.parametrize(
    ("typed", "says"),
    [("ack INC-99", "There is no incident `INC-99`. `/perf incidents` lists the open ones."),
     ("resolve <script>", "There is no incident `&lt;script&gt;`."),
     ("escalate f-1", "There is no incident `f-1`."),
     ("ack", "Usage: `/perf ack INC-42`, with the incident's id (on its message)."),
     ("resolve INC-1 now", "Usage: `/perf resolve INC-42`, with the incident's id"),
     ("snooze INC-1 4h more", "Usage: `/perf snooze INC-42 [15m|1h|4h|1d]`, with the"),
     ("snooze INC-1 2w", "I can snooze for 15m, 1h, 4h, 1d, not `2w`. Usage: `/perf snooze")],
)
def test_an_unknown_incident_or_bad_words_change_nothing_and_record_nothing(
    served: Served, slack: SlackStandIn, opened: Incident, typed: str, says: str,
) -> None:
    assert served.command(typed, user=ADMIN).status_code == 200
    (reply,) = told(slack)
    assert reply.startswith(says)
    assert slack.calls("chat.update") == []
    unchanged(served, opened)
    assert served.audit.recent() == []


def test_the_snooze_command_defaults_to_an_hour(
    served: Served, slack: SlackStandIn, opened: Incident,
) -> None:
    now = served.perfbot.now()
    served.command("snooze INC-1", user=ADMIN)
    stored = served.incident(opened.id)
    assert stored.snoozed_until == now + timedelta(hours=1)
    assert status(served.shown(stored)["blocks"]).startswith(f":zzz: Snoozed by <@{ADMIN}>")
    (row,) = served.audit.recent()
    assert row.detail == "admin; for 1h"
