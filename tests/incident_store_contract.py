"""What the incident store must do on every database it supports, written once:
``tests/unit/test_incident_store.py`` runs it on a SQLite file, and
``tests/integration/test_incident_store_postgres.py`` on a real PostgreSQL whose sessions
answer in Pacific/Chatham (UTC+12:45/+13:45). A subclass gives the ``url`` fixture (an
empty database per test) and the SQL the audit table was created with before migrations."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text

from bot.alerts.acts import Act
from bot.incidents.lifecycle import (
    Change,
    Effect,
    Entry,
    Incident,
    Refused,
    State,
    act,
    open_incident,
    recover,
)
from bot.incidents.policies import Policy
from bot.incidents.service import Firing, Incidents
from bot.storage import Database, StorageError
from bot.storage.audit import AuditStore
from bot.storage.database import HEAD_REVISION, MIGRATIONS
from bot.storage.deliveries import DeliveryStore
from bot.storage.incidents import IncidentStore, OutboxItem, retry_after
from tests.incident_parts import MINUTE, SRE, T0, alert, message, oncall

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
SECOND = timedelta(seconds=1)
ROUNDS = 25  # races per test: each one a new incident and two threads
TABLES = {"actions", "incidents", "timeline", "outbox", "silences", "overrides",
          "digest_subscriptions", "digest_posts", "deliveries", "feedback", "alembic_version"}


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def opened(store: IncidentStore, *, endpoint: str = "GET /api/orders",
           policy: Policy | None = SRE, now: datetime = T0, silenced: str = "",
           chart: bool = False) -> Incident:
    raised = alert(endpoint, at=now, chart=chart)
    return store.create(lambda number: open_incident(
        number, raised, message(raised), channel="#checkout", policy=policy, urgency="high",
        silenced=silenced, now=now))


def audit_row(user: str, what: Act, target: str, at: datetime) -> dict[str, Any]:
    return {"at": at, "user": user, "action": str(what), "target": target, "allowed": True,
            "detail": ""}


def doing(what: Act, user: str, at: datetime) -> Callable[[Incident], Change | Refused]:
    return lambda incident: act(incident, what, user, at, policy=SRE,
                                snooze=timedelta(hours=1))


def noting(line: Entry) -> Callable[[Incident], Change]:
    """A change that only adds ``line`` to the timeline."""
    return lambda incident: Change(
        incident=incident.model_copy(update={"version": incident.version + 1}),
        timeline=[line])


class Statements:
    """Every SQL statement any engine runs while it is open (a class-level event: it sees
    an engine before ``Database`` migrates it)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _record(self, *args: Any) -> None:
        self.seen.append(" ".join(str(args[2]).split()))

    def __enter__(self) -> Statements:
        event.listen(Engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._record)


class StoreContract:
    # The audit table as ``metadata.create_all`` made it before migrations existed (the
    # dialect's own CREATE TABLE and indexes), and two rows written then.
    OLD_ACTIONS: ClassVar[tuple[str, ...]]
    OLD_ROWS: ClassVar[str]

    @pytest.fixture
    def store(self, url: str) -> Iterator[IncidentStore]:
        store = IncidentStore(Database(url))
        yield store
        store.database.close()

    # --- incidents and their timeline -----------------------------------------------------

    def test_incidents_round_trip_with_their_times_in_utc(
        self, url: str, store: IncidentStore
    ) -> None:
        at = T0.astimezone(KOLKATA) + timedelta(microseconds=123456)
        first = opened(store, now=at, chart=True)
        assert first.id >= 1 and first.version == 0
        assert store.get(first.id) == first
        assert first.opened_at == at and first.opened_at.tzinfo is UTC
        assert store.latest(first.fingerprint) == first
        assert store.get(first.id + 1000) is None and store.latest("nope") is None

        other = opened(store, endpoint="POST /api/pay", now=at + MINUTE)
        assert [i.id for i in store.listed()] == [other.id, first.id]  # newest first
        assert [i.id for i in store.listed(limit=1)] == [other.id]

        done = store.change(first.id, lambda i: recover(i, at + 2 * MINUTE, "p95 fine"))
        assert isinstance(done, Incident) and done.state is State.RESOLVED
        assert [i.id for i in store.listed()] == [other.id]
        assert [i.id for i in store.listed(open_only=False)] == [other.id, first.id]
        again = opened(store, now=at + 3 * MINUTE)  # the same fingerprint, a new incident
        assert store.latest(first.fingerprint) == again != store.get(first.id)

        # A restart (another store on the same database) reads the same.
        store.database.close()
        reopened = IncidentStore(Database(url))
        assert reopened.get(first.id) == done
        assert reopened.listed(open_only=False) == store.listed(open_only=False)
        assert reopened.get(first.id).resolved_at == at + 2 * MINUTE  # type: ignore[union-attr]
        reopened.database.close()

    def test_the_timeline_keeps_its_order_and_its_times(self, store: IncidentStore) -> None:
        incident = opened(store, now=T0.astimezone(BERLIN))
        times = [T0.astimezone(KOLKATA) + timedelta(minutes=5, microseconds=999999),
                 (T0 + timedelta(hours=1)).astimezone(ZoneInfo("America/New_York"))]
        for n, when in enumerate(times):
            store.change(incident.id, noting(Entry(at=when, kind="note", user=f"U{n}",
                                                   text=f"détail ✓ {n}")))
        lines = store.timeline(incident.id)
        assert [(e.kind, e.user, e.text) for e in lines] == [
            ("opened", None, "warning: latency of GET /api/orders (checkout) up"),
            ("note", "U0", "détail ✓ 0"), ("note", "U1", "détail ✓ 1")]
        assert [e.at for e in lines] == [T0, *times]
        assert all(e.at.tzinfo is UTC for e in lines)
        assert store.timeline(incident.id + 1000) == []

    def test_due_finds_the_open_incidents_whose_time_has_come(
        self, store: IncidentStore
    ) -> None:
        first = opened(store, endpoint="/a", now=T0)
        second = opened(store, endpoint="/b", now=T0 + 5 * MINUTE)
        third = opened(store, endpoint="/c", now=T0 + 10 * MINUTE)
        opened(store, endpoint="/d", now=T0 - MINUTE, policy=None)  # nothing will be due
        resolved = opened(store, endpoint="/e", now=T0 - 2 * MINUTE)
        store.change(resolved.id, lambda i: recover(i, T0, ""))
        assert store.due(T0 - SECOND) == []
        assert store.due(T0) == [first.id]
        # Most overdue first; the time may come in any zone.
        assert store.due((T0 + 5 * MINUTE).astimezone(BERLIN)) == [first.id, second.id]
        assert store.due(T0 + 5 * MINUTE, limit=1) == [first.id]
        # Acknowledged with an ack timeout: due again at the reminder.
        acked = store.change(first.id, doing(Act.ACKNOWLEDGE, "UANNA", T0 + MINUTE))
        assert isinstance(acked, Incident) and acked.due == T0 + 31 * MINUTE
        assert store.due(T0 + 30 * MINUTE) == [second.id, third.id]
        assert store.due(T0 + 31 * MINUTE) == [second.id, third.id, first.id]

    def test_touching_finds_the_incidents_open_at_some_moment_of_a_period(
        self, store: IncidentStore
    ) -> None:
        before = opened(store, endpoint="/a", now=T0 - 60 * MINUTE)
        store.change(before.id, lambda i: recover(i, T0 - 30 * MINUTE, ""))
        across = opened(store, endpoint="/b", now=T0 - 10 * MINUTE)
        store.change(across.id, lambda i: recover(i, T0 + 10 * MINUTE, ""))
        inside = opened(store, endpoint="/c", now=T0 + 5 * MINUTE)
        still = opened(store, endpoint="/d", now=T0 - 90 * MINUTE)
        opened(store, endpoint="/e", now=T0 + 2 * 60 * MINUTE)  # after the period
        found = store.touching(T0, T0 + 60 * MINUTE)
        assert [i.id for i in found] == [across.id, inside.id, still.id]
        # The period may come in any zone.
        again = store.touching(T0.astimezone(BERLIN), (T0 + 60 * MINUTE).astimezone(BERLIN))
        assert [i.id for i in again] == [i.id for i in found]

    def test_silences_and_overrides_round_trip(self, store: IncidentStore) -> None:
        silence = store.silence("checkout", "deploy in progress", "UANNA",
                                T0.astimezone(BERLIN), T0 + timedelta(hours=2))
        assert store.silences(T0) == [silence]
        assert silence.ends_at == T0 + timedelta(hours=2)
        assert silence.matches("checkout", None) and silence.matches("x", "checkout GET /")
        assert not silence.matches("payments", "payments POST /api/pay")
        assert store.silences(T0 + timedelta(hours=2)) == []  # over at its end
        start = T0.astimezone(KOLKATA)
        cover = store.override("primary", "UCARL", start, start + timedelta(days=1),
                               "UANNA", T0)
        assert store.overrides(T0) == [cover]
        assert (cover.starts_at, cover.starts_at.tzinfo) == (T0, UTC)
        assert store.overrides(T0 + timedelta(days=1)) == []

    # --- the outbox ------------------------------------------------------------------------

    def test_an_effect_key_stored_twice_is_kept_once(self, store: IncidentStore) -> None:
        incident = opened(store, chart=True)

        def saying(*texts: str) -> Callable[[Incident], Change]:
            return lambda i: Change(
                incident=i.model_copy(update={"version": i.version + 1}),
                effects=[Effect(key=f"{i.name}:reply:x", kind="reply", text=t) for t in texts])

        store.change(incident.id, saying("first", "second"))
        store.change(incident.id, saying("third"))  # decided again after a crash
        items = store.outbox(incident.id)
        assert [(i.key, i.effect.text) for i in items] == [
            (f"{incident.name}:post", ""), (f"{incident.name}:chart", ""),
            (f"{incident.name}:reply:x", "first")]
        # The incident itself changed each time: only the effect is kept once.
        assert store.get(incident.id).version == 2  # type: ignore[union-attr]

    def test_pending_sent_and_failed_with_a_retry_time(self, store: IncidentStore) -> None:
        incident = opened(store, chart=True)
        post, chart = store.outbox(incident.id)
        assert (post.effect.kind, chart.effect.kind) == ("post", "chart")
        assert (post.created_at, post.attempts, post.sent_at) == (T0, 0, None)
        assert store.pending(T0 - SECOND) == []  # not before the change that decided them
        assert store.pending(T0) == [post, chart]
        assert store.pending(T0, limit=1) == [post]

        store.sent(post.id, (T0 + SECOND).astimezone(BERLIN))
        store.failed(chart.id, "ratelimited", retry_at=T0 + 30 * SECOND)
        assert store.pending(T0 + 29 * SECOND) == []
        (retried,) = store.pending(T0 + 30 * SECOND)
        assert (retried.id, retried.attempts, retried.last_error) == (chart.id, 1, "ratelimited")
        store.failed(chart.id, "channel_not_found", retry_at=None)  # given up
        assert store.pending(T0 + timedelta(days=1)) == []
        sent, given_up = store.outbox(incident.id)
        assert (sent.sent_at, sent.sent_at and sent.sent_at.tzinfo) == (T0 + SECOND, UTC)
        assert (sent.attempts, sent.last_error) == (0, "")
        assert (given_up.attempts, given_up.last_error) == (2, "channel_not_found")
        assert given_up.sent_at is not None
        assert store.outbox() == [sent, given_up]

    def test_retries_back_off_up_to_ten_minutes(self) -> None:
        assert [retry_after(n, T0) - T0 for n in range(4)] == [
            5 * SECOND, 10 * SECOND, 20 * SECOND, 40 * SECOND]
        assert retry_after(30, T0) - T0 == timedelta(minutes=10)

    # --- two people at the same moment ------------------------------------------------------

    def race(self, store: IncidentStore, incident: Incident,
             plays: list[tuple[str, Act]], at: datetime
             ) -> tuple[list[Incident | Refused | None], list[list[int]]]:
        """Each play from its own thread; both read the incident before either writes (a
        barrier in ``decide``), so they always conflict. The results and, per play, the
        versions it decided on."""
        barrier = threading.Barrier(len(plays))
        results: list[Incident | Refused | None] = [None] * len(plays)
        versions: list[list[int]] = [[] for _ in plays]
        failures: list[BaseException] = []

        def play(n: int) -> None:
            user, what = plays[n]

            def decide(current: Incident) -> Change | Refused:
                versions[n].append(current.version)
                if len(versions[n]) == 1:
                    barrier.wait(timeout=30)
                return act(current, what, user, at, policy=SRE, snooze=timedelta(hours=1))

            try:
                results[n] = store.change(incident.id, decide,
                                          record=audit_row(user, what, incident.name, at))
            except BaseException as exc:  # seen by the assertion below, not lost
                failures.append(exc)

        threads = [threading.Thread(target=play, args=(n,)) for n in range(len(plays))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        return results, versions

    def test_acknowledge_and_resolve_at_once_one_wins_each_version(
        self, store: IncidentStore
    ) -> None:
        audit = AuditStore(store.database)
        orders: set[str] = set()
        for round_ in range(ROUNDS):
            incident = opened(store, endpoint=f"/r{round_}")
            at = T0 + MINUTE
            (acked, resolved), versions = self.race(
                store, incident, [("UANNA", Act.ACKNOWLEDGE), ("UBEN", Act.RESOLVE)], at)
            # Resolve after acknowledge still resolves; acknowledge after resolve is refused.
            assert isinstance(resolved, Incident) and resolved.state is State.RESOLVED
            stored = store.get(incident.id)
            assert stored == resolved and stored.resolved_by == "UBEN"
            lines = [(e.kind, e.user) for e in store.timeline(incident.id)][1:]
            records = [(r.user, r.action) for r in audit.recent(target=incident.name)][::-1]
            # Exactly one of the two first attempts won version 1: the other decided again.
            assert sorted(len(v) for v in versions) == [1, 2]
            if isinstance(acked, Incident):
                orders.add("acknowledge first")
                assert versions == [[0], [0, 1]]
                assert (acked.version, acked.acknowledged_by) == (1, "UANNA")
                assert stored.version == 2 and stored.acknowledged_by == "UANNA"
                assert lines == [("acknowledge", "UANNA"), ("resolve", "UBEN")]
                assert records == [("UANNA", "acknowledge"), ("UBEN", "resolve")]
            else:
                orders.add("resolve first")
                assert isinstance(acked, Refused) and "already resolved" in acked.reason
                assert versions == [[0, 1], [0]]
                assert stored.version == 1 and stored.acknowledged_by is None
                assert lines == [("resolve", "UBEN")]
                assert records == [("UBEN", "resolve")]
            keys = [item.key for item in store.outbox(incident.id)]
            assert keys == [f"{incident.name}:post"] + [
                f"{incident.name}:update:{v}" for v in range(1, stored.version + 1)]
        assert orders  # (which orders happened is up to the scheduler)

    def test_two_resolves_at_once_have_one_winner(self, store: IncidentStore) -> None:
        audit = AuditStore(store.database)
        for round_ in range(ROUNDS):
            incident = opened(store, endpoint=f"/r{round_}")
            results, _ = self.race(store, incident,
                                   [("UANNA", Act.RESOLVE), ("UBEN", Act.RESOLVE)],
                                   T0 + MINUTE)
            won = [r for r in results if isinstance(r, Incident)]
            assert len(won) == 1 and sum(isinstance(r, Refused) for r in results) == 1
            winner = won[0].resolved_by
            stored = store.get(incident.id)
            assert stored == won[0] and stored.version == 1
            assert [(e.kind, e.user) for e in store.timeline(incident.id)][1:] == [
                ("resolve", winner)]
            assert [(r.user, r.action) for r in audit.recent(target=incident.name)] == [
                (winner, "resolve")]
            assert stored.resolution.startswith(f"resolved by <@{winner}>")

    def test_a_conflict_is_decided_again_on_what_the_winner_stored(
        self, store: IncidentStore
    ) -> None:
        """Deterministic interleavings: someone else's change lands between reading the
        incident and writing it."""
        audit = AuditStore(store.database)

        def after(other: Callable[[Incident], Change | Refused], user: str, what: Act,
                  mine: Callable[[Incident], Change | Refused]
                  ) -> Callable[[Incident], Change | Refused]:
            calls = []

            def decide(current: Incident) -> Change | Refused:
                calls.append(current.version)
                if len(calls) == 1:  # the other press lands first
                    assert isinstance(store.change(current.id, other, record=audit_row(
                        user, what, current.name, T0 + MINUTE)), Incident)
                return mine(current)
            return decide

        first = opened(store, endpoint="/a")
        resolved = store.change(first.id, after(
            doing(Act.ACKNOWLEDGE, "UANNA", T0 + MINUTE), "UANNA", Act.ACKNOWLEDGE,
            doing(Act.RESOLVE, "UBEN", T0 + 2 * MINUTE)),
            record=audit_row("UBEN", Act.RESOLVE, first.name, T0 + 2 * MINUTE))
        assert isinstance(resolved, Incident) and resolved.state is State.RESOLVED
        assert (resolved.version, resolved.acknowledged_by) == (2, "UANNA")
        assert [e.kind for e in store.timeline(first.id)] == ["opened", "acknowledge", "resolve"]

        second = opened(store, endpoint="/b")
        refused = store.change(second.id, after(
            doing(Act.RESOLVE, "UBEN", T0 + MINUTE), "UBEN", Act.RESOLVE,
            doing(Act.ACKNOWLEDGE, "UANNA", T0 + 2 * MINUTE)),
            record=audit_row("UANNA", Act.ACKNOWLEDGE, second.name, T0 + 2 * MINUTE))
        assert isinstance(refused, Refused)
        stored = store.get(second.id)
        assert stored is not None and (stored.version, stored.acknowledged_by) == (1, None)
        assert [e.kind for e in store.timeline(second.id)] == ["opened", "resolve"]
        assert [r.action for r in audit.recent(target=second.name)] == ["resolve"]

    def test_an_incident_that_never_stops_changing_is_given_up_on(
        self, store: IncidentStore
    ) -> None:
        incident = opened(store)

        def meddling(current: Incident) -> Change:
            store.change(current.id, lambda i: Change(
                incident=i.model_copy(update={"version": i.version + 1})))
            return Change(incident=current.model_copy(update={"version": current.version + 1,
                                                              "resolution": "mine"}))

        with pytest.raises(StorageError, match=f"{incident.name} kept changing under me"):
            store.change(incident.id, meddling)
        stored = store.get(incident.id)
        assert stored is not None and stored.resolution == "" and stored.version == 10

    def test_the_audit_row_keeps_its_time_in_any_zone(self, store: IncidentStore) -> None:
        incident = opened(store)
        at = (T0 + MINUTE).astimezone(BERLIN)
        store.change(incident.id, doing(Act.ACKNOWLEDGE, "UANNA", at),
                     record=audit_row("UANNA", Act.ACKNOWLEDGE, incident.name, at))
        (row,) = AuditStore(store.database).recent(target=incident.name)
        assert row.at == at and row.at.tzinfo is UTC

    def test_times_given_in_another_zone_are_stored_as_their_instant(
        self, store: IncidentStore
    ) -> None:
        incident = opened(store)
        later = (T0 + MINUTE).astimezone(BERLIN)  # 15:01 in Berlin
        store.change(incident.id, lambda i: Change(
            incident=i.model_copy(update={"version": 1, "updated_at": later}),
            effects=[Effect(key="z", kind="reply")]))
        (item,) = [i for i in store.outbox(incident.id) if i.key == "z"]
        assert item.created_at == later
        assert [i.key for i in store.pending(T0 + MINUTE - SECOND)] == [f"{incident.name}:post"]
        assert [i.key for i in store.pending(T0 + MINUTE)][-1] == "z"
        with pytest.raises(ValueError, match="must carry a time zone"):
            store.change(incident.id, doing(Act.ACKNOWLEDGE, "UANNA", T0),
                         record=audit_row("UANNA", Act.ACKNOWLEDGE, incident.name,
                                          T0.replace(tzinfo=None)))
        assert store.get(incident.id).version == 1  # type: ignore[union-attr]

    def test_two_sweepers_at_once_page_each_step_once(self, store: IncidentStore) -> None:
        """Two replicas sweeping the same due incidents: each decides, one stores each."""
        service = Incidents(store=store, oncall=oncall(), default_channel="#incidents",
                            reopen_within=timedelta(hours=1))
        ids = [service.fire(Firing(alert=a, message=message(a)), T0).id
               for a in (alert(f"/s{n}") for n in range(20))]
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def sweeper() -> None:
            try:
                barrier.wait(timeout=30)
                for minute in range(0, 16):
                    service.sweep(T0 + minute * MINUTE)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=sweeper) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        for incident_id in ids:
            incident = store.get(incident_id)
            assert incident is not None and incident.level == 3 and incident.due is None
            pages = [i.key for i in store.outbox(incident_id) if i.effect.kind == "page"]
            assert pages == [f"{incident.name}:0:{step}" for step in range(3)]
            paged = [e for e in store.timeline(incident_id) if e.kind == "paged"]
            assert [e.at for e in paged] == [T0, T0 + 5 * MINUTE, T0 + 15 * MINUTE]

    # --- migrations --------------------------------------------------------------------------

    def test_a_database_made_before_migrations_is_upgraded_and_keeps_its_rows(
        self, url: str
    ) -> None:
        engine = create_engine(url)
        with engine.begin() as connection:
            for statement in self.OLD_ACTIONS:
                connection.execute(text(statement))
            connection.execute(text(self.OLD_ROWS))
        engine.dispose()

        database = Database(url)
        audit = AuditStore(database)
        assert [(r.id, r.at, r.user, r.action, r.target, r.allowed) for r in audit.recent()] == [
            (2, datetime(2026, 11, 20, 9, 16, tzinfo=UTC), "UBEN", "resolve", "f1", False),
            (1, datetime(2026, 11, 20, 9, 15, tzinfo=UTC), "UANNA", "acknowledge", "f1", True),
        ]
        new = audit.record(at=T0, user="UCARL", action="escalate", target="f2", allowed=True)
        assert new.id == 3
        store = IncidentStore(database)
        incident = opened(store)
        assert store.get(incident.id) == incident
        with database.engine().connect() as connection:
            assert set(inspect(connection).get_table_names()) == TABLES
            assert connection.execute(text("SELECT version_num FROM alembic_version")).all() \
                == [(head_revision(),)]
        database.close()

    def test_a_database_at_the_latest_revision_is_left_alone(self, url: str) -> None:
        first = IncidentStore(Database(url))
        incident = opened(first)
        first.database.close()
        with Statements() as statements:
            again = IncidentStore(Database(url))
            assert again.get(incident.id) == incident
        again.database.close()
        changes = [s for s in statements.seen
                   if s.split()[0].upper() in ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE",
                                               "DELETE")]
        assert changes == []
        assert any("alembic_version" in s for s in statements.seen)  # it did look

    def test_a_database_at_the_latest_revision_is_opened_without_alembic(self, url: str
                                                                         ) -> None:
        # The running bot keeps what it imports: Alembic is for a schema behind the head.
        Database(url).engine().dispose()
        probe = ("import sys; from bot.storage import Database; "
                 f"Database({url!r}).engine().dispose(); print('alembic' in sys.modules)")
        loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                timeout=120, check=True).stdout.split()
        assert loaded == ["False"]
        assert head_revision() == HEAD_REVISION

    def test_an_outbox_item_reads_back_whole(self, store: IncidentStore) -> None:
        incident = opened(store)
        store.change(incident.id, lambda i: Change(
            incident=i.model_copy(update={"version": 1}),
            effects=[Effect(key="k", kind="reply", text="ünïcode ✓ " * 50, mention=True)]))
        item = store.outbox(incident.id)[-1]
        assert item == OutboxItem(id=item.id, key="k", incident_id=incident.id,
                                  effect=Effect(key="k", kind="reply", text="ünïcode ✓ " * 50,
                                                mention=True),
                                  created_at=T0, attempts=0)

    # --- Slack deliveries seen (retries and replays answered once) --------------------------

    def test_a_delivery_is_new_once_until_it_expires_in_wall_time(self, url: str) -> None:
        wall = [T0.astimezone(KOLKATA)]
        database = Database(url)
        store = DeliveryStore(database, now=lambda: wall[0])
        five = timedelta(minutes=5)
        assert store.first_time("signature:v0=aa", T0 + five)
        assert not store.first_time("signature:v0=aa", T0 + five)
        assert store.first_time("event:Ev1", (T0 + 2 * five).astimezone(BERLIN))
        # Another process on the same database (a restart) knows them too.
        again = DeliveryStore(Database(url), now=lambda: wall[0])
        assert not again.first_time("signature:v0=aa", T0 + five)
        assert not again.first_time("event:Ev1", T0 + 2 * five)
        wall[0] = T0 + five + SECOND  # the signature's window is over: its row goes
        assert store.first_time("signature:v0=aa", T0 + 2 * five)
        assert store.count() == 2
        assert not store.first_time("event:Ev1", T0 + 2 * five)
        # A key longer than the column is kept by its hash, as surely.
        long = "event:" + "x" * 400
        assert store.first_time(long, T0 + 2 * five) and not again.first_time(long, T0 + 2 * five)
        again.database.close()
        database.close()

    def test_of_two_processes_seeing_a_delivery_at_once_one_answers(self, url: str) -> None:
        stores = [DeliveryStore(Database(url)) for _ in range(2)]
        until = datetime.now(UTC) + timedelta(minutes=5)
        for store in stores:  # migrated (one after the other, as processes start)
            store.first_time(f"warm-up {id(store)}", until)

        def see(store: DeliveryStore, key: str, start: threading.Barrier,
                won: list[bool]) -> None:
            start.wait()
            won.append(store.first_time(key, until))

        for n in range(ROUNDS):
            start = threading.Barrier(2)
            won: list[bool] = []
            threads = [threading.Thread(target=see, args=(store, f"event:Ev{n}", start, won))
                       for store in stores]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(won) == [False, True]
        for store in stores:
            store.database.close()
