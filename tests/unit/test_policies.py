from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from bot.config import format_validation_error
from bot.incidents.escalation import (
    Notify,
    Position,
    acknowledge,
    begin,
    escalate_now,
    plan,
)
from bot.incidents.policies import (
    OnCallSettings,
    Policy,
    Routing,
    Urgency,
    policy_on_call,
    route,
)
from bot.incidents.schedules import Override, Schedule

BERLIN = ZoneInfo("Europe/Berlin")
MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


T0 = berlin(2026, 1, 5, 11, 0)  # a Monday morning

PRIMARY = Schedule.model_validate({"name": "primary", "layers": [{
    "members": ["UANNA", "UBEN"], "start": "2026-01-05 09:00", "length": "1w",
    "time_zone": "Europe/Berlin"}]})
SCHEDULES = {"primary": PRIMARY}
OFFICE = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00",
          "time_zone": "Europe/Berlin"}


def policy(**fields: Any) -> Policy:
    defaults: dict[str, Any] = {"name": "sre", "steps": [
        {"notify_schedule": "primary", "wait": "5m"},
        {"notify_users": ["UBOSS"], "wait": "10m"},
        {"notify_channel": "here"},
    ]}
    return Policy.model_validate(defaults | fields)


def simulate(
    position: Position,
    pol: Policy,
    start: datetime,
    end: datetime,
    urgency: Urgency = "high",
    acks: Mapping[datetime, str] = {},
    overrides: tuple[Override, ...] = (),
) -> tuple[Position, list[tuple[datetime, Notify]]]:
    """A sweeper ticking every minute from ``start`` to ``end``; ``acks`` press the button."""
    sent: list[tuple[datetime, Notify]] = []
    now = start
    while now <= end:
        if now in acks:
            position = acknowledge(position, pol, acks[now], now)
        if position.due is not None and position.due <= now:
            position, notes = plan(position, pol, SCHEDULES, overrides, urgency, now)
            sent.extend((now, note) for note in notes)
        now += MINUTE
    return position, sent


def minutes(sent: list[tuple[datetime, Notify]], since: datetime = T0) -> list[int]:
    return [int((at - since) / MINUTE) for at, _ in sent]


# --- escalating --------------------------------------------------------------------------

def test_without_acknowledgement_each_step_comes_after_the_wait_of_the_one_before() -> None:
    pol = policy()
    position, notes = plan(begin("INC1", T0), pol, SCHEDULES, (), "high", T0)
    assert [(n.kind, n.users, n.key) for n in notes] == [("schedule", ("UANNA",), "INC1:0:0")]
    assert (position.step, position.due) == (1, T0 + 5 * MINUTE)

    early, nothing = plan(position, pol, SCHEDULES, (), "high", T0 + timedelta(minutes=4.99))
    assert nothing == [] and early == position

    position, notes = plan(position, pol, SCHEDULES, (), "high", T0 + 5 * MINUTE)
    assert [(n.kind, n.users, n.key) for n in notes] == [("users", ("UBOSS",), "INC1:0:1")]
    assert position.due == T0 + 15 * MINUTE

    position, notes = plan(position, pol, SCHEDULES, (), "high", T0 + 15 * MINUTE)
    assert [(n.kind, n.mention, n.key) for n in notes] == [("channel", "here", "INC1:0:2")]
    assert position.due is None  # no repeat: the policy has run out

    position, notes = plan(position, pol, SCHEDULES, (), "high", T0 + timedelta(days=1))
    assert notes == [] and position.due is None


def test_repeat_runs_the_steps_again_then_stops() -> None:
    pol = policy(repeat=2, steps=[{"notify_schedule": "primary", "wait": "5m"},
                                  {"notify_group": "SLEADS", "wait": "20m"}])
    position, sent = simulate(begin("INC1", T0), pol, T0, T0 + timedelta(hours=3))
    assert [note.key for _, note in sent] == [
        "INC1:0:0", "INC1:0:1", "INC1:1:0", "INC1:1:1", "INC1:2:0", "INC1:2:1"]
    assert minutes(sent) == [0, 5, 25, 30, 50, 55]
    assert [note.group for _, note in sent][1::2] == ["SLEADS"] * 3
    assert position.due is None and position.pass_number == 3


def test_acknowledgement_stops_escalation() -> None:
    pol = policy(repeat=5)
    position, sent = simulate(begin("INC1", T0), pol, T0, T0 + timedelta(hours=6),
                              acks={T0 + 7 * MINUTE: "UANNA"})
    assert [note.key for _, note in sent] == ["INC1:0:0", "INC1:0:1"]
    assert position.acknowledged_by == "UANNA"
    assert position.due is None  # no ack_timeout: nothing more until someone acts


def test_an_unanswered_reminder_after_the_ack_timeout_sends_the_incident_back() -> None:
    pol = policy(ack_timeout="30m", reminder_wait="10m")
    position, sent = simulate(begin("INC1", T0), pol, T0, T0 + timedelta(hours=2),
                              acks={T0 + 2 * MINUTE: "UANNA"})
    assert [(m, note.kind, note.users, note.key) for m, (_, note) in
            zip(minutes(sent), sent, strict=True)] == [
        (0, "schedule", ("UANNA",), "INC1:0:0"),
        # 30 minutes after the ack: a reminder to the acknowledger, keyed by that ack.
        (32, "reminder", ("UANNA",), "INC1:0:1:reminder:20260105T100200Z"),
        # Nobody answered within 10 minutes: escalation goes on with the next step.
        (42, "users", ("UBOSS",), "INC1:0:1"),
        (52, "channel", (), "INC1:0:2"),
    ]
    assert not position.acknowledged


def test_answering_the_reminder_restarts_the_ack_timeout() -> None:
    pol = policy(ack_timeout="30m", reminder_wait="10m")
    acks = {T0 + 2 * MINUTE: "UANNA", T0 + 35 * MINUTE: "UANNA"}
    position, sent = simulate(begin("INC1", T0), pol, T0, T0 + 74 * MINUTE, acks=acks)
    assert [(m, note.kind) for m, (_, note) in zip(minutes(sent), sent, strict=True)] == [
        (0, "schedule"), (32, "reminder"), (65, "reminder")]
    assert sent[1][1].key != sent[2][1].key  # a second reminder is not deduplicated away
    assert position.acknowledged and position.due == T0 + 75 * MINUTE


def test_back_from_an_unanswered_reminder_after_the_last_step_runs_one_more_pass() -> None:
    pol = policy(ack_timeout="1h", reminder_wait="10m",
                 steps=[{"notify_schedule": "primary", "wait": "5m"}])
    position, sent = simulate(begin("INC1", T0), pol, T0, T0 + timedelta(hours=3),
                              acks={T0 + 20 * MINUTE: "UBEN"})
    assert [(m, note.key.split(":reminder")[0]) for m, (_, note) in
            zip(minutes(sent), sent, strict=True)] == [
        (0, "INC1:0:0"), (80, "INC1:1:0"), (90, "INC1:1:0")]
    assert [note.kind for _, note in sent] == ["schedule", "reminder", "schedule"]
    assert position.due is None and not position.acknowledged


def test_escalate_now_drops_the_acknowledgement_and_runs_the_next_step() -> None:
    pol = policy()
    position, _ = plan(begin("INC1", T0), pol, SCHEDULES, (), "high", T0)
    position = acknowledge(position, pol, "UANNA", T0 + MINUTE)
    position = escalate_now(position, pol, T0 + 3 * MINUTE)
    position, notes = plan(position, pol, SCHEDULES, (), "high", T0 + 3 * MINUTE)
    assert [n.key for n in notes] == ["INC1:0:1"]
    assert position.acknowledged_by is None and position.due == T0 + 13 * MINUTE


# --- urgency -----------------------------------------------------------------------------

def test_low_urgency_at_night_waits_for_support_hours_and_high_urgency_pages_at_once() -> None:
    pol = policy(support_hours=OFFICE)
    night = berlin(2026, 1, 5, 23, 0)
    low, notes = plan(begin("INC1", night), pol, SCHEDULES, (), "low", night)
    assert notes == [] and low.due == berlin(2026, 1, 6, 9, 0)
    _, sent = simulate(low, pol, night, berlin(2026, 1, 6, 9, 30), urgency="low")
    assert [(at, note.key) for at, note in sent] == [
        (berlin(2026, 1, 6, 9, 0), "INC1:0:0"), (berlin(2026, 1, 6, 9, 5), "INC1:0:1"),
        (berlin(2026, 1, 6, 9, 15), "INC1:0:2")]

    high, notes = plan(begin("INC2", night), pol, SCHEDULES, (), "high", night)
    assert [n.key for n in notes] == ["INC2:0:0"] and high.due == night + 5 * MINUTE


def test_a_low_urgency_step_due_after_hours_on_friday_waits_for_monday() -> None:
    pol = policy(support_hours=OFFICE)
    friday = berlin(2026, 1, 9, 16, 58)
    position, sent = simulate(begin("INC1", friday), pol, friday,
                              berlin(2026, 1, 12, 9, 10), urgency="low")
    assert [(at.astimezone(BERLIN).strftime("%a %H:%M"), note.key) for at, note in sent] == [
        ("Fri 16:58", "INC1:0:0"), ("Mon 09:00", "INC1:0:1"), ("Mon 09:10", "INC1:0:2")]
    assert position.due is None


def test_a_low_urgency_reminder_waits_for_support_hours_too() -> None:
    pol = policy(support_hours=OFFICE, ack_timeout="30m")
    evening = berlin(2026, 1, 5, 16, 50)
    position, _ = plan(begin("INC1", evening), pol, SCHEDULES, (), "low", evening)
    position = acknowledge(position, pol, "UANNA", evening)
    position, notes = plan(position, pol, SCHEDULES, (), "low", evening + 30 * MINUTE)
    assert notes == [] and position.due == berlin(2026, 1, 6, 9, 0)


def test_without_support_hours_low_urgency_notifies_at_any_hour() -> None:
    night = berlin(2026, 1, 5, 3, 0)
    _, notes = plan(begin("INC1", night), policy(), SCHEDULES, (), "low", night)
    assert [n.key for n in notes] == ["INC1:0:0"]


# --- catching up and targets -------------------------------------------------------------

def test_catching_up_after_downtime_returns_every_overdue_step_in_order() -> None:
    pol = policy(repeat=1)
    start = begin("INC1", T0)
    position, notes = plan(start, pol, SCHEDULES, (), "high", T0 + 22 * MINUTE)
    assert [(n.key, n.due) for n in notes] == [
        ("INC1:0:0", T0), ("INC1:0:1", T0 + 5 * MINUTE), ("INC1:0:2", T0 + 15 * MINUTE),
        ("INC1:1:0", T0 + 20 * MINUTE)]
    assert position.due == T0 + 25 * MINUTE  # the wait counts from when each was due
    # The same position planned again (a crash before it was stored) gives the same keys.
    again, repeated = plan(start, pol, SCHEDULES, (), "high", T0 + 23 * MINUTE)
    assert [n.key for n in repeated] == [n.key for n in notes] and again == position


def test_a_schedule_step_pages_whoever_is_on_call_when_it_goes_out() -> None:
    pol = policy()
    cover = Override(schedule="primary", user="UDAN", start=T0 - timedelta(hours=1),
                     end=T0 + timedelta(hours=1))
    _, notes = plan(begin("INC1", T0), pol, SCHEDULES, (cover,), "high", T0)
    assert notes[0].users == ("UDAN",) and notes[0].schedule == "primary"
    # Next week Ben is on call; a schedule the snapshot names but that is gone: nobody.
    later = T0 + timedelta(weeks=1)
    _, notes = plan(begin("INC2", later), pol, SCHEDULES, (cover,), "high", later)
    assert notes[0].users == ("UBEN",)
    _, notes = plan(begin("INC3", later), pol, {}, (), "high", later)
    assert notes[0].users == () and notes[0].schedule == "primary"


def test_the_on_call_of_a_policy_is_the_on_call_of_its_schedules() -> None:
    secondary = PRIMARY.model_copy(update={"name": "secondary"})
    schedules = {"primary": PRIMARY, "secondary": secondary}
    pol = policy(steps=[{"notify_users": ["UBOSS"]}, {"notify_schedule": "primary"},
                        {"notify_schedule": "secondary"}, {"notify_schedule": "gone"}])
    cover = Override(schedule="secondary", user="UDAN", start=T0, end=T0 + MINUTE)
    assert policy_on_call(pol, schedules, (cover,), T0) == ["UANNA", "UDAN"]
    assert policy_on_call(pol, schedules, (cover,), T0 + MINUTE) == ["UANNA"]


def test_positions_and_policy_snapshots_survive_a_json_round_trip() -> None:
    pol = policy(ack_timeout="30m", support_hours=OFFICE, repeat=2)
    assert Policy.model_validate_json(pol.model_dump_json()) == pol
    position = acknowledge(begin("INC1", T0), pol, "UANNA", T0 + MINUTE)
    assert Position.model_validate_json(position.model_dump_json()) == position
    with pytest.raises(ValidationError):
        position.step = 2  # type: ignore[misc]


# --- routes ------------------------------------------------------------------------------

def test_route_takes_the_first_match_else_the_default() -> None:
    routing = Routing.model_validate({"default": "sre", "routes": [
        {"service": "checkout", "severity": ["critical", "page"], "policy": "payments-urgent"},
        {"service": ["checkout", "payments"], "policy": "payments"},
        {"team": "data", "policy": "data"},
    ]})
    assert route(routing, "checkout", "shop", "critical") == "payments-urgent"
    assert route(routing, "checkout", "shop", "warning") == "payments"
    assert route(routing, "payments", None, "critical") == "payments"
    assert route(routing, "etl", "data", None) == "data"
    assert route(routing, "etl", None, "critical") == "sre"
    assert route(routing, None, None, None) == "sre"


# --- settings ----------------------------------------------------------------------------

EXAMPLE = """
schedules:
  - name: payments-primary
    layers:
      - members: [U024BE7LH, U0G9QF9C6, U061F7AUR]
        start: 2026-01-05
        handoff: 09:00
        length: 1w
        time_zone: Europe/Berlin
policies:
  - name: payments
    repeat: 2
    ack_timeout: 1h
    reminder_wait: 15m
    support_hours: {days: [mon, tue, wed, thu, fri], start: 09:00, end: 17:00,
                    time_zone: Europe/Berlin}
    steps:
      - notify_schedule: payments-primary
        wait: 10m
      - notify_group: S0614TZR7
        wait: 15m
      - notify_channel: here
  - name: sre
    steps:
      - notify_users: [U024BE7LH]
routing:
  default: sre
  routes:
    - service: [checkout, payments]
      severity: critical
      policy: payments
"""


def errors(data: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        OnCallSettings.model_validate(data)
    return format_validation_error(info.value, None).splitlines()


def test_the_example_reads() -> None:
    settings = OnCallSettings.model_validate(yaml.safe_load(EXAMPLE))
    payments = settings.policy("payments")
    assert [step.kind for step in payments.steps] == ["schedule", "group", "channel"]
    assert payments.steps[2].wait == timedelta(minutes=5)  # the default wait
    assert payments.support_hours is not None
    assert payments.support_hours.end.hour == 17
    assert set(settings.schedule_map()) == {"payments-primary"}
    assert settings.routing is not None
    assert route(settings.routing, "checkout", None, "critical") == "payments"


def test_unknown_names_are_reported_where_they_are_used() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["policies"][0]["steps"][0]["notify_schedule"] = "payments-primray"
    data["routing"]["routes"][0]["policy"] = "paymnets"
    data["routing"]["default"] = "ops"
    assert errors(data) == [
        "settings: policies[0].steps[0].notify_schedule: expected the name of a schedule "
        "('payments-primary'), got 'payments-primray'",
        "settings: routing.routes[0].policy: expected the name of a policy ('payments', "
        "'sre'), got 'paymnets'",
        "settings: routing.default: expected the name of a policy ('payments', 'sre'), "
        "got 'ops'",
    ]


def test_bad_steps_are_reported_with_their_place() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["policies"][1]["steps"] = []
    data["policies"][0]["steps"][1]["wait"] = -60
    data["policies"][0]["steps"][2]["notify_users"] = ["U024BE7LH"]
    data["policies"][0]["steps"].append({"wait": "5m"})
    data["policies"][0]["steps"].append({"notify_group": "sre-leads"})
    assert errors(data) == [
        "settings: policies[0].steps[1].wait: expected a wait of 0s or more, got '-1m'",
        "settings: policies[0].steps[2]: expected exactly one of notify_users, notify_group, "
        "notify_schedule, notify_channel, notify_pagerduty or notify_webhook, got notify_users and "
        "notify_channel",
        "settings: policies[0].steps[3]: expected exactly one of notify_users, notify_group, "
        "notify_schedule, notify_channel, notify_pagerduty or notify_webhook, got none",
        "settings: policies[0].steps[4].notify_group: expected a Slack user group id like "
        "'S0614TZR7', got 'sre-leads' (Slack shows it in the group's \"Copy group ID\" menu)",
        "settings: policies[1].steps: expected at least one step (notify_users, "
        "notify_group, notify_schedule, notify_channel, notify_pagerduty or notify_webhook), "
        "got none",
    ]


def test_negative_and_zero_timers_are_refused() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["policies"][0]["ack_timeout"] = "0s"
    data["policies"][0]["reminder_wait"] = "-5m"
    data["policies"][0]["repeat"] = -1
    lines = errors(data)
    assert lines[0] == ("settings: policies[0].repeat: input should be greater than or equal "
                        "to 0, got -1")
    assert lines[1] == ("settings: policies[0].ack_timeout: expected a timeout longer than 0s, "
                        "like '30m', got '0s'")
    # "-5m" is no duration at all (durations have no sign).
    assert lines[2] == ("settings: policies[0].reminder_wait: expected a duration like '10m', "
                        "got '-5m'")


def test_names_must_be_unique_and_routing_is_needed_with_policies() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["schedules"].append(data["schedules"][0])
    data["policies"][1]["name"] = "payments"
    del data["routing"]
    assert errors(data) == [
        "settings: schedules[1].name: expected a name no other schedule has, got "
        "'payments-primary' again (first at schedules[0])",
        "settings: policies[1].name: expected a name no other policy has, got 'payments' "
        "again (first at policies[0])",
        "settings: routing: expected routing with a default policy when policies are set, "
        "got none",
    ]


def test_nothing_configured_is_valid() -> None:
    settings = OnCallSettings()
    assert settings.policies == () and settings.routing is None
