"""The outbox's claim on a real PostgreSQL: two deliveries, each with its own bot, database
engine and Slack client (two replicas: the leader's sweep and a standby's button press),
race on the same effects, and the Slack stand-in counts what each incident got."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.app import Perfbot
from bot.incidents.service import Firing
from bot.metrics.demo import DemoBackend
from bot.notify.outbox import CLAIM_HOLD, Delivery
from bot.notify.slack import make_web_client
from tests.incident_factory import AT, alert, message
from tests.slack_incidents import perfbot_on, standin
from tests.slack_standin import TOKEN, SlackStandIn

INCIDENTS = 12


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as running:
        yield running


@pytest.fixture
def replicas(postgres_db: str, demo_backend: DemoBackend, slack: SlackStandIn
             ) -> Iterator[list[tuple[Perfbot, Delivery]]]:
    """Two bots on one PostgreSQL, each with its own engine and Slack client."""
    made = []
    for _ in range(2):
        perfbot = perfbot_on(postgres_db, demo_backend, storm_threshold=1000)  # a post each
        client = make_web_client(TOKEN, base_url=slack.api_url, server_backoff=0.01)
        made.append((perfbot, perfbot.delivery_for(client)))
    yield made
    for perfbot, _ in made:
        perfbot.database.close()


def posts_of(slack: SlackStandIn, name: str) -> int:
    return sum(1 for c in slack.calls("chat.postMessage")
               if f"({name})" in str(c.args.get("text", "")))


def test_two_replicas_delivering_at_once_send_each_effect_once(
    replicas: list[tuple[Perfbot, Delivery]], slack: SlackStandIn,
) -> None:
    (leader, sweep), (_, press) = replicas
    names = []
    for number in range(1, INCIDENTS + 1):
        item = alert(number, at=AT, with_chart=False)
        names.append(leader.incidents.fire(Firing(alert=item, message=message(item)), AT).name)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def deliver(delivery: Delivery) -> None:
        try:
            start.wait(timeout=10)
            for second in range(10 * INCIDENTS):  # Slack's pace: a post per channel a second
                delivery.deliver(AT + timedelta(seconds=second))
                if not delivery.store.pending(AT + timedelta(hours=1)):
                    return
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=deliver, args=(d,)) for d in (sweep, press)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert leader.incident_store.pending(AT + timedelta(hours=1)) == []
    assert {name: posts_of(slack, name) for name in names} == dict.fromkeys(names, 1)
    assert len(slack.calls("chat.postMessage")) == INCIDENTS


def test_a_crashed_claimers_effects_are_sent_once_its_claim_runs_out(
    replicas: list[tuple[Perfbot, Delivery]], slack: SlackStandIn,
) -> None:
    (leader, _), (_, survivor) = replicas
    item = alert(1, at=AT, with_chart=False)
    name = leader.incidents.fire(Firing(alert=item, message=message(item)), AT).name
    # A replica claims the post and dies before sending it (nothing releases the claim).
    (claimed,) = leader.incident_store.claim(AT, CLAIM_HOLD, owner="crashed")
    assert claimed.effect.kind == "post"
    assert survivor.deliver(AT + CLAIM_HOLD - timedelta(seconds=1)) == 0
    assert posts_of(slack, name) == 0
    assert survivor.deliver(AT + CLAIM_HOLD) == 1  # the claim ran out: taken again
    assert survivor.deliver(AT + CLAIM_HOLD + timedelta(seconds=5)) == 0
    assert posts_of(slack, name) == 1
