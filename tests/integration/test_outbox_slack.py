"""The outbox on Slack, end to end: incidents opened through the incidents capability on a
real SQLite file, their effects carried out by ``Delivery`` over real HTTP against the Slack
Web API stand-in, on a fake clock. Assertions are on the calls the stand-in received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot.alerts.acts import Act
from bot.clock import FakeClock
from bot.incidents.lifecycle import Change, Effect, Incident
from bot.incidents.policies import OnCallSettings, Policy, Routing, Step
from bot.incidents.service import Firing, Incidents
from bot.notify.outbox import MAX_ATTEMPTS, Delivery
from bot.notify.slack import make_web_client
from bot.render.blocks import ALERT_STATUS_BLOCK, alert_action_id, validate_blocks
from bot.storage import Database
from bot.storage.incidents import IncidentStore
from bot.storage.schema import outbox
from tests.incident_factory import AT, alert, message
from tests.slack_standin import TOKEN, Call, SlackStandIn

OWN, DEFAULT, GONE = "C1", "CDEF", "C404"
PAGING = OnCallSettings(
    policies=(Policy(name="sre", steps=(
        Step(notify_users=("U1", "U2"), wait=timedelta(minutes=5)),
        Step(notify_group="S1", wait=timedelta(minutes=5)),
        Step(notify_channel="here"))),),
    routing=Routing(default="sre"))


@dataclass
class Setup:
    slack: SlackStandIn
    store: IncidentStore
    incidents: Incidents
    delivery: Delivery
    clock: FakeClock

    def fire(self, number: int = 1, **args: Any) -> Incident:
        item = alert(number, at=self.clock.now(), **args)
        return self.incidents.fire(Firing(alert=item, message=message(item)), self.clock.now())

    def deliver(self, seconds: float = 0) -> int:
        return self.delivery.deliver(self.clock.advance(timedelta(seconds=seconds)))

    def drain(self, calls: int = 60) -> None:
        """Deliver once a second until nothing is pending (the pace allows one per second)."""
        for _ in range(calls):
            self.deliver(1)
            if not self.store.pending(self.clock.now()):
                return
        raise AssertionError(f"still pending: {self.store.pending(self.clock.now())}")

    def posts(self, channel: str = OWN, *, top: bool | None = None) -> list[Call]:
        return [c for c in self.slack.calls("chat.postMessage", delivered=True)
                if c.args["channel"] == channel
                and (top is None or top is (c.args.get("thread_ts") is None))]


def setup_for(tmp_path: Path, slack: SlackStandIn, oncall: OnCallSettings = PAGING,
              channel: str = OWN) -> Setup:
    store = IncidentStore(Database(f"sqlite:///{tmp_path / 'perfbot.db'}"))
    clock = FakeClock(AT)
    incidents = Incidents(store=store, oncall=oncall, default_channel=DEFAULT,
                          reopen_within=timedelta(hours=1), channel_of=lambda _: channel)
    client = make_web_client(TOKEN, base_url=slack.api_url, server_backoff=0.01)
    delivery = Delivery(store, client, UTC, DEFAULT, clock, storm_threshold=5)
    return Setup(slack, store, incidents, delivery, clock)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(channels={OWN: True, DEFAULT: True},
                      users={"U1": "Europe/Paris", "U2": "UTC"}) as standin:
        yield standin


@pytest.fixture
def bot(tmp_path: Path, slack: SlackStandIn) -> Iterator[Setup]:
    setup = setup_for(tmp_path, slack)
    yield setup
    setup.store.database.close()


def status(slack: SlackStandIn, channel: str, ts: str) -> str:
    blocks = slack.message(channel, ts)["blocks"]
    (block,) = [b for b in blocks if b.get("block_id") == ALERT_STATUS_BLOCK]
    return "\n".join(e["text"] for e in block["elements"])


def top_level(slack: SlackStandIn, channel: str) -> list[str]:
    """The ts of the messages in ``channel`` outside any thread."""
    with slack._changed:
        found = dict(slack.state.messages)
    return sorted(ts for (where, ts), posted in found.items()
                  if where == channel and not posted.get("thread_ts"))


def test_an_incident_is_posted_once_with_its_chart_in_its_thread(bot: Setup) -> None:
    opened = bot.fire()
    assert bot.deliver() == 1  # the post; the chart waits for the channel's pace
    (post,) = bot.posts()
    validate_blocks(post.args["blocks"])
    assert "INC-1" in post.args["blocks"][0]["text"]["text"]
    stored = bot.store.get(opened.id)
    assert stored is not None and stored.channel == OWN
    ts = stored.message_ts
    assert ts is not None and bot.slack.message(OWN, ts)["blocks"] == post.args["blocks"]
    assert bot.deliver(1) == 1
    (upload,) = bot.slack.calls("files.completeUploadExternal", delivered=True)
    assert upload.args["channel_id"] == OWN and upload.args["thread_ts"] == ts
    assert bot.slack.calls("upload")[0].args["bytes"] > 1000
    assert bot.deliver(60) == 0  # nothing is sent twice
    assert len(bot.posts()) == 1 and len(bot.slack.calls("files.completeUploadExternal")) == 1


def test_a_change_edits_the_message_in_place_from_the_stored_state(bot: Setup) -> None:
    opened = bot.fire(with_chart=False)
    bot.deliver()
    ts = bot.store.get(opened.id).message_ts  # type: ignore[union-attr]
    assert ts is not None
    acked = bot.incidents.act(opened.id, Act.ACKNOWLEDGE, "U1", bot.clock.advance(
        timedelta(minutes=2)))
    assert isinstance(acked, Incident)
    assert bot.delivery.deliver_for(opened.id, bot.clock.now()) == 1
    (update,) = bot.slack.calls("chat.update", delivered=True)
    assert update.args["ts"] == ts and update.args["channel"] == OWN
    assert status(bot.slack, OWN, ts).startswith(":eyes: Acknowledged by <@U1>")
    resolved = bot.incidents.act(opened.id, Act.RESOLVE, "U2", bot.clock.advance(
        timedelta(minutes=40)))
    assert isinstance(resolved, Incident)
    assert bot.deliver() == 1
    assert status(bot.slack, OWN, ts).startswith(":white_check_mark: Resolved by <@U2>")
    blocks = bot.slack.message(OWN, ts)["blocks"]
    actions = [e["action_id"] for b in blocks if b["type"] == "actions"
               and b.get("block_id") != "alert_feedback" for e in b["elements"]]
    assert actions == []  # no chart: a resolved incident keeps no button of its own
    # Only Useful / Noise stay: whether an alert was noise is often judged after it ended.
    feedback = [e["action_id"] for b in blocks if b.get("block_id") == "alert_feedback"
                for e in b["elements"]]
    assert feedback == [f"feedback.useful:{opened.name}", f"feedback.noise:{opened.name}"]
    assert len(bot.posts()) == 1


def test_a_page_dms_each_person_and_says_so_in_the_thread(bot: Setup) -> None:
    opened = bot.fire(with_chart=False)
    bot.incidents.sweep(bot.clock.now())  # the first step is due at once
    # The post (showing the level already), the DMs at once, the edit with nothing new
    # skipped; the page's line in the thread waits for the channel's pace.
    assert bot.deliver() == 2
    assert len(bot.slack.calls("conversations.open")) == 2 and not bot.posts(top=False)
    assert not bot.slack.calls("chat.update")
    assert bot.deliver(1) == 1
    stored = bot.store.get(opened.id)
    assert stored is not None and stored.message_ts is not None and stored.level == 1
    dms = [c for c in bot.slack.calls("chat.postMessage", delivered=True)
           if c.args["channel"].startswith("D")]
    assert sorted(c.args["channel"] for c in dms) == ["DU1", "DU2"]
    dm = json.dumps(dms[0].args["blocks"])
    assert "You are paged for *INC-1*" in dm
    assert f"/archives/{OWN}/p{stored.message_ts.replace('.', '')}" in dm
    assert alert_action_id(Act.ACKNOWLEDGE, "INC-1") in dm
    (line,) = bot.posts(top=False)
    assert line.args["thread_ts"] == stored.message_ts
    assert line.args["text"] == ":rotating_light: Paged <@U1>, <@U2> (step 1, pass 1)"
    assert "last paged: step 1, pass 1: <@U1>, <@U2>" in status(bot.slack, OWN,
                                                                stored.message_ts)
    bot.clock.advance(timedelta(minutes=5))
    bot.incidents.sweep(bot.clock.now())
    bot.drain()
    group = bot.posts(top=False)[-1]
    assert group.args["text"] == ":rotating_light: Paged <!subteam^S1> (step 2, pass 1)"
    assert len([c for c in bot.slack.calls("chat.postMessage") if c.args["channel"][0] == "D"]
               ) == 2  # the group step DMs nobody; nobody got a DM twice


def test_a_channel_that_refuses_the_post_sends_it_to_the_default_channel(
    tmp_path: Path, slack: SlackStandIn, caplog: pytest.LogCaptureFixture,
) -> None:
    setup = setup_for(tmp_path, slack, channel=GONE)
    try:
        opened = setup.fire(with_chart=False)
        assert setup.deliver() == 1
        assert [c.error for c in slack.calls("chat.postMessage")] == ["channel_not_found", None]
        assert len(setup.posts(DEFAULT)) == 1
        stored = setup.store.get(opened.id)
        assert stored is not None and stored.channel == DEFAULT
        assert "posting in the default channel CDEF instead" in caplog.text
        setup.incidents.act(opened.id, Act.ACKNOWLEDGE, "U1", setup.clock.now())
        assert setup.deliver(1) == 1
        assert slack.calls("chat.update", delivered=True)[0].args["channel"] == DEFAULT
    finally:
        setup.store.database.close()


def test_a_slack_outage_is_retried_on_a_later_call_and_sent_once(bot: Setup) -> None:
    bot.slack.server_error("chat.postMessage", status=500)  # a post is not retried at once
    opened = bot.fire(with_chart=False)
    assert bot.deliver() == 0
    (item,) = bot.store.outbox(opened.id)
    assert item.attempts == 1 and item.sent_at is None and "service_unavailable" in \
        item.last_error
    assert bot.deliver(1) == 0  # the retry waits its 5 s
    assert bot.deliver(5) == 1
    assert len(bot.posts()) == 1


def test_an_effect_slack_always_refuses_is_given_up_after_its_attempts(
    bot: Setup, caplog: pytest.LogCaptureFixture,
) -> None:
    bot.slack.fail("chat.postMessage", "invalid_blocks", times=MAX_ATTEMPTS)
    opened = bot.fire(with_chart=False)
    for _ in range(MAX_ATTEMPTS):
        bot.deliver(600)
    (item,) = bot.store.outbox(opened.id)
    assert item.attempts == MAX_ATTEMPTS and item.sent_at is not None
    assert f"gave up on INC-1:post after {MAX_ATTEMPTS} attempts" in caplog.text
    assert bot.deliver(600) == 0 and len(bot.slack.calls("chat.postMessage")) == MAX_ATTEMPTS


def test_a_storm_is_one_channel_message_with_each_incident_in_its_thread(
    bot: Setup,
) -> None:
    opened = [bot.fire(n, with_chart=False) for n in range(1, 9)]
    bot.drain()
    (summary,) = bot.posts(top=True)
    assert "*8 incidents* opened here" in json.dumps(summary.args["blocks"])
    threaded = [c for c in bot.posts(top=False) if c.args.get("blocks")]
    assert len(threaded) == 8
    assert {c.args["thread_ts"] for c in threaded} == set(top_level(bot.slack, OWN))
    stored = [bot.store.get(i.id) for i in opened]
    assert all(s is not None and [s.thread_ts] == top_level(bot.slack, OWN) for s in stored)
    first = stored[0]
    assert first is not None and first.message_ts is not None
    bot.incidents.act(first.id, Act.ACKNOWLEDGE, "U1", bot.clock.now())
    assert bot.deliver(1) == 1  # the threaded message is edited in place
    assert status(bot.slack, OWN, first.message_ts).startswith(":eyes: Acknowledged")


def test_the_pace_is_one_post_per_second_per_channel(bot: Setup) -> None:
    one, two = bot.fire(1, with_chart=False), bot.fire(2, with_chart=False)
    assert bot.deliver() == 1
    assert bot.delivery.held_back == 1
    assert bot.deliver(0.5) == 0  # still within the second
    assert bot.deliver(0.5) == 1
    assert [c.args["blocks"][0]["text"]["text"].rsplit(" ", 1)[1] for c in bot.posts()] == \
        [one.name, two.name]


def test_a_post_slack_took_before_a_crash_is_not_posted_again(
    bot: Setup, slack: SlackStandIn,
) -> None:
    opened = bot.fire(with_chart=False)
    bot.deliver()
    (item,) = bot.store.outbox(opened.id)
    with bot.store.database.engine().begin() as connection:  # as if killed before "sent"
        connection.execute(update(outbox).where(outbox.c.id == item.id).values(sent_at=None))
    after_restart = Delivery(bot.store, bot.delivery.client, UTC, DEFAULT, bot.clock,
                             storm_threshold=5)
    assert after_restart.deliver(bot.clock.advance(timedelta(seconds=5))) == 1
    assert len(bot.posts()) == 1 and bot.store.pending(bot.clock.now()) == []


def test_replies_go_in_the_thread_with_the_metrics_words_inert(bot: Setup) -> None:
    opened = bot.fire(with_chart=False)
    other = bot.fire(2, with_chart=False)
    bot.drain()
    ts = bot.store.get(opened.id).message_ts  # type: ignore[union-attr]
    later = bot.clock.advance(timedelta(minutes=40))
    bot.incidents.cycle([Firing(alert=other.alert, message=other.message)], "detection", later,
                        how={opened.fingerprint: "p95 back to 230 ms <!here>"})
    assert bot.delivery.deliver_for(opened.id, later) == 2  # its edit and its reply only
    (reply,) = [c for c in bot.posts(top=False) if c.args["thread_ts"] == ts]
    assert reply.args["text"].startswith(":white_check_mark: Resolved: recovered on its own "
                                         "after 40m")
    assert reply.args["text"].endswith(": p95 back to 230 ms ‹!here›")
    assert status(bot.slack, OWN, ts or "").startswith(":white_check_mark: Recovered")
    bot.clock.advance(timedelta(minutes=10))
    bot.fire()  # the same problem again within the hour: reopened, the same message
    bot.drain()
    assert len(bot.posts(top=True)) == 2  # still one message per incident
    reopened = bot.posts(top=False)[-1]
    assert reopened.args["thread_ts"] == ts and "reopened" in reopened.args["text"]
    assert status(bot.slack, OWN, ts or "").startswith(":rotating_light: Triggered")


def test_a_reply_that_must_not_ping_gets_its_mentions_by_an_edit(bot: Setup) -> None:
    opened = bot.fire(with_chart=False)
    bot.deliver()
    quiet = Effect(key="INC-1:closed", kind="reply", text="Closed by <@U1>")
    bot.store.change(opened.id, lambda i: Change(
        incident=i.model_copy(update={"version": i.version + 1}), effects=[quiet]))
    assert bot.deliver(1) == 1
    (reply,) = bot.posts(top=False)
    assert reply.args["text"] == "Closed by someone"  # posted without a mention
    (edit,) = bot.slack.calls("chat.update", delivered=True)
    assert edit.args["ts"] == bot.slack.message(OWN, edit.args["ts"])["ts"]
    assert edit.args["text"] == "Closed by <@U1>"  # an edit notifies nobody


def test_incidents_opening_just_after_a_storm_join_its_thread(bot: Setup) -> None:
    for n in range(1, 7):
        bot.fire(n, with_chart=False)
    bot.deliver()  # six at once: the summary
    assert len(bot.posts(top=True)) == 1
    bot.clock.advance(timedelta(seconds=20))
    late = bot.fire(7, with_chart=False)
    bot.drain()
    assert len(bot.posts(top=True)) == 1
    stored = bot.store.get(late.id)
    assert stored is not None and [stored.thread_ts] == top_level(bot.slack, OWN)
    edited = [c for c in bot.slack.calls("chat.update", delivered=True)
              if c.args["ts"] == stored.thread_ts]
    assert edited and "*7 incidents*" in json.dumps(edited[-1].args["blocks"])


def test_a_page_decided_before_an_acknowledgement_is_not_sent_after_it(bot: Setup) -> None:
    opened = bot.fire(with_chart=False)
    bot.incidents.sweep(bot.clock.now())  # the first step decided…
    bot.incidents.act(opened.id, Act.ACKNOWLEDGE, "U1", bot.clock.now())  # …then acknowledged
    bot.drain()
    assert not bot.slack.calls("conversations.open") and not bot.posts(top=False)
    assert bot.store.pending(bot.clock.now()) == []
