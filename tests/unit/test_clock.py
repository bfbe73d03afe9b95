"""The clock: wall time, data time, and wall time faster than real time (``--speed``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import _parser
from bot.clock import Clock, accelerated, clock_at

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Real:
    """Real time, moved by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_accelerated_time_runs_n_times_faster_from_its_start() -> None:
    real = Real(START)
    now = accelerated(START, 60, real)
    assert now() == START
    real.at += timedelta(seconds=1)
    assert now() == START + timedelta(minutes=1)
    real.at += timedelta(seconds=30)
    assert now() == START + timedelta(minutes=31)


def test_two_processes_with_the_same_start_agree_so_a_restart_goes_on() -> None:
    real = Real(START + timedelta(seconds=10))
    first = accelerated(START, 60, real)
    before_the_crash = first()
    real.at += timedelta(seconds=3)  # down for three real seconds
    restarted = accelerated(START, 60, real)
    assert restarted() == first() == before_the_crash + timedelta(minutes=3)


def test_a_clock_needs_a_zone_and_a_speed_above_zero() -> None:
    with pytest.raises(ValueError, match="time zone"):
        accelerated(START.replace(tzinfo=None), 60)
    with pytest.raises(ValueError, match="more than 0"):
        accelerated(START, 0)
    with pytest.raises(ValueError, match="more than 0"):
        Clock(rate=-1)


def test_clock_at_with_a_speed_holds_the_data_and_keeps_the_rate() -> None:
    clock = clock_at("2026-11-20T14:00", UTC, speed=60, since=START)
    assert clock.rate == 60 and clock.as_of == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert clock.now() > START + timedelta(hours=1)  # START is long past in real time
    held = clock.holding_data_at(START)
    assert held.rate == 60 and held.data_now() == START
    assert clock_at(None, UTC).rate == 1


def test_perfbot_run_takes_a_speed_and_where_it_counts_from() -> None:
    args = _parser().parse_args(["run", "--speed", "60",
                                 "--speed-from", "2026-11-23T12:00:00+00:00"])
    assert args.speed == 60 and args.speed_from == START
    assert _parser().parse_args(["run"]).speed == 1


@pytest.mark.parametrize(("argv", "said"), [
    (["--speed", "0"], "expected a speed above 0"),
    (["--speed", "fast"], "expected a number like 60"),
    (["--speed-from", "2026-11-23T12:00"], "with its offset"),
    (["--speed-from", "noon"], "expected a time like"),
])
def test_a_bad_speed_is_refused_with_what_was_expected(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["run", *argv])
    assert exited.value.code == 2 and said in capsys.readouterr().err
