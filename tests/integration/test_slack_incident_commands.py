"""``/perf incidents``, ``/perf incident INC-n``, ``/perf silence …``, ``/perf oncall [override
…]`` and App Home, end to end: incidents opened through ``perfbot.incidents.fire`` on a real
SQLite file and posted to the Slack Web API stand-in, the real Bolt app in HTTP mode sent
signed slash commands and events, with a configured on-call schedule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.alerts.model import fingerprint
from bot.app import Perfbot
from bot.incidents.lifecycle import Incident, State
from bot.incidents.policies import OnCallSettings
from bot.incidents.service import Firing
from bot.metrics.demo import DemoBackend
from bot.render.blocks import validate_blocks
from bot.render.mrkdwn import slack_time
from tests.incident_factory import alert, message
from tests.integration.test_slack_app import section_texts
from tests.slack_incidents import (
    ADMIN,
    CHANNEL,
    MEMBER,
    STRANGER,
    ZONE,
    Served,
    perfbot_on,
    standin,
    told,
)
from tests.slack_standin import SlackStandIn

# UANNA and UBEN take weekly turns, handing over on Mondays at 09:00 in Berlin; the clock
# stands at Monday 23 November 2026, 13:00 in Berlin: UBEN's turn, UANNA's from the 30th.
ONCALL = OnCallSettings.model_validate({
    "schedules": [{"name": "primary", "layers": [{
        "members": ["UANNA", "UBEN"], "start": "2026-11-16 09:00", "length": "1w",
        "time_zone": "Europe/Berlin"}]}],
    "policies": [{"name": "sre", "steps": [{"notify_schedule": "primary", "wait": "10m"}]}],
    "routing": {"default": "sre"},
})


def fire_on(served: Served, number: int, service: str, endpoint: str) -> Incident:
    """An alert of ``service`` on ``endpoint`` raised now: its incident, not yet delivered."""
    now = served.perfbot.now()
    item = alert(number, at=now, service=service).model_copy(update={
        "endpoint": endpoint,
        "fingerprint": fingerprint("detection", "latency", service, endpoint)})
    return served.perfbot.incidents.fire(Firing(alert=item, message=message(item)), now)


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as running:
        yield running


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'perfbot.db'}"


@pytest.fixture
def perfbot(database: str, demo_backend: DemoBackend) -> Perfbot:
    return perfbot_on(database, demo_backend, oncall=ONCALL)


@pytest.fixture
def served(perfbot: Perfbot, slack: SlackStandIn) -> Iterator[Served]:
    with Served(perfbot, slack) as bot:
        yield bot


def reply(slack: SlackStandIn) -> dict[str, Any]:
    """The one private answer of the last command, its blocks checked."""
    answer = slack.calls("response_url")[-1].args
    assert answer["response_type"] == "ephemeral"
    blocks = answer["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    validate_blocks(blocks)
    return {"text": answer["text"], "blocks": blocks,
            "mrkdwn": "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")}


# --- /perf incidents and /perf incident INC-n -----------------------------------------------


def test_incidents_lists_the_open_ones_newest_first(
    served: Served, slack: SlackStandIn,
) -> None:
    served.command("incidents", user=STRANGER)  # reading is open to everyone
    assert reply(slack)["mrkdwn"] == ":white_check_mark: No open incidents."
    _, two, _ = (served.open(n, title=f"orders p95 latency up #{n}") for n in (1, 2, 3))
    served.command("resolve INC-2", user=ADMIN)
    served.command("ack INC-1", user=ADMIN)
    posts = len(slack.calls("chat.postMessage"))
    served.command("incidents", user=STRANGER)
    listed = reply(slack)
    assert listed["text"] == "2 open: INC-3, INC-1"
    head, three_line, one_line = listed["mrkdwn"].split("\n")
    assert head == "*2 open incidents*, newest first"
    assert three_line.startswith("• 🔴 *INC-3* orders p95 latency up #3 · triggered · opened <!")
    assert one_line.startswith("• 🔴 *INC-1* orders p95 latency up #1 · acknowledged by <@U1>")
    assert one_line.endswith(f" in <#{CHANNEL}>")
    assert len(slack.calls("chat.postMessage")) == posts  # told privately, nothing posted
    assert served.incident(two.id).state is State.RESOLVED


def test_incident_shows_where_it_stands_and_its_timeline(
    served: Served, slack: SlackStandIn,
) -> None:
    opened = served.open()
    served.command("ack INC-1", user=ADMIN)
    served.clock.advance(timedelta(minutes=5))
    served.command("snooze INC-1 4h", user=MEMBER)
    served.command("incident inc-1", user=STRANGER)
    shown = reply(slack)
    assert shown["text"] == "INC-1: snoozed, 3 timeline entries"
    head, *lines = shown["mrkdwn"].split("\n")
    assert head == "*INC-1* 🔴 CRITICAL: orders p95 latency up"
    (status,) = [b for b in shown["blocks"] if b["type"] == "context"]
    assert status["elements"][0]["text"].startswith(f":zzz: Snoozed by <@{MEMBER}> until <!")
    opened_at = slack_time(opened.opened_at, ZONE, day=True)
    assert lines[0] == f"• {opened_at} *opened*: critical: orders p95 latency up"
    assert lines[1].endswith(f" *acknowledge* by <@{ADMIN}>: acknowledged")
    assert lines[2].endswith(f" *snooze* by <@{MEMBER}>: snoozed for 4h")
    assert len(lines) == 3


def test_postmortem_is_uploaded_in_the_incidents_thread(
    served: Served, slack: SlackStandIn,
) -> None:
    opened = served.open()
    served.command("ack INC-1", user=ADMIN)
    uploads = len(slack.calls("files.completeUploadExternal"))
    served.command("postmortem INC-1", user=STRANGER)
    assert reply(slack)["mrkdwn"] == "The postmortem of INC-1 is in its thread."
    done = slack.calls("files.completeUploadExternal")[uploads:]
    assert len(done) == 1
    assert done[0].args.get("thread_ts") == opened.message_ts
    (uploaded,) = json.loads(done[0].args["files"])
    assert uploaded["title"] == "Postmortem of INC-1"
    markdown = bytes(slack.state.uploads[uploaded["id"]]).decode()
    assert markdown.startswith("# INC-1: orders p95 latency up")
    assert "acknowledge" in markdown


@pytest.mark.parametrize(("typed", "says"), [
    ("incident INC-9", "Usage: `/perf incident INC-42`; there is no incident `INC-9`."),
    ("incident", "Usage: `/perf incident INC-42`; there is no incident `(none given)`."),
    ("incident <!here>", "there is no incident `&lt;!here&gt;`."),
])
def test_incident_of_an_unknown_id_says_so(
    served: Served, slack: SlackStandIn, typed: str, says: str,
) -> None:
    served.open()
    served.command(typed)
    assert reply(slack)["mrkdwn"].endswith(says)


# --- /perf silence ----------------------------------------------------------------------------


def test_silence_is_stored_and_a_matching_incident_is_listed_not_posted(
    served: Served, slack: SlackStandIn,
) -> None:
    now = served.perfbot.now()
    served.command("silence orders 2h deploy in progress", user=ADMIN)
    until = slack_time(now + timedelta(hours=2), ZONE, day=True)
    assert told(slack) == [f":mute: Silenced `orders` until {until}: deploy in progress. New "
                           "incidents that match are stored and listed, not posted."]
    (silence,) = served.store.silences(now)
    assert (silence.matcher, silence.reason, silence.created_by, silence.ends_at) == (
        "orders", "deploy in progress", ADMIN, now + timedelta(hours=2))
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed, row.detail) == (
        ADMIN, "silence", f"silence:{silence.id}", True, "orders for 2h: deploy in progress")
    # A new incident for orders: stored and listed, never posted.
    quiet = served.fire(1)
    served.drain()
    assert slack.calls("chat.postMessage") == []
    assert served.incident(quiet.id).silenced.startswith(f"silence #{silence.id}")
    served.command("incidents", user=STRANGER)
    (line,) = reply(slack)["mrkdwn"].split("\n")[1:]
    assert line.startswith("• 🔴 *INC-1* orders p95 latency up · silenced · opened")
    # Another service is posted as before; once the silence is over, orders is too.
    fire_on(served, 2, "payments", "payments POST /api/checkout")
    served.drain()
    served.clock.advance(timedelta(hours=2))
    served.open(3)
    assert [c.args["blocks"][0]["text"]["text"].rsplit(" ", 1)[1]
            for c in slack.calls("chat.postMessage", delivered=True)] == ["INC-2", "INC-3"]


@pytest.mark.parametrize(("user", "typed", "says"), [
    (ADMIN, "silence orders soon", "`soon` is not a duration. Usage: `/perf silence checkout "
                                   "2h deploy in progress`"),
    (ADMIN, "silence orders 30s", "A silence lasts from 1m to 1w, not 30s."),
    (ADMIN, "silence orders 8d", "A silence lasts from 1m to 1w, not 8d."),
    (ADMIN, "silence", "Usage: `/perf silence checkout 2h deploy in progress`"),
    (ADMIN, "silence orders", "Usage: `/perf silence checkout 2h"),
    (ADMIN, "silence <!channel> 2h", "No service or endpoint matches `&lt;!channel&gt;`;"),
    (ADMIN, "silence inventory 2h", "No service or endpoint matches `inventory`;"),
    (STRANGER, "silence orders 2h", f":no_entry: Only <@{ADMIN}>, members of "
                                    "<!subteam^S1> or the on-call of the alert's policy may "
                                    "silence alerts."),
])
def test_a_silence_that_cannot_be_is_told_and_nothing_is_stored(
    served: Served, slack: SlackStandIn, user: str, typed: str, says: str,
) -> None:
    served.command(typed, user=user)
    (answer,) = told(slack)
    assert answer.startswith(says)
    assert served.store.silences(served.perfbot.now()) == []
    # Only a refusal is recorded, as the buttons' are.
    assert [(r.user, r.action, r.allowed) for r in served.audit.recent()] == (
        [(STRANGER, "silence", False)] if user == STRANGER else [])
    served.open()  # nothing silences the next incident
    assert len(slack.calls("chat.postMessage", delivered=True)) == 1


def test_a_route_word_silences_only_the_endpoints_that_have_it(
    served: Served, slack: SlackStandIn,
) -> None:
    served.command("silence history 1h", user=ADMIN)
    history = fire_on(served, 1, "orders", "orders GET /api/orders/history")
    other = fire_on(served, 2, "orders", "orders GET /api/orders/{order_id}")
    served.drain()
    assert served.incident(history.id).silenced and not served.incident(other.id).silenced
    (post,) = slack.calls("chat.postMessage", delivered=True)
    assert post.args["blocks"][0]["text"]["text"].endswith("· INC-2")


# --- /perf oncall ----------------------------------------------------------------------------


def test_oncall_says_who_is_on_call_now_and_next(served: Served, slack: SlackStandIn) -> None:
    served.command("oncall", user=STRANGER)
    handover = slack_time(berlin("2026-11-30 09:00"), ZONE, day=True)
    assert reply(slack)["mrkdwn"] == (f"*On call now*\n• *primary*: <@UBEN>; next: <@UANNA> "
                                      f"from {handover}")


def test_an_override_is_stored_recorded_and_shown_and_its_person_may_act(
    served: Served, slack: SlackStandIn,
) -> None:
    opened = served.open()
    # STRANGER, on call by the override, may acknowledge as the on-call of the policy.
    served.command(f"oncall override <@{STRANGER}|stranger> 2026-11-23 12:00 to "
                   "2026-11-24 09:00", user=ADMIN)
    start, end = berlin("2026-11-23 12:00"), berlin("2026-11-24 09:00")
    assert told(slack) == [f":calendar: <@{STRANGER}> is on call for *primary* from "
                           f"{slack_time(start, ZONE, day=True)} to "
                           f"{slack_time(end, ZONE, day=True)}."]
    (override,) = served.store.overrides(served.perfbot.now())
    assert (override.schedule, override.user, override.starts_at, override.ends_at,
            override.created_by) == ("primary", STRANGER, start, end, ADMIN)
    (row,) = served.audit.recent()
    assert (row.user, row.action, row.target, row.allowed) == (
        ADMIN, "override", f"override:{override.id}", True)
    assert row.detail == (f"{STRANGER} on call for primary from 2026-11-23T11:00:00+00:00 to "
                          "2026-11-24T08:00:00+00:00")
    served.command("oncall", user=MEMBER)
    assert reply(slack)["mrkdwn"] == (
        f"*On call now*\n• *primary*: <@{STRANGER}>; next: <@UBEN> from "
        f"{slack_time(end, ZONE, day=True)}")
    served.press(STRANGER, "acknowledge", opened)
    stored = served.incident(opened.id)
    assert stored.state is State.ACKNOWLEDGED and stored.acknowledged_by == STRANGER
    assert served.audit.recent()[0].detail == "on call"


@pytest.mark.parametrize(("user", "typed", "says"), [
    (ADMIN, "oncall override ana 2026-11-24 09:00 to 2026-11-25 09:00",
     "Start with the person, as a mention (`@ana`). Usage: `/perf oncall override @person"),
    (ADMIN, "oncall override <@U2> 2026-11-24 09:00 2026-11-25 09:00",
     "Give the start and the end, joined by `to`."),
    (ADMIN, "oncall override <@U2> tomorrow to friday",
     "`tomorrow to friday` is not two times like `2026-12-24 09:00`."),
    (ADMIN, "oncall override <@U2> 2026-11-25 09:00 to 2026-11-24 09:00",
     "The end must come after the start."),
    (ADMIN, "oncall override <@U2> 2026-11-24 09:00 to 2027-01-24 09:00",
     "An override lasts at most 4w3d."),
    (ADMIN, "oncall override <@U2> 2026-11-20 09:00 to 2026-11-21 09:00",
     "That override would already be over."),
    (ADMIN, "oncall override <@U2> 2026-11-24 09:00 to 2026-11-25 09:00 secondary",
     "`2026-11-24 09:00 to 2026-11-25 09:00 secondary` is not two times"),
    (STRANGER, "oncall override <@U2> 2026-11-24 09:00 to 2026-11-25 09:00",
     ":no_entry: Only <@U1>, members of <!subteam^S1> or the on-call"),
])
def test_an_override_that_cannot_be_is_told_and_nothing_is_stored(
    served: Served, slack: SlackStandIn, user: str, typed: str, says: str,
) -> None:
    served.command(typed, user=user)
    (answer,) = told(slack)
    assert answer.startswith(says)
    assert served.store.overrides(served.perfbot.now()) == []
    assert [(r.user, r.allowed) for r in served.audit.recent()] == (
        [(STRANGER, False)] if user == STRANGER else [])


def test_oncall_without_a_schedule_says_how_to_configure_one(
    database: str, demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    with Served(perfbot_on(database, demo_backend), slack) as served:
        served.command("oncall")
        served.command("oncall override <@U2> 2026-11-24 09:00 to 2026-11-25 09:00")
    who, override = told(slack)
    assert who.startswith("No on-call schedule is configured: add `oncall.schedules`")
    assert override.startswith("No on-call schedule is configured. Usage:")


# --- App Home -------------------------------------------------------------------------------


def home_of(served: Served, slack: SlackStandIn, user: str) -> dict[str, str]:
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home",
             "event_ts": "1700000005.000100"}
    published = len(slack.calls("views.publish"))
    assert served.event(event, event_id=f"EvHome{published}").status_code == 200
    (view,) = [c.args["view"] for c in slack.calls("views.publish", delivered=True)[published:]]
    view = json.loads(view) if isinstance(view, str) else view
    return section_texts(view["blocks"])


def test_app_home_shows_the_open_incidents_and_who_is_on_call(
    served: Served, slack: SlackStandIn,
) -> None:
    served.open(1)
    two = served.open(2, title="orders error ratio up")
    served.command("resolve INC-1", user=ADMIN)
    served.command("snooze INC-2 1h", user=ADMIN)
    home = home_of(served, slack, MEMBER)
    since = slack_time(two.opened_at, ZONE, day=True)
    assert home["Open incidents"] == f"• *INC-2* snoozed: orders error ratio up (since {since})"
    assert "<@UBEN>" in home["On call now"]
    assert [line for line in home["Commands"].split("\n") if "not configured" in line] == []
    served.command(f"oncall override <@{MEMBER}> 2026-11-23 12:00 to 2026-11-23 18:00",
                   user=ADMIN)
    assert f"<@{MEMBER}>" in home_of(served, slack, MEMBER)["On call now"]


def test_app_home_names_the_on_call_of_a_schedule_no_policy_pages_yet(
    database: str, demo_backend: DemoBackend, slack: SlackStandIn,
) -> None:
    schedules_only = OnCallSettings(schedules=ONCALL.schedules)
    with Served(perfbot_on(database, demo_backend, oncall=schedules_only), slack) as served:
        served.command("oncall")
        said = reply(slack)["mrkdwn"]
        home = home_of(served, slack, ADMIN)
    assert "*primary*: <@UBEN>" in said
    assert "<@UBEN>" in home["On call now"]


def test_a_silence_or_override_that_cannot_be_recorded_is_not_stored(
    served: Served, slack: SlackStandIn,
) -> None:
    # Stored with its audit row or not at all, as the buttons' changes are.
    with served.perfbot.database.engine().begin() as connection:
        connection.execute(text("ALTER TABLE actions RENAME TO actions_elsewhere"))
    served.command("silence orders 2h deploy", user=ADMIN)
    served.command("oncall override <@U2> 2026-11-24 09:00 to 2026-11-25 09:00", user=ADMIN)
    silence, override = told(slack)
    assert silence.startswith("Nothing changed: I could not store the silence (")
    assert override.startswith("Nothing changed: I could not store the override (")
    now = served.perfbot.now()
    assert served.store.silences(now) == [] and served.store.overrides(now) == []


def test_what_people_typed_is_quoted_inert(served: Served, slack: SlackStandIn) -> None:
    """A reply that quotes the command keeps the quote in its code span: the person's
    backticks do not end it, their mentions do not ping."""
    served.command("incident <!channel> ```x``` <@U999>", user=STRANGER)
    served.command("silence <!here>`x` 2h", user=STRANGER)
    served.command("silence orders 2x`<@U999>`", user=STRANGER)
    replies = slack.calls("response_url")
    assert len(replies) == 3
    for answer in replies:
        blocks = answer.args["blocks"]
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        for said in (answer.args["text"], *(b["text"]["text"] for b in blocks)):
            assert "<!" not in said and "<@" not in said, said
            # Only the bot's own code spans: `/perf incident INC-42` and the quote, or the
            # quote and `/perf help`, or the quote and the usage.
            assert said.count("`") == 4, said
