"""One answer's reads (bot/metrics/batch.py): read once per key, windows joined only when
their grids continue each other, calls run at the same time with the caller's scope."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.metrics import batch
from bot.metrics.base import Window

T0 = datetime(2026, 11, 23, tzinfo=UTC)
STEP = timedelta(minutes=6)


def grid(start: datetime, steps: int) -> Window:
    return Window(start=start, end=start + (steps - 1) * STEP, step=STEP, rate_window=STEP)


def test_a_key_is_read_once_even_by_callers_at_the_same_time() -> None:
    calls: list[int] = []
    both_in = threading.Barrier(2)

    def read() -> int:
        calls.append(1)
        return 42

    def caller(scope: batch.Scope) -> int:
        both_in.wait()
        return scope.read("key", read)

    with batch.one_answer() as scope:
        results = batch.run_all(lambda: caller(scope), lambda: caller(scope))
    assert results == [42, 42]
    assert calls == [1]


def test_an_error_is_kept_for_the_key_too() -> None:
    def fail() -> int:
        raise ValueError("refused")

    with batch.one_answer() as scope:
        for _ in range(2):
            with pytest.raises(ValueError, match="refused"):
                scope.read("key", fail)


def test_windows_join_only_when_one_grid_continues_the_other() -> None:
    earlier = grid(T0, 240)
    later = grid(earlier.end + STEP, 240)
    gap = grid(earlier.end + 2 * STEP, 240)
    with batch.one_answer() as scope:
        scope.join(earlier, gap)
        assert scope.joined(earlier) == earlier
        scope.join(earlier, later)
        both = scope.joined(later)
    assert both == scope.joined(earlier)
    assert (both.start, both.end, both.step, both.lookback) == (earlier.start, later.end,
                                                                STEP, STEP)


def test_two_figures_over_the_same_lookback_join_into_two_points_a_window_apart() -> None:
    day = timedelta(days=1)
    now, before = Window.figure(T0, day), Window.figure(T0 - day, day)
    with batch.one_answer() as scope:
        scope.join(Window.figure(T0 - day, timedelta(hours=1)), now)  # another lookback
        assert scope.joined(now) == now
        scope.join(now, before)  # the later one first: nothing
        assert scope.joined(now) == now
        scope.join(before, now)
        both = scope.joined(now)
    assert both == scope.joined(before)
    # The figure of each window, evaluated at its end over its lookback, as alone.
    assert (both.start, both.end, both.step, both.lookback) == (T0 - day, T0, day, day)
    assert not both.last_only


def test_no_scope_outside_an_answer_and_calls_inside_see_it() -> None:
    assert batch.current() is None
    with batch.one_answer() as scope:
        seen = batch.run_all(batch.current, batch.current, batch.current)
        with batch.one_answer() as inner:
            assert inner is scope
    assert seen == [scope, scope, scope]
    assert batch.current() is None


def test_run_all_raises_the_first_error_in_call_order() -> None:
    def fail(text: str) -> None:
        raise ValueError(text)

    with pytest.raises(ValueError, match="second"):
        batch.run_all(lambda: 1, lambda: fail("second"), lambda: fail("third"))
