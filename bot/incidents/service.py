"""The incidents capability: what detection finds becomes incidents, people act on them, and
the sweep escalates them. Decisions are ``lifecycle``'s pure functions; this module reads
the store, calls them and stores what they return (effects go to the outbox)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.alerts.acts import Act
from bot.alerts.alertmanager import SOURCE as ALERTMANAGER
from bot.alerts.message import AlertMessage
from bot.alerts.model import Alert
from bot.incidents.lifecycle import (
    Change,
    Incident,
    Refused,
    act,
    open_incident,
    recover,
    reopen,
    repeat,
    sweep,
    unseen,
)
from bot.incidents.policies import OnCallSettings, Policy, Urgency, policy_on_call, route
from bot.incidents.ports import IncidentRecords
from bot.incidents.schedules import Override, Schedule

log = logging.getLogger(__name__)

Channel = Callable[[Alert], str | None]  # the owning channel of an alert, if the catalog has one


@dataclass(frozen=True)
class Firing:
    """An alert raised now, with its message and how urgent it is."""

    alert: Alert
    message: AlertMessage
    urgency: Urgency = "high"


@dataclass
class CycleOutcome:
    opened: list[Incident] = field(default_factory=list)
    updated: list[Incident] = field(default_factory=list)
    reopened: list[Incident] = field(default_factory=list)
    resolved: list[Incident] = field(default_factory=list)


@dataclass
class Incidents:
    """Incidents, on a store. ``channel_of`` says where an alert's owners are (else
    ``default_channel``); ``oncall`` holds the schedules, policies and routes."""

    store: IncidentRecords
    oncall: OnCallSettings
    default_channel: str
    reopen_within: timedelta
    channel_of: Channel = lambda alert: None

    def fire(self, firing: Firing, now: datetime) -> Incident:
        """Open, update or reopen the incident of ``firing.alert``'s fingerprint."""
        alert = firing.alert
        latest = self.store.latest(alert.fingerprint)
        if latest is not None and latest.is_open:
            found = self.store.change(latest.id, lambda i: repeat(i, alert, now))
            return found if isinstance(found, Incident) else latest
        policy = self.policy_for(alert)
        silence = next((s for s in self.store.silences(now)
                        if s.matches(alert.service, alert.endpoint)), None)
        silenced = f"silence #{silence.id} ({silence.reason})" if silence else ""
        if (latest is not None and latest.resolved_at is not None
                and now - latest.resolved_at <= self.reopen_within):
            found = self.store.change(latest.id, lambda i: reopen(
                i, alert, policy, now, silenced=silenced) if not i.is_open else None)
            if isinstance(found, Incident):
                return found
        channel = self.channel_of(alert) or self.default_channel
        return self.store.create(lambda number: open_incident(
            number, alert, firing.message, channel=channel, policy=policy,
            urgency=firing.urgency, now=now, silenced=silenced))

    def cycle(self, firings: Iterable[Firing], source: str, now: datetime,
              how: Mapping[str, str] | None = None, *,
              judged: Callable[[str], bool] = lambda fingerprint: True) -> CycleOutcome:
        """A detection cycle's alerts: each one fires; the open incidents of ``source``
        whose fingerprint is no longer among them have recovered (``how``: where the
        signal is now, by fingerprint). An incident whose series the cycle could not judge
        (``judged`` says False: no data, a failed read) stays as it is: silence from the
        metrics server is not a recovery."""
        outcome = CycleOutcome()
        active: set[str] = set()
        for firing in firings:
            active.add(firing.alert.fingerprint)
            before = self.store.latest(firing.alert.fingerprint)
            incident = self.fire(firing, now)
            if before is None or before.id != incident.id:
                outcome.opened.append(incident)
            elif not before.is_open:
                outcome.reopened.append(incident)
            else:
                outcome.updated.append(incident)
        for incident in self.store.listed(open_only=True, limit=10_000):
            if (incident.alert.source != source or incident.fingerprint in active
                    or not judged(incident.fingerprint)):
                continue
            said = (how or {}).get(incident.fingerprint, "")
            done = self.store.change(incident.id, _recovered(now, said))
            if isinstance(done, Incident):
                outcome.resolved.append(done)
        return outcome

    def received(self, firing: Firing, *, resolved: bool, now: datetime) -> Incident | None:
        """An alert from outside (Alertmanager), firing or ``resolved``, delivered maybe
        twice, maybe out of order. A firing of an occurrence already resolved (same or
        older start) is stale and changes nothing; a resolution of one never seen firing
        is stored resolved and never posted, so its late firing changes nothing either.
        The caller serializes calls for one fingerprint."""
        alert = firing.alert
        latest = self.store.latest(alert.fingerprint)
        # Resolved with an end known (Alertmanager's, a person's), not expired (no end).
        stale = (latest is not None and not latest.is_open and latest.alert.ends_at is not None
                 and alert.starts_at <= latest.alert.starts_at)
        if not resolved:
            return latest if stale else self.fire(firing, now)
        if latest is None or (not latest.is_open and not stale):
            channel = self.channel_of(alert) or self.default_channel
            return self.store.create(lambda number: unseen(number, alert, firing.message,
                                                           channel=channel, now=now))
        if not latest.is_open:
            return latest
        found = self.store.change(latest.id, _recovered(now, "Alertmanager says resolved",
                                                        alert))
        return found if isinstance(found, Incident) else latest

    def expire(self, source: str, now: datetime) -> list[Incident]:
        """The open incidents of ``source`` whose alert's end has passed without a repeat:
        resolved on their own (never rely on a resolved notification arriving)."""
        done = []
        for incident in self.store.expiring(now):
            if incident.alert.source != source:
                continue
            found = self.store.change(incident.id, _recovered(
                now, "no repeat from Alertmanager since it was last seen firing", None,
                expired=True))
            if isinstance(found, Incident):
                done.append(found)
        return done

    def act(
        self, incident_id: int, what: Act, user: str, now: datetime, *,
        snooze: timedelta | None = None, record: dict[str, object] | None = None,
    ) -> Incident | Refused | None:
        """``user`` does ``what`` (already authorized); ``record`` is written with it."""
        def decide(incident: Incident) -> Change | Refused:
            return act(incident, what, user, now, policy=self._policy(incident.policy),
                       snooze=snooze)
        return self.store.change(incident_id, decide, record=dict(record) if record else None)

    def sweep(self, now: datetime) -> int:
        """Carry out what is due by ``now`` (snoozes ending, escalation steps); how many
        incidents were due."""
        self.expire(ALERTMANAGER, now)
        schedules = self.schedules()
        overrides = self.overrides(now)
        due = self.store.due(now)
        for incident_id in due:
            def decide(incident: Incident) -> Change | None:
                change = sweep(incident, self._policy(incident.policy), schedules, overrides,
                               now)
                return change if change.incident.version != incident.version else None
            self.store.change(incident_id, decide)
        return len(due)

    def policy_for(self, alert: Alert) -> Policy | None:
        routing = self.oncall.routing
        if routing is None:
            return None
        name = route(routing, alert.service, alert.labels.get("team"), str(alert.severity))
        return self._policy(name)

    def schedules(self) -> dict[str, Schedule]:
        return {schedule.name: schedule for schedule in self.oncall.schedules}

    def overrides(self, now: datetime) -> list[Override]:
        """The stored overrides of configured schedules (a schedule since removed from the
        settings is skipped), oldest first."""
        known = self.schedules()
        return [Override(schedule=o.schedule, user=o.user, start=o.starts_at, end=o.ends_at)
                for o in self.store.overrides(now) if o.schedule in known]

    def on_call(self, now: datetime) -> list[str]:
        """Everyone on call now for any policy (what authorization asks)."""
        schedules, overrides = self.schedules(), self.overrides(now)
        found: dict[str, None] = {}
        for policy in self.oncall.policies:
            found.update(dict.fromkeys(policy_on_call(policy, schedules, overrides, now)))
        return list(found)

    def _policy(self, name: str | None) -> Policy | None:
        return next((p for p in self.oncall.policies if p.name == name), None) if name else None


def _recovered(now: datetime, how: str, alert: Alert | None = None, *,
               expired: bool = False) -> Callable[[Incident], Change | None]:
    def decide(incident: Incident) -> Change | None:
        if not incident.is_open or (expired and (incident.alert.ends_at is None
                                                 or incident.alert.ends_at > now)):
            return None  # resolved already, or repeated since it was read
        change = recover(incident, now, how)
        if expired:  # its end unknown: a repeat of it later is news, not a stale delivery
            alert_now = incident.alert.model_copy(update={"ends_at": None})
        elif alert is None:
            return change
        else:
            alert_now = alert
        return change.model_copy(update={"incident": change.incident.model_copy(
            update={"alert": alert_now})})
    return decide
