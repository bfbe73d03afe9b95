"""``/perf digest`` on the Bolt app and the Slack stand-in: subscribe → list → the loop's
tick posts the digest at its time in that channel exactly once → unsubscribe; bad input is
answered and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.app import Perfbot
from bot.clock import FakeClock
from bot.config import Settings, StorageSettings
from bot.digests.schedule import last_occurrence, next_occurrence, parse_when
from bot.metrics.demo import DemoBackend
from bot.notify.digests import EVENT_TYPE, SlackDigestPoster
from bot.schedule import digest_once
from tests.conftest import DEMO_END
from tests.slack_bot import Bot
from tests.slack_standin import TOKEN, SlackStandIn

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(channels={"C1": True}, users={"U1": "Europe/Paris"}) as standin:
        yield standin


@pytest.fixture
def served(slack: SlackStandIn, demo_backend: DemoBackend, tmp_path: Path) -> Iterator[Bot]:
    settings = Settings(storage=StorageSettings(url=f"sqlite:///{tmp_path / 'perfbot.db'}"))
    perfbot = Perfbot(settings=settings, backend=demo_backend, clock=FakeClock(DEMO_END))
    with Bot(perfbot, slack, inline=True) as bot:
        yield bot


def told(slack: SlackStandIn) -> str:
    return str(slack.calls("response_url")[-1].args["text"])


def test_subscribe_list_post_once_unsubscribe(served: Bot, slack: SlackStandIn) -> None:
    perfbot = served.perfbot
    clock = perfbot.clock
    assert isinstance(clock, FakeClock)
    served.command("digest subscribe daily 09:00 UTC team payments", channel="C1", user="U1")
    assert told(slack).startswith("Subscribed")
    (sub,) = perfbot.digest_store.subscriptions("C1")
    assert (sub.channel, sub.when, sub.team, sub.created_by) == (
        "C1", "daily 09:00 UTC", "payments", "U1")
    assert [r.action for r in perfbot.audit.recent(target="C1")] == ["digest-subscribe"]
    served.command("digest list", channel="C1")
    assert "daily 09:00 UTC" in told(slack)

    poster = SlackDigestPoster(WebClient(token=TOKEN, base_url=slack.api_url),
                               perfbot.settings.zone)
    due = next_occurrence(parse_when("daily 09:00 UTC"), clock.now())
    clock.set(due - timedelta(minutes=2))
    for _ in range(5):  # a tick a minute across its time
        digest_once(perfbot, clock.now(), poster)
        clock.advance(timedelta(minutes=1))
    posts = slack.calls("chat.postMessage")
    assert len(posts) == 1 and posts[0].args["channel"] == "C1"
    assert posts[0].args["metadata"]["event_type"] == EVENT_TYPE
    assert last_occurrence(sub.parsed, clock.now()) == due

    served.command("digest unsubscribe daily", channel="C1", user="U1")
    assert told(slack).startswith("Unsubscribed")
    assert perfbot.digest_store.subscriptions("C1") == []
    clock.advance(timedelta(days=1))
    digest_once(perfbot, clock.now(), poster)
    assert len(slack.calls("chat.postMessage")) == 1


@pytest.mark.parametrize("text", [
    "digest subscribe hourly", "digest subscribe weekly 09:00",
    "digest subscribe daily 09:00 Mars/Base", "digest subscribe daily 09:00 team",
    "digest unsubscribe monthly", "digest frobnicate",
])
def test_bad_input_is_answered_and_nothing_stored(
    served: Bot, slack: SlackStandIn, text: str
) -> None:
    served.command(text, channel="C1", user="U1")
    assert "Usage: `/perf digest subscribe" in told(slack)
    assert served.perfbot.digest_store.subscriptions() == []
    assert [r for r in served.perfbot.audit.recent() if r.action.startswith("digest")] == []
