"""Scheduled digests, exactly once: the tick's logic with ports (a store, ``build``,
``post``). No clock, no database, no Slack here: the caller passes ``now`` and the ports.

For each subscription the tick takes the last occurrence at or before ``now``. It is due
while not posted and ``now - occurrence <= grace``: the tick claims it (one replica wins),
builds, posts and records the Slack ts. A failure releases the claim, so the next tick
retries (within the grace). Past the grace the occurrence is recorded as skipped, logged
once and never posted. A claim left by a crash is re-taken after ``lease`` by one process.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict

from bot.digests.model import Digest, DigestKind, Scope
from bot.digests.schedule import When, last_occurrence, parse_when
from bot.digests.settings import DigestSettings

log = logging.getLogger(__name__)

# A claim older than this that never posted belongs to a process that died: re-take it.
DEFAULT_LEASE = timedelta(minutes=15)
CONFIGURED_BY = "settings"


class Subscription(BaseModel):
    """Where and when one digest goes. ``key`` is stable: channel, kind and scope for one
    made in Slack (one per channel+kind+scope), the whole content for a configured one."""

    model_config = ConfigDict(frozen=True)

    key: str
    channel: str
    when: str  # "daily 09:00 Europe/Berlin": always with its zone
    team: str | None = None
    service: str | None = None
    created_by: str = CONFIGURED_BY
    created_at: AwareDatetime | None = None  # None: configured (always in force)

    @property
    def parsed(self) -> When:
        return parse_when(self.when)

    @property
    def kind(self) -> DigestKind:
        return self.parsed.kind

    @property
    def scope(self) -> Scope:
        return Scope(team=self.team, service=self.service)

    @property
    def configured(self) -> bool:
        return self.created_by == CONFIGURED_BY


def subscription_key(channel: str, kind: DigestKind, scope: Scope) -> str:
    return f"{channel}|{kind}|team={scope.team or ''}|service={scope.service or ''}"


def subscription(channel: str, when: When, scope: Scope, *, created_by: str,
                 created_at: datetime) -> Subscription:
    """A subscription made in Slack."""
    return Subscription(key=subscription_key(channel, when.kind, scope), channel=channel,
                        when=when.text, team=scope.team, service=scope.service,
                        created_by=created_by, created_at=created_at)


def configured_subscriptions(settings: DigestSettings, zone: str) -> list[Subscription]:
    """The settings' schedules as subscriptions; a key from their content, so the same
    schedule keeps its key (and its posts) across restarts and replicas."""
    found = []
    for schedule in settings.schedules:
        when = schedule.parsed(zone)
        content = f"{when.text}|{schedule.channel}|{schedule.team or ''}|{schedule.service or ''}"
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        found.append(Subscription(key=f"config:{digest}", channel=schedule.channel,
                                  when=when.text, team=schedule.team,
                                  service=schedule.service))
    return found


def post_key(sub: Subscription, occurrence: datetime) -> str:
    """The idempotency key of one subscription's one period."""
    return f"{sub.key}@{occurrence.isoformat()}"


class Claim(BaseModel):
    """A claimed post: ``token`` proves the claim is still ours when recording it."""

    model_config = ConfigDict(frozen=True)

    key: str
    token: str
    first_claimed_at: AwareDatetime  # the first claim: a crashed post is in Slack after it
    retaken: bool = False  # a previous claim never recorded a post: look before posting


class DigestStore(Protocol):
    def subscriptions(self) -> list[Subscription]: ...
    def claim(self, key: str, subscription_key: str, now: datetime,
              lease: timedelta) -> Claim | None: ...
    def posted(self, claim: Claim, ts: str, now: datetime) -> bool: ...
    def release(self, claim: Claim, error: str) -> None: ...
    def skip(self, key: str, subscription_key: str, now: datetime,
             lease: timedelta) -> bool: ...


Build = Callable[[DigestKind, datetime, Scope], Digest]
# Posts the digest in the subscription's channel; returns the message's ts.
Post = Callable[[Subscription, Digest, Claim], str]


@dataclass
class TickReport:
    posted: list[str] = field(default_factory=list)  # post keys
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class DigestService:
    store: DigestStore
    build: Build
    grace: timedelta = timedelta(hours=6)
    lease: timedelta = DEFAULT_LEASE
    configured: Sequence[Subscription] = ()

    def subscriptions(self) -> list[Subscription]:
        return [*self.configured, *self.store.subscriptions()]

    def tick(self, now: datetime, post: Post, data_now: datetime | None = None) -> TickReport:
        """Post every digest due at ``now``; ``data_now`` is the data's now (the demo's
        held time): a period never ends after it."""
        report = TickReport()
        for sub in self.subscriptions():
            occurrence = last_occurrence(sub.parsed, now)
            if sub.created_at is not None and occurrence < sub.created_at:
                continue  # subscribed after this one: its first digest is the next
            key = post_key(sub, occurrence)
            if now - occurrence > self.grace:
                if self.store.skip(key, sub.key, now, self.lease):
                    log.warning("digest %s skipped: due at %s, more than %s ago", key,
                                occurrence.isoformat(), self.grace)
                    report.skipped.append(key)
                continue
            claim = self.store.claim(key, sub.key, now, self.lease)
            if claim is None:
                continue  # posted, skipped, or another replica has it
            end = occurrence if data_now is None else min(occurrence, data_now)
            try:
                digest = self.build(sub.kind, end, sub.scope)
                ts = post(sub, digest, claim)
            except Exception as exc:  # any failure: the next tick retries, nothing lost
                log.exception("digest %s failed; retrying on the next tick", key)
                self.store.release(claim, f"{type(exc).__name__}: {exc}")
                report.failed.append(key)
                continue
            self.store.posted(claim, ts, now)
            report.posted.append(key)
        return report
