"""The digest tick on a FakeClock with a recording poster and a real (SQLite) store:
which digests post, where, how many times; skipped past the grace; retried after a
failure; one post per period across racing replicas and re-taken stale claims."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.digests.model import Digest, DigestKind, Period, Scope
from bot.digests.schedule import parse_when
from bot.digests.service import (
    Claim,
    DigestService,
    Subscription,
    configured_subscriptions,
    subscription,
)
from bot.digests.settings import DigestSettings
from bot.storage.database import Database
from bot.storage.digests import DigestStore

BERLIN = "Europe/Berlin"
# A Monday; 09:00 Berlin is 08:00 UTC in December.
MONDAY_9 = datetime(2026, 12, 7, 8, tzinfo=UTC)


def build(kind: DigestKind, end: datetime, scope: Scope) -> Digest:
    length = timedelta(days=1 if kind == "daily" else 7)
    return Digest(period=Period(kind=kind, start=end - length, end=end), scope=scope)


class Poster:
    """Records every post; optionally fails the first ``fail`` ones."""

    def __init__(self, fail: int = 0) -> None:
        self.posts: list[tuple[str, str, datetime, Scope]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, sub: Subscription, digest: Digest, claim: Claim) -> str:
        with self.lock:
            if self.fail:
                self.fail -= 1
                raise ConnectionError("slack is down")
            self.posts.append((sub.channel, claim.key, digest.period.end, digest.scope))
            return f"1700000000.{len(self.posts):06d}"


def store_at(url: str) -> DigestStore:
    return DigestStore(Database(url))


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'perfbot.db'}"


def subscribed(store: DigestStore, when: str, channel: str = "C1",
               scope: Scope | None = None, at: datetime = MONDAY_9 - timedelta(days=3)) -> None:
    store.subscribe(subscription(channel, parse_when(when, BERLIN), scope or Scope(),
                                 created_by="UANNA", created_at=at))


def test_posts_once_at_its_time_in_its_channel(url: str) -> None:
    store = store_at(url)
    subscribed(store, "daily 09:00", channel="CPAY", scope=Scope(team="payments"))
    service = DigestService(store, build)
    poster = Poster()
    clock = FakeClock(MONDAY_9 - timedelta(minutes=2))
    for _ in range(6):  # 08:58 .. 09:03 Berlin, one tick a minute
        service.tick(clock.now(), poster)
        clock.advance(timedelta(minutes=1))
    # Only today's 09:00 is posted: yesterday's was also within... no: created 3 days ago,
    # yesterday's 09:00 is past the 6h grace at 08:58 today, so it is skipped, not posted.
    assert [(c, end, s) for c, _, end, s in poster.posts] == [
        ("CPAY", MONDAY_9, Scope(team="payments"))]
    statuses = [p["status"] for p in store.posts()]
    assert sorted(statuses) == ["posted", "skipped"]


def test_down_across_its_time_posts_on_return_within_grace_else_skips(url: str) -> None:
    store = store_at(url)
    subscribed(store, "daily 09:00")
    service = DigestService(store, build, grace=timedelta(hours=6))
    poster = Poster()
    # Down from 08:00 to 13:00 Berlin: back within the grace, posted once, ending at 09:00.
    service.tick(MONDAY_9 + timedelta(hours=4), poster)
    service.tick(MONDAY_9 + timedelta(hours=4, minutes=1), poster)
    assert [end for _, _, end, _ in poster.posts] == [MONDAY_9]
    # Next day: down from 08:00 to 16:00 Berlin (7h late): skipped, reported once.
    tuesday = MONDAY_9 + timedelta(days=1)
    first = service.tick(tuesday + timedelta(hours=7), poster)
    again = service.tick(tuesday + timedelta(hours=7, minutes=1), poster)
    assert len(poster.posts) == 1
    assert len(first.skipped) == 1 and again.skipped == []
    assert store.post_status(first.skipped[0])["status"] == "skipped"  # type: ignore[index]


def test_a_subscription_made_after_its_time_starts_with_the_next(url: str) -> None:
    store = store_at(url)
    subscribed(store, "daily 09:00", at=MONDAY_9 + timedelta(minutes=30))
    poster = Poster()
    service = DigestService(store, build)
    service.tick(MONDAY_9 + timedelta(hours=1), poster)
    assert poster.posts == []
    service.tick(MONDAY_9 + timedelta(days=1), poster)
    assert [end for _, _, end, _ in poster.posts] == [MONDAY_9 + timedelta(days=1)]


def test_the_period_never_ends_after_the_datas_now(url: str) -> None:
    store = store_at(url)
    subscribed(store, "weekly mon 09:00")
    poster = Poster()
    held = MONDAY_9 - timedelta(days=20)
    DigestService(store, build).tick(MONDAY_9 + timedelta(minutes=1), poster, data_now=held)
    assert [end for _, _, end, _ in poster.posts] == [held]


def test_a_failure_is_retried_next_tick_and_posted_once(url: str) -> None:
    store = store_at(url)
    subscribed(store, "daily 09:00")
    poster = Poster(fail=1)
    service = DigestService(store, build)
    failed = service.tick(MONDAY_9, poster)
    assert poster.posts == [] and len(failed.failed) == 1
    for minute in range(1, 4):
        service.tick(MONDAY_9 + timedelta(minutes=minute), poster)
    assert len(poster.posts) == 1
    row = store.post_status(failed.failed[0])
    assert row is not None and row["status"] == "posted" and row["attempts"] == 1


def test_a_build_failure_is_retried_next_tick(url: str) -> None:
    store = store_at(url)
    subscribed(store, "daily 09:00")
    calls: list[datetime] = []

    def flaky(kind: DigestKind, end: datetime, scope: Scope) -> Digest:
        calls.append(end)
        if len(calls) == 1:
            raise TimeoutError("prometheus timed out")
        return build(kind, end, scope)

    poster = Poster()
    service = DigestService(store, flaky)
    service.tick(MONDAY_9, poster)
    service.tick(MONDAY_9 + timedelta(minutes=1), poster)
    service.tick(MONDAY_9 + timedelta(minutes=2), poster)
    assert len(calls) == 2 and len(poster.posts) == 1


def test_a_stale_claim_is_retaken_once(url: str) -> None:
    store = store_at(url)
    lease = timedelta(minutes=15)
    key = "C1|daily|team=|service=@2026-12-07T08:00:00+00:00"
    first = store.claim(key, "C1|daily", MONDAY_9, lease)
    assert first is not None and not first.retaken
    # Within the lease nobody else may take it.
    assert store.claim(key, "C1|daily", MONDAY_9 + timedelta(minutes=14), lease) is None
    # After it, exactly one of many contenders re-takes it.
    later = MONDAY_9 + timedelta(minutes=16)
    winners = [c for c in (store.claim(key, "C1|daily", later, lease) for _ in range(5)) if c]
    assert len(winners) == 1 and winners[0].retaken
    assert winners[0].first_claimed_at == MONDAY_9
    # The dead process's late record is refused; the re-taker's is kept.
    assert not store.posted(first, "1.1", later)
    assert store.posted(winners[0], "1.2", later)
    assert store.claim(key, "C1|daily", later + timedelta(days=1), lease) is None


def test_configured_schedules_post_with_a_stable_key(url: str) -> None:
    settings = DigestSettings.model_validate(
        {"schedules": [{"when": "weekly mon 09:00", "channel": "#managers"}]})
    configured = configured_subscriptions(settings, BERLIN)
    assert configured == configured_subscriptions(settings, BERLIN)  # same key each start
    poster = Poster()
    for replica in range(2):  # a restart: a new service, same database
        service = DigestService(store_at(url), build, configured=configured)
        service.tick(MONDAY_9 + timedelta(minutes=replica), poster)
    assert [c for c, _, _, _ in poster.posts] == ["#managers"]


def race(url: str, replicas: int = 2, minutes: int = 5) -> Poster:
    """``replicas`` services on one database, each ticking in its own thread over the same
    minutes around two daily occurrences; returns the shared poster."""
    setup = store_at(url)
    subscribed(setup, "daily 09:00", channel="C1")
    subscribed(setup, "daily 09:00", channel="C2", scope=Scope(service="checkout"))
    poster = Poster()
    barrier = threading.Barrier(replicas, timeout=60)
    errors: list[BaseException] = []

    # Each replica its own engine; migrated here, since Alembic is not thread-safe in one
    # process (separate processes migrate under the database's own lock).
    services = [DigestService(store_at(url), build) for _ in range(replicas)]
    for service in services:
        service.store.database.engine()  # type: ignore[attr-defined]

    def run(service: DigestService) -> None:
        try:
            for day in range(2):
                for minute in range(minutes):
                    barrier.wait()
                    service.tick(MONDAY_9 + timedelta(days=day, minutes=minute), poster)
        except BaseException as exc:  # surfaced below; the other replica stops waiting
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for service in services:
        service.store.database.close()  # type: ignore[attr-defined]
    setup.database.close()
    assert [e for e in errors if not isinstance(e, threading.BrokenBarrierError)] == []
    return poster


def test_two_replicas_on_one_sqlite_file_post_once_per_period(url: str) -> None:
    poster = race(url)
    keys = [key for _, key, _, _ in poster.posts]
    assert len(keys) == 4 and len(set(keys)) == 4  # 2 channels x 2 days, each once
    assert sorted(c for c, _, _, _ in poster.posts) == ["C1", "C1", "C2", "C2"]
