"""Incidents in the bot's database: each change stored with its timeline lines and its
effects (the outbox) in one transaction, under a compare-and-set on the incident's version,
so two presses at the same moment get one winner and a crash loses nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.incidents.lifecycle import Change, Effect, Entry, Incident, Refused, State
from bot.incidents.ports import Decide
from bot.observability import telemetry
from bot.storage.database import Database, StorageError, utc
from bot.storage.schema import actions, incidents, outbox, overrides, silences, timeline

_CONFLICT_RETRIES = 10
LOCK_WAIT_MS = 10_000  # ``serialized``: longer than storing one alert takes
# The audit row of something new, given its id (written in the same transaction).
Record = Callable[[int], dict[str, Any]]


class OutboxItem(BaseModel):
    """An effect waiting to be carried out (or carried out: ``sent_at``)."""

    model_config = ConfigDict(frozen=True)

    id: int
    key: str
    incident_id: int
    effect: Effect
    created_at: datetime
    attempts: int
    sent_at: datetime | None = None
    last_error: str = ""
    done: frozenset[str] = frozenset()  # its parts carried out already (a page's DMs)


class Silence(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    matcher: str  # a service name, or service/route words the alert's labels must contain
    reason: str
    created_by: str
    created_at: datetime
    ends_at: datetime

    def matches(self, service: str, endpoint: str | None) -> bool:
        wanted = self.matcher.lower()
        return wanted in (service.lower(), (endpoint or "").lower()) or (
            endpoint is not None and wanted in endpoint.lower())


class StoredOverride(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    schedule: str
    user: str
    starts_at: datetime
    ends_at: datetime
    created_by: str


class IncidentStore:
    """Read and change incidents; every change goes through ``create`` or ``change``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # --- reading -------------------------------------------------------------------------

    def get(self, incident_id: int) -> Incident | None:
        with self.database.reading("read incident") as connection:
            row = connection.execute(
                select(incidents.c.data).where(incidents.c.id == incident_id)).first()
        return Incident.model_validate_json(row[0]) if row else None

    def latest(self, fingerprint: str) -> Incident | None:
        """The newest incident of ``fingerprint``, open or not."""
        with self.database.reading("read incidents") as connection:
            row = connection.execute(
                select(incidents.c.data).where(incidents.c.fingerprint == fingerprint)
                .order_by(incidents.c.id.desc()).limit(1)).first()
        return Incident.model_validate_json(row[0]) if row else None

    def listed(self, *, open_only: bool = True, limit: int = 50) -> list[Incident]:
        """Incidents, newest first; only the open ones unless ``open_only`` is False."""
        query = select(incidents.c.data).order_by(incidents.c.id.desc()).limit(limit)
        if open_only:
            query = query.where(incidents.c.state != State.RESOLVED.value)
        with self.database.reading("list incidents") as connection:
            rows = connection.execute(query).all()
        return [Incident.model_validate_json(row[0]) for row in rows]

    def touching(self, start: datetime, end: datetime) -> list[Incident]:
        """The incidents open at some moment of ``[start, end]``: opened by ``end`` and not
        resolved before ``start``, oldest first (a digest's period)."""
        # updated_at bounds resolved_at from above, so the index narrows the rows read.
        query = (select(incidents.c.data)
                 .where(incidents.c.opened_at <= end.astimezone(UTC))
                 .where((incidents.c.state != State.RESOLVED.value)
                        | (incidents.c.updated_at >= start.astimezone(UTC)))
                 .order_by(incidents.c.id))
        with self.database.reading("list the incidents of a period") as connection:
            rows = connection.execute(query).all()
        found = [Incident.model_validate_json(row[0]) for row in rows]
        return [i for i in found if i.resolved_at is None or i.resolved_at >= start]

    def due(self, now: datetime, limit: int = 500) -> list[int]:
        """Ids of the open incidents with something due by ``now``, most overdue first."""
        query = (select(incidents.c.id).where(incidents.c.due_at <= now.astimezone(UTC))
                 .where(incidents.c.state != State.RESOLVED.value)
                 .order_by(incidents.c.due_at).limit(limit))
        with self.database.reading("find due incidents") as connection:
            return [int(row[0]) for row in connection.execute(query).all()]

    def expiring(self, now: datetime, limit: int = 500) -> list[Incident]:
        """The open incidents whose alert's end (``expires_at``) has passed by ``now``,
        longest overdue first: read through its index, not by listing the open ones."""
        query = (select(incidents.c.data).where(incidents.c.expires_at <= now.astimezone(UTC))
                 .where(incidents.c.state != State.RESOLVED.value)
                 .order_by(incidents.c.expires_at).limit(limit))
        with self.database.reading("find expired incidents") as connection:
            return [Incident.model_validate_json(row[0])
                    for row in connection.execute(query).all()]

    def timeline(self, incident_id: int) -> list[Entry]:
        query = (select(timeline).where(timeline.c.incident_id == incident_id)
                 .order_by(timeline.c.id))
        with self.database.reading("read the timeline") as connection:
            rows = connection.execute(query).mappings().all()
        return [Entry(at=utc(r["at"]), kind=r["kind"], user=r["user"], text=r["text"])
                for r in rows]

    # --- changing --------------------------------------------------------------------------

    def create(self, build: Callable[[int], Change]) -> Incident:
        """A new incident: ``build`` gets its id and returns what to store."""
        with self.database.writing("open an incident") as connection:
            now = datetime.now(UTC)
            key = connection.execute(insert(incidents).values(
                fingerprint="", state=State.TRIGGERED.value, opened_at=now, updated_at=now,
                version=-1, data="{}")).inserted_primary_key
            assert key is not None
            change = build(int(key[0]))
            connection.execute(update(incidents).where(incidents.c.id == change.incident.id)
                               .values(**_columns(change.incident)))
            self._append(connection, change)
        if change.incident.is_open:  # stored: an alert resolved before it was seen is not
            telemetry().incidents_opened.labels(str(change.incident.alert.severity)).inc()
        return change.incident

    def change(
        self, incident_id: int, decide: Decide, *, record: dict[str, Any] | None = None,
    ) -> Incident | Refused | None:
        """Apply ``decide`` to the stored incident and store the result with its timeline
        and effects, if nobody changed the incident in between (else read it again and
        decide again). ``record``: an audit row written in the same transaction. None:
        no such incident, or ``decide`` had nothing to change."""
        row = _in_utc(record) if record is not None else None
        for _ in range(_CONFLICT_RETRIES):
            current = self.get(incident_id)
            if current is None:
                return None
            decided = decide(current)
            if decided is None or isinstance(decided, Refused):
                return decided
            with self.database.writing("change an incident") as connection:
                changed = connection.execute(
                    update(incidents).where(incidents.c.id == incident_id)
                    .where(incidents.c.version == current.version)
                    .values(**_columns(decided.incident))).rowcount
                if changed != 1:
                    continue  # someone else won: decide again on what they stored
                self._append(connection, decided)
                if row is not None:
                    connection.execute(insert(actions).values(**row))
            return decided.incident
        raise StorageError(f"INC-{incident_id} kept changing under me; gave up after "
                           f"{_CONFLICT_RETRIES} tries")

    @contextmanager
    def serialized(self, key: str) -> Iterator[None]:
        """Only one holder of ``key`` at a time across every process on this database:
        on PostgreSQL an advisory lock of the transaction held meanwhile (released by its
        end, a crash included; waited for at most ``LOCK_WAIT``, then StorageError). On
        SQLite, which is for one process, the caller's own lock does."""
        if self.database.engine().dialect.name != "postgresql":
            yield
            return
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        with self.database.writing(f"take the lock of {key}") as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": number})
            yield

    # --- the outbox --------------------------------------------------------------------------

    def pending(
        self, now: datetime, limit: int = 100, *, incident_id: int | None = None,
    ) -> list[OutboxItem]:
        """Effects not yet carried out whose time has come, oldest first; only those of
        ``incident_id`` if given (what a button press just decided)."""
        query = (select(outbox).where(outbox.c.sent_at.is_(None))
                 .where(outbox.c.not_before <= now.astimezone(UTC))
                 .order_by(outbox.c.id).limit(limit))
        if incident_id is not None:
            query = query.where(outbox.c.incident_id == incident_id)
        with self.database.reading("read the outbox") as connection:
            rows = connection.execute(query).mappings().all()
        return [_item(row) for row in rows]

    def claim(
        self, now: datetime, hold: timedelta, limit: int = 100, *,
        owner: str, incident_id: int | None = None,
    ) -> list[OutboxItem]:
        """The ``pending`` effects, taken by this process until ``now + hold``: another
        process (a standby's button press, the leader's sweep) skips them meanwhile, so
        each is carried out once. ``release`` what is left undone; a claimer that crashed
        leaves its effects to whoever asks after ``hold``. ``owner`` (one per delivery)
        takes its own claims again at once: a call cut short by the store is retried."""
        at, until = now.astimezone(UTC), (now + hold).astimezone(UTC)
        free = (outbox.c.sent_at.is_(None)) & (outbox.c.not_before <= at) & (
            outbox.c.claimed_until.is_(None) | (outbox.c.claimed_until <= at)
            | (outbox.c.claimed_by == owner))
        if incident_id is not None:
            free &= outbox.c.incident_id == incident_id
        with self.database.writing("claim effects") as connection:
            candidates = select(outbox.c.id).where(free).order_by(outbox.c.id).limit(limit)
            if connection.dialect.name == "postgresql":
                # Rows another claimer holds locked are skipped, not waited for.
                ids = [row[0] for row in connection.execute(
                    candidates.with_for_update(skip_locked=True)).all()]
                if not ids:
                    return []
                connection.execute(update(outbox).where(outbox.c.id.in_(ids))
                                   .values(claimed_until=until, claimed_by=owner))
            else:  # SQLite: one conditional UPDATE under its one writer lock
                ids = [row[0] for row in connection.execute(
                    update(outbox).where(outbox.c.id.in_(candidates.scalar_subquery()))
                    .where(free).values(claimed_until=until, claimed_by=owner)
                    .returning(outbox.c.id)).all()]
                if not ids:
                    return []
            rows = connection.execute(select(outbox).where(outbox.c.id.in_(ids))
                                      .order_by(outbox.c.id)).mappings().all()
        return [_item(row) for row in rows]

    def release(self, item_ids: Sequence[int]) -> None:
        """Claimed effects left undone (Slack's pace, a post to wait for): free again now."""
        if not item_ids:
            return
        with self.database.writing("release effects") as connection:
            connection.execute(update(outbox).where(outbox.c.id.in_(list(item_ids)))
                               .where(outbox.c.sent_at.is_(None)).values(claimed_until=None))

    def sent(self, item_id: int, at: datetime) -> None:
        with self.database.writing("mark an effect sent") as connection:
            connection.execute(update(outbox).where(outbox.c.id == item_id)
                               .values(sent_at=at.astimezone(UTC), last_error="",
                                       claimed_until=None))

    def part_done(self, item_id: int, part: str) -> None:
        """One part of an effect was carried out (a page's DM to ``part``, a user id): a
        retry, in this process or after a restart, skips it. One statement, no read."""
        if not part or part != part.strip() or " " in part:
            raise ValueError(f"a part is one word, got {part!r}")
        with self.database.writing("record part of an effect") as connection:
            connection.execute(update(outbox).where(outbox.c.id == item_id)
                               .values(done=outbox.c.done + f"{part} "))

    def failed(self, item_id: int, error: str, retry_at: datetime | None) -> None:
        """Not carried out: tried again at ``retry_at``, or never (None: given up)."""
        values: dict[str, Any] = {"attempts": outbox.c.attempts + 1,
                                  "last_error": error[:2000], "claimed_until": None}
        if retry_at is None:
            values["sent_at"] = datetime.now(UTC)  # given up: out of the queue, error kept
        else:
            values["not_before"] = retry_at.astimezone(UTC)
        with self.database.writing("mark an effect failed") as connection:
            connection.execute(update(outbox).where(outbox.c.id == item_id).values(**values))

    def outbox(self, incident_id: int | None = None) -> list[OutboxItem]:
        """Every effect (of one incident), oldest first: what was decided and what was sent."""
        query = select(outbox).order_by(outbox.c.id)
        if incident_id is not None:
            query = query.where(outbox.c.incident_id == incident_id)
        with self.database.reading("read the outbox") as connection:
            return [_item(row) for row in connection.execute(query).mappings().all()]

    # --- silences and overrides -------------------------------------------------------------

    def silence(self, matcher: str, reason: str, user: str, now: datetime,
                ends_at: datetime, *, record: Record | None = None) -> Silence:
        """A new silence; ``record``: its audit row, given its id, written in the same
        transaction (both stored, or neither)."""
        row = {"matcher": matcher, "reason": reason, "created_by": user,
               "created_at": now.astimezone(UTC), "ends_at": ends_at.astimezone(UTC)}
        with self.database.writing("add a silence") as connection:
            key = connection.execute(insert(silences).values(**row)).inserted_primary_key
            assert key is not None
            if record is not None:
                connection.execute(insert(actions).values(**record(int(key[0]))))
        return Silence(id=int(key[0]), **row)

    def end_silence(self, silence_id: int, now: datetime, *,
                    record: dict[str, Any] | None = None) -> bool:
        """End silence ``silence_id`` now, with ``record`` (its audit row) in the same
        transaction; False when it had ended already (or never was)."""
        at = now.astimezone(UTC)
        with self.database.writing("end a silence") as connection:
            ended = connection.execute(
                update(silences).where(silences.c.id == silence_id)
                .where(silences.c.ends_at > at).values(ends_at=at)).rowcount
            if ended and record is not None:
                connection.execute(insert(actions).values(**_in_utc(record)))
        return bool(ended)

    def silences(self, now: datetime) -> list[Silence]:
        query = (select(silences).where(silences.c.ends_at > now.astimezone(UTC))
                 .order_by(silences.c.id))
        with self.database.reading("read silences") as connection:
            rows = connection.execute(query).mappings().all()
        return [Silence(**{**row, "created_at": utc(row["created_at"]),
                           "ends_at": utc(row["ends_at"])}) for row in rows]

    def override(self, schedule: str, user: str, starts_at: datetime, ends_at: datetime,
                 created_by: str, now: datetime, *, record: Record | None = None
                 ) -> StoredOverride:
        """A new on-call override; ``record`` as for ``silence``."""
        row = {"schedule": schedule, "user": user, "starts_at": starts_at.astimezone(UTC),
               "ends_at": ends_at.astimezone(UTC), "created_by": created_by}
        with self.database.writing("add an override") as connection:
            key = connection.execute(insert(overrides).values(
                **row, created_at=now.astimezone(UTC))).inserted_primary_key
            assert key is not None
            if record is not None:
                connection.execute(insert(actions).values(**record(int(key[0]))))
        return StoredOverride(id=int(key[0]), **row)

    def overrides(self, now: datetime) -> list[StoredOverride]:
        """The overrides not yet over, oldest first (a later one wins where they overlap)."""
        query = (select(overrides).where(overrides.c.ends_at > now.astimezone(UTC))
                 .order_by(overrides.c.id))
        with self.database.reading("read overrides") as connection:
            rows = connection.execute(query).mappings().all()
        return [StoredOverride(id=r["id"], schedule=r["schedule"], user=r["user"],
                               starts_at=utc(r["starts_at"]), ends_at=utc(r["ends_at"]),
                               created_by=r["created_by"]) for r in rows]

    # --- plumbing -----------------------------------------------------------------------------

    def _append(self, connection: Connection, change: Change) -> None:
        incident = change.incident
        for entry in change.timeline:
            connection.execute(insert(timeline).values(
                incident_id=incident.id, at=entry.at.astimezone(UTC), kind=entry.kind,
                user=entry.user, text=entry.text))
        for effect in change.effects:
            at = incident.updated_at.astimezone(UTC)
            row = {"key": effect.key, "incident_id": incident.id, "kind": effect.kind,
                   "payload": effect.model_dump_json(), "created_at": at, "not_before": at,
                   "attempts": 0, "last_error": ""}
            connection.execute(_insert_once(connection, row))


def _columns(incident: Incident) -> dict[str, Any]:
    due, ends = incident.due, incident.alert.ends_at if incident.is_open else None
    return {"fingerprint": incident.fingerprint, "state": incident.state.value,
            "due_at": due.astimezone(UTC) if due is not None else None,
            "expires_at": ends.astimezone(UTC) if ends is not None else None,
            "opened_at": incident.opened_at.astimezone(UTC),
            "updated_at": incident.updated_at.astimezone(UTC),
            "version": incident.version, "data": incident.model_dump_json()}


def _in_utc(record: dict[str, Any]) -> dict[str, Any]:
    """An audit row with its times in UTC: SQLite keeps a time's wall clock and drops its
    zone, and every time is read back as UTC."""
    for name, value in record.items():
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(f"the audit record's {name} must carry a time zone")
    return {name: value.astimezone(UTC) if isinstance(value, datetime) else value
            for name, value in record.items()}


def _insert_once(connection: Connection, row: dict[str, Any]) -> Any:
    """An INSERT that does nothing when the key is already there (the effect was decided
    before: a repeat after a crash)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(outbox).values(**row).on_conflict_do_nothing(
            index_elements=["key"])
    if dialect == "sqlite":
        return sqlite.insert(outbox).values(**row).on_conflict_do_nothing(
            index_elements=["key"])
    raise StorageError(f"the outbox needs SQLite or PostgreSQL, not {dialect}")


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        id=row["id"], key=row["key"], incident_id=row["incident_id"],
        effect=Effect.model_validate(json.loads(row["payload"])),
        created_at=utc(row["created_at"]), attempts=row["attempts"],
        sent_at=utc(row["sent_at"]) if row["sent_at"] is not None else None,
        last_error=row["last_error"], done=frozenset(row["done"].split()),
    )


def retry_after(attempts: int, now: datetime) -> datetime:
    """When to try an effect again: 5 s, 10 s, 20 s … at most 10 minutes."""
    return now + min(timedelta(seconds=5 * 2 ** attempts), timedelta(minutes=10))
