"""Digest subscriptions and posts in the bot's database.

A post is claimed before it is made: an INSERT of its key that only one process wins. The
winner records the Slack ts (``posted``), or gives the claim back on a failure
(``release``) so the next tick retries. A claim older than the lease that never posted (a
process died between claim and post) is re-taken with a compare-and-set on its token: by
one process only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.digests.model import DigestKind
from bot.digests.service import Claim, Subscription
from bot.storage.database import Database, StorageError, utc
from bot.storage.schema import actions, digest_posts, digest_subscriptions

# A released claim reads as this old: stale at once, so the next tick re-takes it.
_RELEASED = datetime(1970, 1, 1, tzinfo=UTC)


class DigestStore:
    """Thread-safe; every method is one transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # --- subscriptions ---------------------------------------------------------------

    def subscriptions(self, channel: str | None = None) -> list[Subscription]:
        query = select(digest_subscriptions).order_by(digest_subscriptions.c.id)
        if channel is not None:
            query = query.where(digest_subscriptions.c.channel == channel)
        with self.database.reading("read digest subscriptions") as connection:
            rows = connection.execute(query).mappings().all()
        return [_subscription(row) for row in rows]

    def subscribe(self, sub: Subscription, audit: dict[str, Any] | None = None) -> None:
        """Store ``sub``, replacing the one with its key (same channel, kind and scope),
        with its audit row in the same transaction."""
        if sub.created_at is None:
            raise ValueError("a stored subscription needs its created_at")
        with self.database.writing("store a digest subscription") as connection:
            connection.execute(delete(digest_subscriptions)
                               .where(digest_subscriptions.c.key == sub.key))
            connection.execute(insert(digest_subscriptions).values(
                key=sub.key, channel=sub.channel, when=sub.when, team=sub.team,
                service=sub.service, created_by=sub.created_by,
                created_at=sub.created_at.astimezone(UTC)))
            if audit is not None:
                connection.execute(insert(actions).values(**audit))

    def unsubscribe(self, channel: str, kind: DigestKind | None,
                    audit: Any = None) -> list[Subscription]:
        """Remove this channel's subscriptions (of ``kind``, or all); the removed ones.
        ``audit(removed)`` gives the audit row written in the same transaction."""
        with self.database.writing("remove digest subscriptions") as connection:
            rows = connection.execute(select(digest_subscriptions).where(
                digest_subscriptions.c.channel == channel)).mappings().all()
            removed = [s for s in map(_subscription, rows) if kind in (None, s.kind)]
            if removed:
                connection.execute(delete(digest_subscriptions).where(
                    digest_subscriptions.c.key.in_([s.key for s in removed])))
            if audit is not None:
                connection.execute(insert(actions).values(**audit(removed)))
        return removed

    # --- posts -------------------------------------------------------------------------

    def claim(self, key: str, subscription_key: str, now: datetime,
              lease: timedelta) -> Claim | None:
        """The claim on post ``key``, or None: posted, skipped, or claimed by another
        process within the lease."""
        now = now.astimezone(UTC)
        token = uuid.uuid4().hex
        with self.database.writing("claim a digest post") as connection:
            row = {"key": key, "subscription_key": subscription_key, "status": "claimed",
                   "token": token, "first_claimed_at": now, "claimed_at": now,
                   "attempts": 0, "last_error": ""}
            if _inserted(connection, row):
                return Claim(key=key, token=token, first_claimed_at=now)
            old = connection.execute(select(digest_posts).where(
                digest_posts.c.key == key)).mappings().one()
            if old["status"] != "claimed" or utc(old["claimed_at"]) > now - lease:
                return None
            taken = connection.execute(update(digest_posts).where(
                digest_posts.c.key == key, digest_posts.c.status == "claimed",
                digest_posts.c.token == old["token"],
            ).values(token=token, claimed_at=now)).rowcount
        if taken != 1:
            return None  # another process re-took it first
        return Claim(key=key, token=token, first_claimed_at=utc(old["first_claimed_at"]),
                     retaken=True)

    def posted(self, claim: Claim, ts: str, now: datetime) -> bool:
        """Record the post; False when the claim was no longer ours."""
        with self.database.writing("record a digest post") as connection:
            return bool(connection.execute(update(digest_posts).where(
                digest_posts.c.key == claim.key, digest_posts.c.token == claim.token,
                digest_posts.c.status == "claimed",
            ).values(status="posted", ts=ts, posted_at=now.astimezone(UTC))).rowcount)

    def release(self, claim: Claim, error: str) -> None:
        """Give the claim back after a failure: the next tick re-takes it."""
        with self.database.writing("release a digest claim") as connection:
            connection.execute(update(digest_posts).where(
                digest_posts.c.key == claim.key, digest_posts.c.token == claim.token,
                digest_posts.c.status == "claimed",
            ).values(claimed_at=_RELEASED, attempts=digest_posts.c.attempts + 1,
                     last_error=error[:2000]))

    def skip(self, key: str, subscription_key: str, now: datetime,
             lease: timedelta) -> bool:
        """Record post ``key`` as skipped (past its grace); True the one time it is."""
        now = now.astimezone(UTC)
        with self.database.writing("record a skipped digest") as connection:
            row = {"key": key, "subscription_key": subscription_key, "status": "skipped",
                   "token": "", "first_claimed_at": now, "claimed_at": now,
                   "attempts": 0, "last_error": ""}
            if _inserted(connection, row):
                return True
            # A stale claim that never posted: skipped too (nobody holds it).
            return bool(connection.execute(update(digest_posts).where(
                digest_posts.c.key == key, digest_posts.c.status == "claimed",
                digest_posts.c.claimed_at < now - lease,
            ).values(status="skipped")).rowcount)

    def post_status(self, key: str) -> dict[str, Any] | None:
        with self.database.reading("read a digest post") as connection:
            row = connection.execute(select(digest_posts).where(
                digest_posts.c.key == key)).mappings().one_or_none()
        return dict(row) if row is not None else None

    def posts(self, subscription_key: str | None = None) -> list[dict[str, Any]]:
        query = select(digest_posts).order_by(digest_posts.c.id)
        if subscription_key is not None:
            query = query.where(digest_posts.c.subscription_key == subscription_key)
        with self.database.reading("read digest posts") as connection:
            return [dict(row) for row in connection.execute(query).mappings().all()]

    # --- plumbing ----------------------------------------------------------------------


def _subscription(row: Any) -> Subscription:
    return Subscription(key=row["key"], channel=row["channel"], when=row["when"],
                        team=row["team"], service=row["service"],
                        created_by=row["created_by"], created_at=utc(row["created_at"]))


def _inserted(connection: Connection, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless its key is there; whether it was (RETURNING: PostgreSQL's
    driver gives no usable rowcount for ON CONFLICT DO NOTHING)."""
    statement = _insert_once(connection, row).returning(digest_posts.c.id)
    return connection.execute(statement).first() is not None


def _insert_once(connection: Connection, row: dict[str, Any]) -> Any:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(digest_posts).values(**row).on_conflict_do_nothing(
            index_elements=["key"])
    if dialect == "sqlite":
        return sqlite.insert(digest_posts).values(**row).on_conflict_do_nothing(
            index_elements=["key"])
    raise StorageError(f"digest posts need SQLite or PostgreSQL, not {dialect}")
