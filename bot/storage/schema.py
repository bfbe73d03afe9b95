"""Every table of the bot's database, in one ``MetaData``; Alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Every action taken on an alert, and every refusal.
actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),  # timestamptz on PG
    Column("user", String(64), nullable=False),  # a reserved word in PostgreSQL: quoted
    Column("action", String(32), nullable=False),
    Column("target", String(255), nullable=False, index=True),
    Column("allowed", Boolean, nullable=False),
    Column("detail", Text, nullable=False, default=""),
)

# Incidents: the state the running loop acts on. ``data`` is the incident as JSON
# (``bot.incidents.lifecycle.Incident``); the columns beside it are what queries select on.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False, index=True),
    Column("state", String(16), nullable=False, index=True),
    Column("due_at", DateTime(timezone=True), nullable=True, index=True),
    # When an open incident resolves on its own unless its alert repeats (Alertmanager's
    # endsAt): the sweep reads only those past it.
    Column("expires_at", DateTime(timezone=True), nullable=True, index=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),  # compare-and-set: one writer wins
    Column("data", Text, nullable=False),
)

# What happened to each incident, in order.
timeline = Table(
    "timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("user", String(64), nullable=True),
    Column("text", Text, nullable=False, default=""),
)

# Effects decided and stored with the change that caused them, carried out after: a
# restart sends only what was not sent, and ``key`` keeps each one to once.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("incident_id", Integer, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("not_before", DateTime(timezone=True), nullable=False, index=True),
    Column("sent_at", DateTime(timezone=True), nullable=True, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    # The parts of the effect carried out so far, each followed by a space: a page's DMs by
    # user id, so a page retried or resumed after a restart DMs nobody twice.
    Column("done", Text, nullable=False, default="", server_default=""),
    # Taken by one process until then (``IncidentStore.claim``): no other sends it meanwhile;
    # a claimer that crashed leaves it to be taken again after.
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("claimed_by", String(32), nullable=True),  # the claiming delivery's own token
)

# ``/perf silence``: incidents matching one are stored and listed, not posted.
silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matcher", String(255), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False, index=True),
)

# ``/perf oncall override``: who covers a schedule for a while.
overrides = Table(
    "overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule", String(128), nullable=False, index=True),
    Column("user", String(64), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False, index=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Digest subscriptions made in Slack (configured ones live in the settings); ``key`` is
# the channel, kind and scope: one per channel+kind+scope.
digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("channel", String(255), nullable=False, index=True),
    Column("when", String(128), nullable=False),  # a reserved word: quoted
    Column("team", String(255), nullable=True),
    Column("service", String(255), nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per subscription and period: claimed before posting (``token`` proves whose
# claim it is), then the Slack ts when posted, or skipped past the grace.
digest_posts = Table(
    "digest_posts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("subscription_key", String(255), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # claimed | posted | skipped
    Column("token", String(32), nullable=False),
    Column("first_claimed_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("ts", String(64), nullable=True),
    Column("posted_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
)

# Slack deliveries seen lately (an event id, or a request's signature): a retry or a replay,
# even one reaching another process or the next run, is recognised by its key. Rows are
# kept until ``expires_at`` (a signature is refused by its check after five minutes anyway).
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# What people answered on detection alerts ("useful" or "noise"), one answer per person and
# incident (the latest counts), with what the detector saw, to tune its sensitivity by.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False, index=True),
    Column("user", String(64), nullable=False),
    Column("verdict", String(16), nullable=False),  # useful | noise
    Column("at", DateTime(timezone=True), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("signal", String(32), nullable=False),
    Column("service", String(255), nullable=False, index=True),
    Column("endpoint", String(255), nullable=True),
    Column("evidence", Text, nullable=False),  # JSON: severity, change, start, cause, labels
    UniqueConstraint("incident_id", "user", name="feedback_one_per_person"),
)
