"""The whole incidents loop on real parts: a real Prometheus backfilled with the demo, the
bot's ``PrometheusBackend`` on it, a SQLite file, the real Bolt app over HTTP (signed
requests), the Slack Web API stand-in, and the real ``Delivery``, driven tick by tick
(``detect_once`` / ``sweep_once``, as ``perfbot run``'s loop calls them) on a FakeClock.

Every assertion is on what the stand-in received (the Web API calls) or on the store.

The demo is six days long here, not the session's three: the missing index (three days
before the end) needs a few days of history before it to stand out, and it must still
stand out two days later, when the payments error spike comes and goes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.alerts.explained import DETECTION
from bot.alerts.model import fingerprint
from bot.analytics.findings.baseline import BaselineCache
from bot.app import Perfbot, build
from bot.clock import FakeClock
from bot.config import (
    DetectionSettings,
    MetricsSettings,
    Settings,
    SlackSettings,
    StorageSettings,
)
from bot.demo_settings import DEMO_CATALOG
from bot.incidents.lifecycle import Incident, State
from bot.incidents.policies import OnCallSettings
from bot.incidents.service import CycleOutcome
from bot.metrics.base import Signal, endpoint_column
from bot.metrics.demo import DemoWorkload
from bot.metrics.demo.scenarios import Scenario
from bot.metrics.settings import PrometheusSettings
from bot.render.blocks import ALERT_ACTIONS_BLOCK
from bot.schedule import detect_once, sweep_once
from tests.conftest import DEMO_END, DEMO_SEED
from tests.integration.test_outbox_slack import status
from tests.prometheus_server import PrometheusServer, find_binaries, write_demo_blocks
from tests.slack_bot import Bot
from tests.slack_standin import Call, SlackStandIn

pytestmark = pytest.mark.integration

DAYS = 6
FIRST, SECOND = "UFIRST", "USECOND"  # Slack ids are upper-case letters and digits
ORDERS_LATENCY = fingerprint(DETECTION, str(Signal.LATENCY), "orders",
                             endpoint_column("orders", "GET /api/orders/history"))
CHECKOUT_ERRORS = fingerprint(DETECTION, str(Signal.ERROR_RATIO), "payments",
                              endpoint_column("payments", "POST /api/checkout"))
ONCALL = OnCallSettings.model_validate({
    "policies": [{"name": "two-step", "repeat": 1, "steps": [
        {"notify_users": [FIRST], "wait": "10m"},
        {"notify_users": [SECOND], "wait": "10m"},
    ]}],
    "routing": {"default": "two-step"},
})
SWEEP = timedelta(seconds=5)  # between two sweeps (the loop's is 2 s: coarser, same story)
PINGS = re.compile(r"<[@!]")  # a user, a group, @here or @channel


@pytest.fixture(scope="module")
def workload() -> DemoWorkload:
    return DemoWorkload.generate(end=DEMO_END, days=DAYS, seed=DEMO_SEED)


@pytest.fixture(scope="module")
def prometheus(workload: DemoWorkload,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    binaries = find_binaries()
    workdir = tmp_path_factory.mktemp("prometheus-6d")
    with PrometheusServer(write_demo_blocks(workload, workdir), workdir, binaries) as server:
        yield server


def scenario(workload: DemoWorkload, kind: str) -> Scenario:
    return next(s for s in workload.scenarios if s.kind == kind)


@dataclass
class Loop:
    """The bot and the ticks of its loop, on a fake clock; the stand-in sees the rest."""

    perfbot: Perfbot
    clock: FakeClock
    slack: SlackStandIn
    bot: Bot
    cache: BaselineCache = field(default_factory=BaselineCache)
    last_detection: datetime | None = None

    def deliver(self, now: datetime) -> int:
        # The delivery perfbot run's loop uses: the buttons' own, on the Bolt app's client.
        return self.perfbot.delivery_for(self.bot.client).deliver(now)

    def detect(self) -> CycleOutcome:
        self.last_detection = self.clock.now()
        return detect_once(self.perfbot, self.clock.now(), self.cache)

    def sweep(self) -> None:
        sweep_once(self.perfbot, self.clock.now(), self.deliver)

    def run_for(self, span: timedelta) -> None:
        """Sweep every ``SWEEP`` for ``span``, detecting every ``detection.interval``."""
        end = self.clock.now() + span
        while self.clock.now() < end:
            now = self.clock.advance(SWEEP)
            if (self.last_detection is None or now - self.last_detection
                    >= self.perfbot.settings.detection.interval):
                self.detect()
            self.sweep()

    def incident(self, key: str) -> Incident:
        found = self.perfbot.incident_store.latest(key)
        assert found is not None, f"no incident for {key}"
        return found

    def posts(self) -> list[Call]:
        return self.slack.calls("chat.postMessage", delivered=True)

    def top_posts(self, channel: str) -> list[Call]:
        return [c for c in self.posts() if c.args["channel"] == channel
                and not c.args.get("thread_ts")]

    def dms(self, user: str, incident: Incident) -> list[Call]:
        """DMs to ``user`` that page (or remind) about ``incident``."""
        return [c for c in self.posts() if c.args["channel"] == f"D{user}"
                and f" {incident.name} " in c.args["text"]]

    def in_thread(self, incident: Incident) -> list[Call]:
        return [c for c in self.posts() if c.args.get("thread_ts") == incident.message_ts]

    def edits(self, incident: Incident) -> list[Call]:
        return [c for c in self.slack.calls("chat.update", delivered=True)
                if c.args["ts"] == incident.message_ts]

    def press(self, user: str, dm: Call, act: str = "acknowledge") -> None:
        """``user`` presses ``act`` on the DM as the stand-in holds it: a signed
        ``block_actions`` over HTTP to the Bolt app."""
        channel = dm.args["channel"]
        with self.slack._changed:
            (ts,) = [ts for (where, ts), message in self.slack.state.messages.items()
                     if where == channel and message["text"] == dm.args["text"]]
        message = self.slack.message(channel, ts)
        (button,) = [element for block in message["blocks"]
                     if block.get("block_id") == ALERT_ACTIONS_BLOCK
                     for element in block["elements"]
                     if element["action_id"].startswith(f"alert.{act}:")]
        payload: dict[str, Any] = {
            "type": "block_actions", "token": "legacy", "api_app_id": "A1",
            "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"},
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "channel": {"id": channel, "name": "directmessage"}, "trigger_id": "1.2.3",
            "message": {"type": "message", "user": "UBOT", "ts": ts, **message},
            "response_url": f"{self.slack.url}/response/3",
            "actions": [{**button, "block_id": ALERT_ACTIONS_BLOCK,
                         "action_ts": "1700000200.1"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        answer = self.bot.send(body, "application/x-www-form-urlencoded")
        assert answer.status_code == 200, answer.text


@pytest.fixture
def loop(prometheus: PrometheusServer, workload: DemoWorkload,
         tmp_path: Path) -> Iterator[Loop]:
    channels = {channel: True for channel in
                ("#orders", "#search", "#menu", "#payments", "#web", "#identity",
                 "#delivery", "#incidents")}
    settings = Settings(
        metrics=MetricsSettings(backend="prometheus",
                                prometheus=PrometheusSettings(url=prometheus.url)),
        catalog=DEMO_CATALOG,
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'perfbot.db'}"),
        detection=DetectionSettings(interval=timedelta(minutes=10)),
        oncall=ONCALL,
        # A user paged directly by a policy is not "on call" for authorization (only a
        # schedule's on-call is): U_SECOND is allowed by name.
        slack=SlackSettings(allowed_users=[SECOND]),
    )
    # Data time runs with wall time, from half an hour into the missing index.
    clock = FakeClock(scenario(workload, "latency_step").start + timedelta(minutes=30))
    perfbot = build(settings, clock)
    with SlackStandIn(channels=channels, users={FIRST: "UTC", SECOND: "Europe/Paris"}) as slack, \
            Bot(perfbot, slack, inline=True) as bot:
        yield Loop(perfbot, clock, slack, bot)
    perfbot.database.close()


def test_the_loop_posts_escalates_stops_on_acknowledge_and_resolves_on_recovery(
    loop: Loop, workload: DemoWorkload,
) -> None:
    # --- the missing index: one incident, one message -------------------------------------
    loop.detect()  # the loop runs each tick at once when it starts
    loop.sweep()  # posts it and pages the first step
    orders = loop.incident(ORDERS_LATENCY)
    opened_at = orders.opened_at
    assert orders.channel == "#orders" and orders.urgency == "high"
    assert [i for i in loop.perfbot.incident_store.listed(open_only=False)
            if i.fingerprint == ORDERS_LATENCY] == [orders]
    (post,) = loop.top_posts("#orders")
    assert f"· {orders.name}" in post.args["blocks"][0]["text"]["text"]
    assert "Slow database query or missing index" in json.dumps(post.args["blocks"])
    assert orders.message_ts is not None
    assert len(loop.dms(FIRST, orders)) == 1 and loop.dms(SECOND, orders) == []

    # --- nobody acknowledges: the second step at ten minutes, not before ------------------
    loop.run_for(timedelta(minutes=10) - SWEEP)
    assert loop.dms(SECOND, orders) == []
    loop.run_for(SWEEP)
    (dm,) = loop.dms(SECOND, orders)
    assert loop.clock.now() - opened_at == timedelta(minutes=10)
    assert f"You are paged for *{orders.name}*" in json.dumps(dm.args["blocks"])
    assert "Step 2, pass 1" in json.dumps(dm.args["blocks"])
    loop.run_for(SWEEP)
    lines = [c.args["text"] for c in loop.in_thread(orders)]
    assert lines == [f":rotating_light: Paged <@{FIRST}> (step 1, pass 1)",
                     f":rotating_light: Paged <@{SECOND}> (step 2, pass 1)"]

    # --- U_SECOND presses Acknowledge in the DM: the message is edited in place -----------
    edits_before = len(loop.edits(orders))
    loop.press(SECOND, dm)
    orders = loop.incident(ORDERS_LATENCY)
    assert orders.state is State.ACKNOWLEDGED and orders.acknowledged_by == SECOND
    assert len(loop.edits(orders)) == edits_before + 1
    assert loop.edits(orders)[-1].args["channel"] == "#orders"
    assert status(loop.slack, "#orders", orders.message_ts or "").startswith(
        f":eyes: Acknowledged by <@{SECOND}>")
    assert len(loop.top_posts("#orders")) == 1

    # --- further sweeps page nobody about it (the unacknowledged one goes on) -------------
    (search,) = [i for i in loop.perfbot.incident_store.listed() if i.channel == "#search"]
    search_dms = len(loop.dms(FIRST, search)) + len(loop.dms(SECOND, search))
    calls_about_orders = len(loop.in_thread(orders)) + len(loop.edits(orders))
    loop.run_for(timedelta(minutes=30))
    assert len(loop.dms(FIRST, orders)) == 1 and len(loop.dms(SECOND, orders)) == 1
    assert len(loop.in_thread(orders)) + len(loop.edits(orders)) == calls_about_orders
    assert len(loop.dms(FIRST, search)) + len(loop.dms(SECOND, search)) == search_dms + 2
    assert len(loop.top_posts("#orders")) == 1
    assert loop.incident(ORDERS_LATENCY).state is State.ACKNOWLEDGED

    # --- the payments error spike: opened, then recovered in the data ---------------------
    spike = scenario(workload, "error_spike")
    assert spike.end is not None
    loop.clock.as_of = spike.start + timedelta(minutes=30)
    outcome = loop.detect()
    (payments,) = [i for i in outcome.opened if i.fingerprint == CHECKOUT_ERRORS]
    loop.run_for(timedelta(minutes=1))
    payments = loop.incident(CHECKOUT_ERRORS)
    assert payments.message_ts is not None and len(loop.top_posts("#payments")) == 1
    assert len(loop.dms(FIRST, payments)) == 1
    edits, replies = len(loop.edits(payments)), len(loop.in_thread(payments))
    calls = len(loop.slack.calls())

    loop.clock.advance(timedelta(minutes=4))
    loop.clock.as_of = spike.end + timedelta(minutes=40)
    outcome = loop.detect()
    assert [i.id for i in outcome.resolved] == [payments.id]
    assert ORDERS_LATENCY not in {i.fingerprint for i in outcome.resolved}
    loop.run_for(timedelta(minutes=1))
    payments = loop.incident(CHECKOUT_ERRORS)
    assert payments.state is State.RESOLVED and payments.resolved_by is None
    (edit,) = loop.edits(payments)[edits:]
    (reply,) = loop.in_thread(payments)[replies:]
    assert reply.args["text"].startswith(
        ":white_check_mark: Resolved: recovered on its own after 5m: error ratio of "
        "POST /api/checkout (payments) at ")
    assert status(loop.slack, "#payments", payments.message_ts or "").startswith(
        ":white_check_mark: Recovered")
    # Nobody pinged: no mention in the reply, no DM, nothing else posted since the recovery
    # but the edit and the reply.
    assert not PINGS.search(reply.args["text"])
    new = loop.slack.calls()[calls:]
    assert [c for c in new if c.method == "chat.postMessage"] == [reply]
    assert not [c for c in new if c.method == "conversations.open"]
    assert edit in new

    # --- repeat ticks post nothing again -------------------------------------------------
    before = len(loop.slack.calls())
    for _ in range(3):  # the same moment again: nothing is due, nothing new is found
        loop.detect()
        loop.sweep()
    assert loop.slack.calls()[before:] == []
    tops = {channel: len(loop.top_posts(channel)) for channel in ("#orders", "#payments")}
    loop.run_for(timedelta(minutes=20))  # later ticks: repeats of the same findings
    assert {channel: len(loop.top_posts(channel)) for channel in tops} == tops == {
        "#orders": 1, "#payments": 1}
    for key in (ORDERS_LATENCY, CHECKOUT_ERRORS):
        assert [i.fingerprint for i in loop.perfbot.incident_store.listed(open_only=False)
                ].count(key) == 1
    assert loop.perfbot.incident_store.pending(loop.clock.now()) == []
