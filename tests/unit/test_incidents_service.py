"""The incidents capability on a SQLite store: detection cycles open, update, resolve and
reopen incidents; silences, routes and channels; the sweep pages along the policy on a
fake clock advanced minute by minute; who is on call, with stored overrides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.alerts.acts import Act
from bot.alerts.model import Alert
from bot.analytics.findings.model import Severity
from bot.clock import FakeClock
from bot.incidents.lifecycle import Incident, State
from bot.incidents.service import Firing, Incidents
from bot.storage import Database
from bot.storage.audit import AuditStore
from bot.storage.incidents import IncidentStore
from tests.incident_parts import MINUTE, T0, alert, message, oncall

HOUR = timedelta(hours=1)


@pytest.fixture
def incidents(tmp_path: Path) -> Iterator[Incidents]:
    store = IncidentStore(Database(f"sqlite:///{tmp_path / 'perfbot.db'}"))
    yield Incidents(store=store, oncall=oncall(), default_channel="#incidents",
                    reopen_within=HOUR,
                    channel_of=lambda a: "#payments" if a.service == "payments" else None)
    store.database.close()


def store_of(incidents: Incidents) -> IncidentStore:
    assert isinstance(incidents.store, IncidentStore)
    return incidents.store


def firing(raised: Alert) -> Firing:
    return Firing(alert=raised, message=message(raised))


def cycle(incidents: Incidents, *alerts: Alert, now: datetime, source: str = "detection",
          how: dict[str, str] | None = None) -> dict[str, list[int]]:
    outcome = incidents.cycle([firing(a) for a in alerts], source, now, how)
    return {name: [i.id for i in getattr(outcome, name)]
            for name in ("opened", "updated", "reopened", "resolved")}


def effects(incidents: Incidents, incident_id: int) -> list[str]:
    return [item.effect.kind for item in store_of(incidents).outbox(incident_id)]


def get(incidents: Incidents, incident_id: int) -> Incident:
    found = incidents.store.get(incident_id)
    assert found is not None
    return found


# --- detection cycles --------------------------------------------------------------------


def test_a_cycle_opens_one_incident_per_fingerprint(incidents: Incidents) -> None:
    a, b = alert("/a"), alert("/b")
    seen = cycle(incidents, a, b, alert("/a", at=T0 + MINUTE), now=T0)
    assert seen == {"opened": [1, 2], "updated": [1], "reopened": [], "resolved": []}
    listed = incidents.store.listed()
    assert [(i.id, i.fingerprint) for i in listed] == [(2, b.fingerprint), (1, a.fingerprint)]
    assert effects(incidents, 1) == effects(incidents, 2) == ["post"]  # one message each


def test_a_repeat_updates_and_only_a_worse_severity_edits_the_message(
    incidents: Incidents,
) -> None:
    cycle(incidents, alert("/a"), alert("/b"), now=T0)
    later = T0 + 5 * MINUTE
    seen = cycle(incidents, alert("/a", severity=Severity.CRITICAL, at=later),
                 alert("/b", at=later), now=later)
    assert seen == {"opened": [], "updated": [1, 2], "reopened": [], "resolved": []}
    assert effects(incidents, 1) == ["post", "update"]
    assert effects(incidents, 2) == ["post"]
    assert get(incidents, 1).alert.severity is Severity.CRITICAL
    assert get(incidents, 2).alert.starts_at == later - 5 * MINUTE  # the alert is refreshed


def test_an_alert_missing_from_the_next_cycle_resolves_only_incidents_of_its_source(
    incidents: Incidents,
) -> None:
    a, b = alert("/a"), alert("/b")
    cycle(incidents, a, b, now=T0)
    other = alert("/c", source="alertmanager")
    assert cycle(incidents, other, now=T0, source="alertmanager")["opened"] == [3]

    later = T0 + 20 * MINUTE
    seen = cycle(incidents, alert("/a", at=later), now=later,
                 how={b.fingerprint: "p95 back to 210 ms, usual 200 ms"})
    assert seen == {"opened": [], "updated": [1], "reopened": [], "resolved": [2]}
    resolved = get(incidents, 2)
    assert (resolved.state, resolved.resolved_by) == (State.RESOLVED, None)
    assert resolved.resolution == ("recovered on its own after 20m: p95 back to 210 ms, "
                                   "usual 200 ms")
    assert effects(incidents, 2) == ["post", "update", "reply"]
    assert [i.id for i in incidents.store.listed()] == [3, 1]  # alertmanager's stays open
    # A cycle of the other source with nothing in it resolves its own only.
    assert cycle(incidents, now=later, source="alertmanager")["resolved"] == [3]
    assert get(incidents, 1).is_open


def test_a_recurrence_within_reopen_within_reopens_after_it_opens_a_new_one(
    incidents: Incidents,
) -> None:
    a = alert("/a")
    cycle(incidents, a, now=T0)
    cycle(incidents, now=T0 + 5 * MINUTE)  # recovered
    back = T0 + 5 * MINUTE + HOUR  # exactly reopen_within later: still the same problem
    assert cycle(incidents, alert("/a", at=back), now=back)["reopened"] == [1]
    reopened = get(incidents, 1)
    assert (reopened.state, reopened.reopened) == (State.TRIGGERED, 1)
    assert [e.kind for e in incidents.store.timeline(1)] == [
        "opened", "resolved", "reopened"]

    cycle(incidents, now=back + MINUTE)
    late = back + MINUTE + HOUR + MINUTE
    assert cycle(incidents, alert("/a", at=late), now=late)["opened"] == [2]
    assert incidents.store.latest(a.fingerprint) == get(incidents, 2)
    assert get(incidents, 1).state is State.RESOLVED


def test_a_reopened_incident_is_paged_again_from_the_first_step(incidents: Incidents) -> None:
    raised = alert("/a", severity=Severity.CRITICAL)  # routed to sre
    cycle(incidents, raised, now=T0)
    incidents.sweep(T0)
    cycle(incidents, now=T0 + 2 * MINUTE)
    cycle(incidents, raised, now=T0 + 10 * MINUTE)
    incidents.sweep(T0 + 10 * MINUTE)
    pages = [(i.key, i.effect.notify.users if i.effect.notify else ())
             for i in store_of(incidents).outbox(1) if i.effect.kind == "page"]
    assert pages == [("INC-1:0:0", ("UANNA",)), ("INC-1:0:0:r1", ("UANNA",))]


# --- silences, routes, channels ----------------------------------------------------------


def test_an_incident_matching_a_silence_is_stored_and_listed_not_posted(
    incidents: Incidents,
) -> None:
    store = store_of(incidents)
    silence = store.silence("checkout", "deploy in progress", "UANNA", T0, T0 + 2 * HOUR)
    seen = cycle(incidents, alert("/a"), alert("/pay", service="payments"), now=T0)
    assert seen["opened"] == [1, 2]
    silenced = get(incidents, 1)
    assert silenced.silenced == f"silence #{silence.id} (deploy in progress)"
    assert effects(incidents, 1) == []
    assert effects(incidents, 2) == ["post"]  # payments is not silenced
    assert [i.id for i in incidents.store.listed()] == [2, 1]
    assert incidents.sweep(T0 + HOUR) == 1  # only payments pages
    assert effects(incidents, 1) == []

    # It recovers and comes back while the silence holds: still nobody paged.
    cycle(incidents, alert("/pay", service="payments"), now=T0 + 5 * MINUTE)
    cycle(incidents, alert("/a"), alert("/pay", service="payments"), now=T0 + 10 * MINUTE)
    assert get(incidents, 1).reopened == 1
    incidents.sweep(T0 + 10 * MINUTE)
    assert effects(incidents, 1) == []

    # After the silence: a new problem of checkout is posted.
    after = T0 + 2 * HOUR
    assert cycle(incidents, alert("/a", at=after), alert("/b", at=after),
                 now=after)["opened"] == [3]
    assert effects(incidents, 3) == ["post"]


def test_routes_pick_the_policy_and_the_catalog_the_channel(incidents: Incidents) -> None:
    cycle(incidents, alert("/pay", service="payments", severity=Severity.CRITICAL),
          alert("/a", severity=Severity.CRITICAL), alert("/b"), now=T0)
    assert [(get(incidents, n).policy, get(incidents, n).channel) for n in (1, 2, 3)] == [
        ("payments", "#payments"),  # the service's route comes first
        ("sre", "#incidents"),  # critical
        ("patient", "#incidents"),  # the default
    ]


# --- the sweep on a fake clock -----------------------------------------------------------


def run(incidents: Incidents, clock: FakeClock, minutes: int,
        acts: dict[int, tuple[Act, str]] | None = None) -> list[int]:
    """Sweep every minute for ``minutes`` minutes, acting on INC-1 at the given minutes;
    the minutes at which something was due."""
    busy: list[int] = []
    for minute in range(minutes):
        if acts and minute in acts:
            what, user = acts[minute]
            incidents.act(1, what, user, clock.now(), snooze=HOUR)
        if incidents.sweep(clock.now()):
            busy.append(minute)
        clock.advance(MINUTE)
    return busy


def paged(incidents: Incidents) -> list[tuple[int, str, tuple[str, ...], str | None]]:
    """(minute, kind, users, channel mention) of INC-1's pages, by when they were decided."""
    found: list[tuple[int, str, tuple[str, ...], str | None]] = []
    for item in store_of(incidents).outbox(1):
        note = item.effect.notify
        if note is not None:
            found.append((int((item.created_at - T0) / MINUTE), note.kind, note.users,
                          note.mention))
    return found


def test_the_sweep_pages_along_the_policy_until_it_runs_out(incidents: Incidents) -> None:
    clock = FakeClock(T0)
    cycle(incidents, alert("/pay", service="payments"), now=clock.now())
    assert run(incidents, clock, 60) == [0, 5]
    assert paged(incidents) == [(0, "schedule", ("UBEN",), None),  # on call this week
                                (5, "users", ("UBOSS",), None)]
    incident = get(incidents, 1)
    assert incident.level == 2 and incident.due is None
    assert [e.text for e in incidents.store.timeline(1) if e.kind == "paged"] == [
        "step 1, pass 1: <@UBEN>", "step 2, pass 1: <@UBOSS>"]


def test_an_acknowledgement_stops_the_sweep_until_the_reminder_goes_unanswered(
    incidents: Incidents,
) -> None:
    clock = FakeClock(T0)
    cycle(incidents, alert("/a", severity=Severity.CRITICAL), now=clock.now())  # sre
    busy = run(incidents, clock, 70, acts={2: (Act.ACKNOWLEDGE, "UANNA")})
    assert busy == [0, 32, 42, 52]
    assert paged(incidents) == [
        (0, "users", ("UANNA",), None),
        (32, "reminder", ("UANNA",), None),  # 30 minutes after the ack
        (42, "users", ("UBOSS",), None),  # nobody answered within 10 minutes
        (52, "channel", (), "here"),
    ]
    assert get(incidents, 1).state is State.TRIGGERED
    assert [e.kind for e in incidents.store.timeline(1)] == [
        "opened", "paged", "acknowledge", "reminded", "unacknowledged", "paged", "paged"]


def test_a_snooze_holds_the_pages_until_it_ends(incidents: Incidents) -> None:
    clock = FakeClock(T0)
    cycle(incidents, alert("/a", severity=Severity.CRITICAL), now=clock.now())
    busy = run(incidents, clock, 80, acts={1: (Act.SNOOZE, "UANNA")})
    assert busy == [0, 61, 71]
    assert [(m, users) for m, _, users, _ in paged(incidents)] == [
        (0, ("UANNA",)), (61, ("UBOSS",)), (71, ())]


def test_acts_are_recorded_with_the_change_and_refused_once_resolved(
    incidents: Incidents,
) -> None:
    cycle(incidents, alert("/a"), now=T0)
    row = {"user": "UANNA", "action": "resolve", "target": "INC-1", "allowed": True,
           "detail": ""}
    done = incidents.act(1, Act.RESOLVE, "UANNA", T0 + MINUTE, record=row | {"at": T0})
    assert isinstance(done, Incident) and done.resolved_by == "UANNA"
    late = incidents.act(1, Act.ACKNOWLEDGE, "UBEN", T0 + 2 * MINUTE,
                         record=row | {"at": T0, "user": "UBEN"})
    assert not isinstance(late, Incident) and late is not None
    assert "already resolved" in late.reason
    audit = AuditStore(store_of(incidents).database)
    assert [(r.user, r.action) for r in audit.recent(target="INC-1")] == [
        ("UANNA", "resolve")]
    assert incidents.act(99, Act.RESOLVE, "UANNA", T0) is None  # no such incident


# --- on call ------------------------------------------------------------------------------


def test_on_call_follows_the_schedule_and_a_stored_override(incidents: Incidents) -> None:
    store = store_of(incidents)
    assert incidents.on_call(T0) == ["UBEN"]  # the second week of the rotation
    handoff = datetime.fromisoformat("2026-11-30T09:00+01:00")  # Monday 09:00 in Berlin
    assert incidents.on_call(handoff - MINUTE) == ["UBEN"]
    assert incidents.on_call(handoff) == ["UANNA"]

    store.override("primary", "UCARL", T0 + HOUR, T0 + 2 * HOUR, "UBEN", T0)
    store.override("gone", "UDAN", T0, T0 + 3 * HOUR, "UBEN", T0)  # a removed schedule
    assert incidents.on_call(T0 + HOUR - MINUTE) == ["UBEN"]
    assert incidents.on_call(T0 + HOUR) == ["UCARL"]
    assert [o.user for o in incidents.overrides(T0)] == ["UCARL"]
    assert incidents.on_call(T0 + 2 * HOUR) == ["UBEN"]

    # The page goes to whoever is on call when it is sent.
    cycle(incidents, alert("/pay", service="payments"), now=T0 + 90 * MINUTE)
    incidents.sweep(T0 + 90 * MINUTE)
    (page,) = [i.effect.notify for i in store.outbox(1) if i.effect.notify is not None]
    assert page.users == ("UCARL",)
