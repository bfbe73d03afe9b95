"""The loop's digest tick (``digest_once``) on the composition root with a FakeClock, and
the Slack poster's message: channel, metadata key, chart in the thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from bot.app import Perfbot, build
from bot.clock import FakeClock
from bot.config import Settings
from bot.digests.model import Digest, Period, Scope
from bot.digests.service import Claim, Subscription
from bot.notify import digests as notify_digests
from bot.notify.digests import EVENT_TYPE, SlackDigestPoster
from bot.schedule import digest_once
from tests.unit.test_digest_service import MONDAY_9, Poster


def perfbot(tmp_path: Path, clock: FakeClock) -> Perfbot:
    settings = Settings.model_validate({
        "timezone": "Europe/Berlin",
        "storage": {"url": f"sqlite:///{tmp_path / 'perfbot.db'}"},
        "metrics": {"demo_days": 2},
        "digests": {"schedules": [
            {"when": "weekly mon 09:00", "channel": "CMGR"},
            {"when": "daily 09:00", "channel": "CPAY", "team": "payments"}]},
    })
    # The real build on two days of the demo workload, ending at the clock's data time.
    return build(settings, clock, demo=True)


def test_the_tick_posts_configured_digests_once_on_the_bots_clock(tmp_path: Path) -> None:
    clock = FakeClock(MONDAY_9 - timedelta(minutes=1))
    bot = perfbot(tmp_path, clock)
    poster = Poster()
    for _ in range(4):
        digest_once(bot, clock.now(), poster)
        clock.advance(timedelta(minutes=1))
    assert sorted((c, s) for c, _, _, s in poster.posts) == [
        ("CMGR", Scope()), ("CPAY", Scope(team="payments"))]
    # The demo holds its data at the minute it was made: the period ends there, not later.
    assert all(end == min(MONDAY_9, bot.data_now()) for _, _, end, _ in poster.posts)
    assert digest_once(bot, clock.now(), None).posted == []  # no poster: nothing is due


def test_the_period_ends_at_the_held_data_time(tmp_path: Path) -> None:
    held = MONDAY_9 - timedelta(days=10)
    clock = FakeClock(MONDAY_9, as_of=held)
    poster = Poster()
    digest_once(perfbot(tmp_path, clock), clock.now(), poster)
    assert {end for _, _, end, _ in poster.posts} == {held}


class RecordingClient:
    def __init__(self, history: list[dict[str, Any]] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.history = history or []

    def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("chat.postMessage", kwargs))
        return {"ok": True, "ts": "1765.000100", "channel": "C123"}

    def files_upload_v2(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("files.uploadV2", kwargs))
        return {"ok": True}

    def conversations_history(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("conversations.history", kwargs))
        return {"ok": True, "messages": self.history}


SUB = Subscription(key="C123|weekly|team=|service=", channel="C123",
                   when="weekly mon 09:00 UTC")
DIGEST = Digest(period=Period(kind="weekly", start=MONDAY_9 - timedelta(days=7),
                              end=MONDAY_9), scope=Scope())


def test_the_poster_posts_with_the_key_in_metadata_and_the_chart_in_the_thread(
    monkeypatch: Any,
) -> None:
    client = RecordingClient()
    monkeypatch.setattr(notify_digests, "digest_chart", lambda digest: b"\x89PNG")
    claim = Claim(key="k@1", token="t", first_claimed_at=MONDAY_9)
    ts = SlackDigestPoster(cast(Any, client), UTC)(SUB, DIGEST, claim)
    (post, upload) = client.calls
    assert ts == "1765.000100"
    assert post[0] == "chat.postMessage" and post[1]["channel"] == "C123"
    assert post[1]["metadata"] == {"event_type": EVENT_TYPE, "event_payload": {"key": "k@1"}}
    assert upload[0] == "files.uploadV2" and upload[1]["thread_ts"] == ts


def test_a_retaken_claim_records_the_message_slack_already_has(monkeypatch: Any) -> None:
    monkeypatch.setattr(notify_digests, "digest_chart", lambda digest: None)
    client = RecordingClient(history=[
        {"ts": "1765.000050", "metadata": {"event_type": EVENT_TYPE,
                                           "event_payload": {"key": "other"}}},
        {"ts": "1765.000099", "metadata": {"event_type": EVENT_TYPE,
                                           "event_payload": {"key": "k@1"}}}])
    claim = Claim(key="k@1", token="t", first_claimed_at=datetime(2026, 12, 7, tzinfo=UTC),
                  retaken=True)
    ts = SlackDigestPoster(cast(Any, client), UTC)(SUB, DIGEST, claim)
    assert ts == "1765.000099"
    assert [name for name, _ in client.calls] == ["conversations.history"]
