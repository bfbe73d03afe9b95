from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from bot.config import format_validation_error
from bot.incidents.schedules import (
    Override,
    Rotation,
    Schedule,
    Shift,
    Upcoming,
    next_shift,
    on_call,
    shifts,
    wall_to_utc,
)

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
           fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def rotation(**fields: Any) -> Rotation:
    defaults: dict[str, Any] = {"members": ["UANNA", "UBEN", "UCARLA"],
                                "start": "2026-01-05 09:00", "length": "1w",
                                "time_zone": "Europe/Berlin"}
    return Rotation.model_validate(defaults | fields)


def schedule(*layers: Rotation, name: str = "primary") -> Schedule:
    return Schedule(name=name, layers=layers)


def who(sched: Schedule, at: datetime, overrides: tuple[Override, ...] = ()) -> list[str]:
    return on_call(sched, overrides, at)


# --- wall clock --------------------------------------------------------------------------

def test_a_skipped_wall_time_is_the_first_instant_after_the_gap() -> None:
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    assert wall_to_utc(datetime(2026, 3, 29, 2, 30), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert wall_to_utc(datetime(2026, 3, 29, 2, 0), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert wall_to_utc(datetime(2026, 3, 29, 1, 59), BERLIN) == utc(2026, 3, 29, 0, 59)
    assert wall_to_utc(datetime(2026, 3, 29, 3, 0), BERLIN) == utc(2026, 3, 29, 1, 0)


def test_a_repeated_wall_time_is_its_first_occurrence() -> None:
    # 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    assert wall_to_utc(datetime(2026, 10, 25, 2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)
    assert wall_to_utc(datetime(2026, 10, 25, 3, 0), BERLIN) == utc(2026, 10, 25, 2, 0)


# --- one rotation ------------------------------------------------------------------------

def test_handoff_at_the_exact_minute() -> None:
    daily = schedule(rotation(members=["UANNA", "UBEN"], length="1d"))
    handoff = berlin(2026, 1, 6, 9, 0)
    assert who(daily, handoff - timedelta(minutes=1)) == ["UANNA"]
    assert who(daily, handoff) == ["UBEN"]
    assert who(daily, handoff + timedelta(days=1) - timedelta(minutes=1)) == ["UBEN"]
    assert who(daily, handoff + timedelta(days=1)) == ["UANNA"]


def test_nobody_before_the_first_handoff_and_after_the_end() -> None:
    # start is a date: the layer begins at its first 09:00 hand-off that day.
    layer = rotation(start="2026-01-05", handoff="09:00", end="2026-01-19 09:00")
    sched = schedule(layer)
    assert who(sched, berlin(2026, 1, 5, 8, 59)) == []
    assert who(sched, berlin(2026, 1, 5, 9, 0)) == ["UANNA"]
    assert who(sched, berlin(2026, 1, 19, 8, 59)) == ["UBEN"]
    assert who(sched, berlin(2026, 1, 19, 9, 0)) == []


def test_a_start_between_handoffs_waits_for_the_next_one() -> None:
    # Hand-offs at 09:00; the layer is written to start at 12:00 on Monday, so the first
    # hand-off it makes is Tuesday 09:00 with the first member, then daily.
    layer = rotation(start="2026-01-05 12:00", handoff="09:00", length="1d")
    assert layer.anchor == datetime(2026, 1, 6, 9, 0)
    assert who(schedule(layer), berlin(2026, 1, 5, 20, 0)) == []
    assert who(schedule(layer), berlin(2026, 1, 6, 9, 0)) == ["UANNA"]
    assert who(schedule(layer), berlin(2026, 1, 7, 9, 0)) == ["UBEN"]


def test_weekly_rotation_of_three_cycles_over_months_at_local_0900() -> None:
    sched = schedule(rotation())
    found = shifts(sched, (), utc(2026, 1, 5), utc(2026, 7, 6))
    # 26 weekly turns from Monday 5 January to Monday 6 July, members in order round and round.
    assert len(found) == 26
    assert [s.users[0] for s in found[:7]] == ["UANNA", "UBEN", "UCARLA"] * 2 + ["UANNA"]
    assert all(a.users != b.users for a, b in pairwise(found))
    for index, shift in enumerate(found[1:], start=1):
        local = shift.start.astimezone(BERLIN)
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
        assert shift.users == (("UANNA", "UBEN", "UCARLA")[index % 3],)
    # Winter hand-offs are at 08:00 UTC, summer ones at 07:00 UTC.
    assert found[1].start == utc(2026, 1, 12, 8, 0)
    assert found[-1].start == utc(2026, 6, 29, 7, 0)
    # The week across the spring change (Monday 23 March to 30 March) is an hour short.
    change = next(s for s in found if s.start == utc(2026, 3, 23, 8, 0))
    assert change.end - change.start == timedelta(days=7, hours=-1)
    # Week 52 after the start is the 52nd turn: 52 % 3 == 1, the second member.
    assert who(sched, berlin(2027, 1, 4, 9, 0)) == ["UBEN"]


def test_twelve_hour_turns_hand_off_at_the_handoff_time_and_twelve_hours_later() -> None:
    sched = schedule(rotation(members=["UDAY", "UNIGHT"], start="2026-01-05",
                              handoff="08:00", length="12h"))
    found = shifts(sched, (), berlin(2026, 1, 5, 0, 0), berlin(2026, 1, 7, 0, 0))
    assert [(s.users[0], s.start.astimezone(BERLIN).hour) for s in found] == [
        ("UDAY", 8), ("UNIGHT", 20), ("UDAY", 8), ("UNIGHT", 20)]


# --- daylight saving ---------------------------------------------------------------------

def test_a_0230_handoff_on_the_spring_change_happens_at_0300_cest() -> None:
    sched = schedule(rotation(members=["UANNA", "UBEN"], start="2026-03-27 02:30",
                              length="1d"))
    # 27th: Anna, 28th: Ben, 29th: Anna again, handing over at 03:00 CEST == 01:00 UTC.
    assert who(sched, utc(2026, 3, 29, 0, 59)) == ["UBEN"]
    assert who(sched, utc(2026, 3, 29, 1, 0)) == ["UANNA"]
    found = shifts(sched, (), utc(2026, 3, 28), utc(2026, 3, 31))
    assert [(s.users[0], s.start) for s in found] == [
        ("UANNA", utc(2026, 3, 28, 0, 0)),    # cut to the window
        ("UBEN", utc(2026, 3, 28, 1, 30)),    # 02:30 CET
        ("UANNA", utc(2026, 3, 29, 1, 0)),    # 03:00 CEST, the first instant after the gap
        ("UBEN", utc(2026, 3, 30, 0, 30)),    # 02:30 CEST
    ]
    # 02:30 CET to 03:00 CEST, and 03:00 CEST to 02:30 CEST: both half an hour short.
    assert found[1].end - found[1].start == timedelta(hours=23, minutes=30)
    assert found[2].end - found[2].start == timedelta(hours=23, minutes=30)


def test_a_0230_handoff_on_the_autumn_change_happens_at_the_first_0230() -> None:
    sched = schedule(rotation(members=["UANNA", "UBEN"], start="2026-10-24 02:30",
                              length="1d"))
    first_0230 = berlin(2026, 10, 25, 2, 30, fold=0)
    second_0230 = berlin(2026, 10, 25, 2, 30, fold=1)
    assert first_0230.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert who(sched, first_0230 - timedelta(minutes=1)) == ["UANNA"]
    assert who(sched, first_0230) == ["UBEN"]
    assert who(sched, second_0230) == ["UBEN"]  # no second hand-off an hour later
    turn = shifts(sched, (), utc(2026, 10, 25, 1), utc(2026, 10, 28))[0]
    assert turn.end == utc(2026, 10, 26, 1, 30)  # 02:30 CET: a 25-hour turn
    assert turn.end - first_0230 == timedelta(hours=25)


def test_a_daily_0900_handoff_stays_at_0900_local_across_both_changes() -> None:
    sched = schedule(rotation(members=["UANNA", "UBEN"], length="1d"))
    spring = shifts(sched, (), berlin(2026, 3, 28, 8), berlin(2026, 3, 29, 12))
    autumn = shifts(sched, (), berlin(2026, 10, 24, 8), berlin(2026, 10, 25, 12))
    for found in (spring, autumn):
        assert [s.start.astimezone(BERLIN).hour for s in found[1:]] == [9, 9]
    assert spring[1].end - spring[1].start == timedelta(hours=23)
    assert autumn[1].end - autumn[1].start == timedelta(hours=25)


# --- overrides ---------------------------------------------------------------------------

def test_an_override_wins_and_the_last_one_given_wins_among_overlaps() -> None:
    sched = schedule(rotation())
    week = Override(schedule="primary", user="UDAN", start=berlin(2026, 1, 6, 0, 0),
                    end=berlin(2026, 1, 9, 0, 0))
    evening = Override(schedule="primary", user="UEVA", start=berlin(2026, 1, 7, 18, 0),
                       end=berlin(2026, 1, 7, 22, 0))
    elsewhere = Override(schedule="secondary", user="UFAY", start=berlin(2026, 1, 1, 0, 0),
                         end=berlin(2026, 2, 1, 0, 0))
    overrides = (elsewhere, week, evening)
    assert who(sched, berlin(2026, 1, 5, 23, 59), overrides) == ["UANNA"]
    assert who(sched, berlin(2026, 1, 6, 0, 0), overrides) == ["UDAN"]
    assert who(sched, berlin(2026, 1, 7, 19, 0), overrides) == ["UEVA"]
    assert who(sched, berlin(2026, 1, 9, 0, 0), overrides) == ["UANNA"]
    found = shifts(sched, overrides, berlin(2026, 1, 5, 9), berlin(2026, 1, 12, 9))
    assert [(s.users[0], s.start.astimezone(BERLIN).strftime("%d %H:%M")) for s in found] == [
        ("UANNA", "05 09:00"), ("UDAN", "06 00:00"), ("UEVA", "07 18:00"),
        ("UDAN", "07 22:00"), ("UANNA", "09 00:00"),
    ]


def test_override_times_are_kept_in_utc() -> None:
    override = Override(schedule="primary", user="UDAN", start="2026-01-06T10:00:00+01:00",
                        end="2026-01-06T12:00:00+01:00")
    assert override.start == utc(2026, 1, 6, 9, 0)
    assert override.start.tzinfo is UTC


# --- layers ------------------------------------------------------------------------------

def follow_the_sun() -> Schedule:
    europe = rotation(name="europe", members=["UEU1", "UEU2"], start="2026-01-05",
                      handoff="09:00", length="1w",
                      hours={"days": ["mon", "tue", "wed", "thu", "fri"],
                             "start": "09:00", "end": "17:00"})
    america = rotation(name="america", members=["UUS1", "UUS2"], start="2026-01-05",
                       handoff="09:00", length="1w", time_zone="America/New_York",
                       hours={"days": ["mon", "tue", "wed", "thu", "fri"],
                              "start": "09:00", "end": "17:00"})
    return schedule(europe, america)


def test_two_layers_follow_the_sun_and_the_later_layer_wins_the_overlap() -> None:
    sched = follow_the_sun()
    # Tuesday 6 January (winter on both sides: New York is 6 hours behind Berlin).
    assert who(sched, berlin(2026, 1, 6, 8, 59)) == []
    assert who(sched, berlin(2026, 1, 6, 9, 0)) == ["UEU1"]
    assert who(sched, berlin(2026, 1, 6, 15, 0)) == ["UUS1"]   # 09:00 in New York
    assert who(sched, berlin(2026, 1, 6, 22, 59)) == ["UUS1"]
    assert who(sched, berlin(2026, 1, 6, 23, 0)) == []         # 17:00 in New York
    assert who(sched, berlin(2026, 1, 10, 12, 0)) == []        # Saturday
    assert who(sched, berlin(2026, 1, 13, 10, 0)) == ["UEU2"]  # the next week's turn
    day = shifts(sched, (), berlin(2026, 1, 6, 0), berlin(2026, 1, 7, 0))
    assert day == [
        Shift(("UEU1",), utc(2026, 1, 6, 8), utc(2026, 1, 6, 14)),
        Shift(("UUS1",), utc(2026, 1, 6, 14), utc(2026, 1, 6, 22)),
    ]


def test_follow_the_sun_when_only_america_has_changed_its_clocks() -> None:
    # Between 8 March (US) and 29 March (EU) New York is only 5 hours behind Berlin.
    sched = follow_the_sun()
    assert who(sched, berlin(2026, 3, 17, 13, 59)) == ["UEU1"]
    assert who(sched, berlin(2026, 3, 17, 14, 0)) == ["UUS1"]


def test_hours_crossing_midnight_belong_to_the_day_they_start() -> None:
    nights = rotation(members=["UNIGHT"], start="2026-01-05", handoff="00:00", length="1d",
                      hours={"days": ["fri"], "start": "22:00", "end": "06:00"})
    sched = schedule(nights)
    assert who(sched, berlin(2026, 1, 9, 21, 59)) == []
    assert who(sched, berlin(2026, 1, 9, 22, 0)) == ["UNIGHT"]
    assert who(sched, berlin(2026, 1, 10, 5, 59)) == ["UNIGHT"]  # Saturday morning
    assert who(sched, berlin(2026, 1, 10, 22, 0)) == []


# --- next shift --------------------------------------------------------------------------

def test_next_shift_names_who_is_next_and_when() -> None:
    sched = schedule(rotation())
    assert next_shift(sched, (), berlin(2026, 1, 7, 12)) == Upcoming(
        ("UBEN",), utc(2026, 1, 12, 8, 0))
    # Before the layer begins nobody is on call; next is the first member.
    assert next_shift(sched, (), berlin(2026, 1, 1)) == Upcoming(
        ("UANNA",), utc(2026, 1, 5, 8, 0))


def test_next_shift_skips_gaps_and_the_same_person_coming_back() -> None:
    sched = follow_the_sun()
    # Friday evening in America: next is Europe's Monday morning, not the weekend's gap.
    assert next_shift(sched, (), berlin(2026, 1, 9, 20)) == Upcoming(
        ("UEU2",), berlin(2026, 1, 12, 9).astimezone(UTC))
    # Europe's Tuesday afternoon: next is America's shift the same day.
    assert next_shift(sched, (), berlin(2026, 1, 6, 10)) == Upcoming(
        ("UUS1",), utc(2026, 1, 6, 14))


def test_next_shift_is_none_when_nobody_else_ever_comes() -> None:
    alone = schedule(rotation(members=["UANNA"]))
    assert next_shift(alone, (), berlin(2026, 2, 1), within=timedelta(days=60)) is None


def test_next_shift_finds_an_override_far_ahead() -> None:
    alone = schedule(rotation(members=["UANNA"]))
    holiday = Override(schedule="primary", user="UBEN", start=utc(2026, 8, 1),
                       end=utc(2026, 8, 15))
    assert next_shift(alone, (holiday,), berlin(2026, 2, 1)) == Upcoming(
        ("UBEN",), utc(2026, 8, 1))


def test_times_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(schedule(rotation()), (), datetime(2026, 1, 6, 9, 0))


# --- settings ----------------------------------------------------------------------------

def problems(model: type[Rotation] | type[Override] | type[Schedule], data: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return format_validation_error(info.value, None).splitlines()


def test_a_schedule_reads_from_yaml_with_unquoted_times() -> None:
    text = """
name: primary
layers:
  - name: weekdays
    members: [UANNA, UBEN]
    start: 2026-01-05
    handoff: 09:30
    length: 1w
    time_zone: Europe/Berlin
    hours: {days: [Monday, TUE, wed], start: 9:00, end: 17:30}
"""
    sched = Schedule.model_validate(yaml.safe_load(text))
    layer = sched.layers[0]
    # YAML 1.1 reads 17:30 as 1050 (base 60) and 09:30 as text: both come back as times.
    assert layer.hours is not None
    assert (layer.hours.start.isoformat(), layer.hours.end.isoformat()) == ("09:00:00",
                                                                            "17:30:00")
    assert layer.hours.days == ("mon", "tue", "wed")
    assert layer.anchor == datetime(2026, 1, 5, 9, 30)
    assert layer.length == timedelta(weeks=1)


def test_rotation_errors_name_the_field_and_the_expectation() -> None:
    lines = problems(Schedule, {"name": "primary", "layers": [{
        "members": ["UANNA", "@ben"], "start": "2026-01-05T09:00:00+01:00",
        "length": "30m", "time_zone": "Europe/Berln",
        "hours": {"start": "09:00", "end": "09:00"},
    }]})
    assert lines == [
        "settings: layers[0].members[1]: expected a Slack user id like 'U024BE7LH', got "
        "'@ben' (Slack shows it in the profile's \"Copy member ID\" menu)",
        "settings: layers[0].start: expected a local date and time without an offset like "
        "'2026-01-05 09:00', got '2026-01-05T09:00:00+01:00' (the zone is the time_zone "
        "setting)",
        "settings: layers[0].length: expected a turn length of whole minutes, at least 1h, "
        "like '1d' or '1w', got '30m'",
        "settings: layers[0].time_zone: expected an IANA time zone like 'Europe/Berlin', got "
        "'Europe/Berln'",
        "settings: layers[0].hours.end: expected an end other than the start, got 09:00 for "
        "both (leave the hours out to cover the whole day)",
    ]


def test_a_schedule_needs_layers_members_and_days() -> None:
    assert problems(Schedule, {"name": "primary", "layers": []}) == [
        "settings: layers: expected at least one layer, got none"]
    assert problems(Rotation, {"members": [], "start": "2026-01-05", "length": "1d",
                               "time_zone": "UTC", "hours": {"days": [], "start": "09:00",
                                                             "end": "17:00"}}) == [
        "settings: members: expected at least one member, got none",
        "settings: hours.days: expected at least one day, got none",
    ]


def test_a_rotation_must_end_after_it_starts() -> None:
    assert problems(Rotation, {"members": ["UANNA"], "start": "2026-01-05 09:00",
                               "end": "2026-01-05", "length": "1d", "time_zone": "UTC"}) == [
        "settings: end: expected an end after the start (2026-01-05 09:00), got "
        "2026-01-05 00:00"]


def test_an_override_must_end_after_it_starts_and_carry_an_offset() -> None:
    assert problems(Override, {"schedule": "primary", "user": "UDAN",
                               "start": "2026-01-06T10:00:00Z",
                               "end": "2026-01-06T09:00:00Z"}) == [
        "settings: end: expected an end after the start (2026-01-06T10:00:00+00:00), got "
        "2026-01-06T09:00:00+00:00",
    ]
    lines = problems(Override, {"schedule": "primary", "user": "UDAN",
                                "start": "2026-01-06T10:00:00", "end": "2026-01-06T11:00:00Z"})
    assert len(lines) == 1 and lines[0].startswith("settings: start: ")


def test_settings_are_frozen() -> None:
    layer = rotation()
    with pytest.raises(ValidationError):
        layer.length = timedelta(days=1)  # type: ignore[misc]
    assert isinstance(layer.members, tuple)
