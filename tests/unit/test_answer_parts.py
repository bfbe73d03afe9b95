"""The pure parts behind answers: the significance test, error budgets, folding, formats, grids."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from bot.analytics.compare import MIN_SAMPLES, compare_samples, effect_magnitude
from bot.ask.measures import Reading, combine
from bot.ask.query import Measure, Statistic
from bot.ask.slo import Budget, budget_words, error_budget, latency_budget
from bot.figures import series_step, series_window, whole_window
from bot.render.message import Table
from bot.render.text import format_change, format_count, format_money, format_share

# ---- Mann–Whitney U -------------------------------------------------------------------------


def test_a_clear_shift_is_real_with_a_large_effect() -> None:
    rng = np.random.default_rng(1)
    before = rng.lognormal(np.log(0.2), 0.2, 200)
    after = rng.lognormal(np.log(0.6), 0.2, 200)
    result = compare_samples(before, after)
    assert result is not None
    assert result.real and result.direction == "higher"
    assert result.p_value < 0.001 and result.p_text() == "p<0.001"
    assert result.effect > 0.9 and result.magnitude == "large"
    down = compare_samples(after, before)
    assert down is not None and down.direction == "lower" and down.effect == -result.effect


def test_the_same_distribution_is_not_a_difference() -> None:
    rng = np.random.default_rng(2)
    result = compare_samples(rng.normal(1, 0.1, 300), rng.normal(1, 0.1, 300))
    assert result is not None
    assert not result.real and result.direction == "same"
    assert result.p_value > 0.05


def test_a_tiny_shift_over_many_points_is_significant_but_negligible() -> None:
    rng = np.random.default_rng(3)
    before = rng.normal(1.0, 1.0, 20_000)
    after = rng.normal(1.05, 1.0, 20_000)
    result = compare_samples(before, after)
    assert result is not None
    assert result.p_value < 0.05  # many points make any shift "significant"...
    assert result.magnitude == "negligible" and not result.real  # ...but it does not matter


def test_rank_biserial_matches_a_hand_count() -> None:
    before, after = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    # Pairs (after > before): 36 pairs; after wins 30, ties 3 (4/4, 5/5, 6/6), loses 3.
    greater, ties = 30, 3
    expected = 2 * (greater + ties / 2) / 36 - 1
    result = compare_samples(before, after)
    assert result is not None
    assert result.effect == pytest.approx(expected)
    assert effect_magnitude(0.1) == "negligible" and effect_magnitude(-0.4) == "medium"


def test_too_few_points_or_constants() -> None:
    assert compare_samples([1.0] * (MIN_SAMPLES - 1), [2.0] * 50) is None
    assert compare_samples([1.0, math.nan] * 40, [1.0] * 3 + [math.nan] * 10) is None
    flat = compare_samples([0.0] * 30, [0.0] * 30)
    assert flat is not None and flat.p_value == 1.0 and not flat.real


# ---- error budgets --------------------------------------------------------------------------


def test_error_budget_by_hand() -> None:
    # 99.9% objective, 1,000,000 requests, 400 errors: 1,000 allowed, 40% spent.
    budget = error_budget(0.001, 1_000_000, 0.0004)
    assert budget.objective == "99.9% of requests without a 5xx"
    assert budget.allowed == pytest.approx(1000)
    assert budget.bad == pytest.approx(400)
    assert budget.spent == pytest.approx(0.4)
    assert budget.remaining == pytest.approx(0.6)
    assert budget.burn_rate == pytest.approx(0.4)
    assert budget.met
    assert budget_words(budget) == "60% of the budget left (burn rate 0.40)"


def test_an_overspent_budget_goes_negative() -> None:
    budget = error_budget(0.01, 10_000, 0.031)
    assert budget.remaining == pytest.approx(-2.1)
    assert not budget.met
    assert budget_words(budget) == "budget overspent: 3.1x the allowed (burn rate 3.10)"


def test_latency_budget_counts_slow_requests() -> None:
    # p95 <= 500 ms: 5% may be slower; 97% were within, so 3% slow: 60% of the budget used.
    budget = latency_budget(0.95, 0.5, 20_000, 0.97)
    assert budget.objective == "95% of requests within 500 ms"
    assert budget.allowed == pytest.approx(1000)
    assert budget.bad == pytest.approx(600)
    assert budget.burn_rate == pytest.approx(0.6)


def test_no_requests_means_no_budget() -> None:
    budget = Budget(objective="x", allowed_ratio=0.01, requests=0, bad=0)
    assert budget.spent is None and budget.burn_rate is None and budget.met
    assert budget_words(budget) == "no budget (no requests)"


# ---- folding endpoints into a service ---------------------------------------------------------


def _reading(measure: Measure, values: dict[str, float], series: dict[str, list[float]],
             traffic: dict[str, float] | None = None,
             traffic_series: dict[str, list[float]] | None = None) -> Reading:
    index = pd.date_range("2026-11-23", periods=3, freq="5min", tz="UTC")
    start, end = index[0].to_pydatetime(), index[-1].to_pydatetime()
    return Reading(
        measure, None, start, end, values, pd.DataFrame(series, index=index),
        traffic or {}, pd.DataFrame(traffic_series, index=index) if traffic_series else None,
    )


def test_counts_add_up_and_latency_takes_the_slowest() -> None:
    counts = _reading(Measure.REQUEST_COUNT, {"a": 100, "b": 50},
                      {"a": [1, 2, math.nan], "b": [1, math.nan, math.nan]})
    folded = combine(counts, {"svc": ["a", "b"]})
    assert folded.values == {"svc": 150}
    assert folded.series["svc"].tolist()[:2] == [2, 2] and math.isnan(folded.series["svc"].iloc[2])
    latency = _reading(Measure.LATENCY, {"a": 0.2, "b": 0.5}, {"a": [0.1, 0.4, 0.2],
                                                                 "b": [0.3, 0.2, math.nan]})
    folded = combine(latency, {"svc": ["a", "b"]})
    assert folded.values == {"svc": 0.5}
    assert folded.series["svc"].tolist() == [0.3, 0.4, 0.2]


def test_ratios_are_weighted_by_traffic() -> None:
    # a: 1000 requests at 1% errors; b: 9000 at 0.1%: together 19 / 10000.
    ratios = _reading(Measure.ERROR_RATIO, {"a": 0.01, "b": 0.001},
                      {"a": [0.01, 0.02, 0.0], "b": [0.001, math.nan, 0.0]},
                      traffic={"a": 1000, "b": 9000},
                      traffic_series={"a": [1.0, 1.0, 1.0], "b": [9.0, 0.0, 9.0]})
    folded = combine(ratios, {"svc": ["a", "b"]})
    assert folded.values["svc"] == pytest.approx(19 / 10000)
    assert folded.series["svc"].tolist() == pytest.approx([(0.01 + 0.009) / 10, 0.02, 0.0])
    assert folded.traffic == {"svc": 10000}


# ---- formats and tables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(1234.56, "$1,235"), (12.345, "$12.35"), (0.004237, "$0.0042"), (0, "$0.00"),
     (-5.5, "-$5.50")],
)
def test_money(value: float, text: str) -> None:
    assert format_money(value) == text


def test_money_in_other_currencies_and_counts_shares_changes() -> None:
    assert format_money(12.5, "EUR") == "€12.50"
    assert format_money(12.5, "CHF") == "12.50 CHF"
    assert format_count(1234567.4) == "1,234,567"
    assert format_count(1, "request") == "1 request" and format_count(2, "error") == "2 errors"
    assert format_share(0.634) == "63%" and format_share(0.004) == "0.4%"
    assert format_change(0.12) == "up 12%" and format_change(-0.62) == "down 62%"
    assert format_change(0.001) == "unchanged" and format_change(None) == "n/a"
    assert format_change(14.0) == "up 15x"


def test_table_rows_must_match_the_headers() -> None:
    with pytest.raises(ValueError, match="cells"):
        Table(headers=("A", "B"), rows=(("1",),))
    with pytest.raises(ValueError, match="numeric"):
        Table(headers=("A",), numeric=(3,))


# ---- windows ---------------------------------------------------------------------------------


def test_whole_and_series_windows() -> None:
    end = datetime(2026, 11, 23, 12, 0, 0, 700_000, tzinfo=UTC)
    start = end - timedelta(hours=24)
    whole = whole_window(start, end)
    assert whole.end == end.replace(microsecond=0)
    assert whole.lookback == timedelta(hours=24)
    assert series_step(timedelta(hours=24)) == timedelta(minutes=6)
    assert series_step(timedelta(minutes=15)) == timedelta(minutes=2)  # a rate needs 2 samples
    grid = series_window(start, end)
    assert grid.step == grid.lookback == timedelta(minutes=6)
    assert grid.start - grid.step >= start - timedelta(seconds=1)  # first point inside
    assert (grid.end - grid.start) / grid.step + 1 == 240
    # A window of another span on the same step: the points compare one to one.
    other = series_window(start - timedelta(days=1), start, grid.step)
    assert other.step == grid.step


def test_windows_across_a_dst_change_use_elapsed_time() -> None:
    from zoneinfo import ZoneInfo

    from bot.ask import timerange
    from bot.ask.series import onto

    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 3, 30, 12, 0, tzinfo=berlin)  # clocks went forward on Sun 29 Mar
    window = timerange.last(timedelta(hours=48), now, berlin)
    assert window.end - window.start == timedelta(hours=49)  # wall-clock: the trap
    assert whole_window(window.start, window.end).lookback == timedelta(hours=48)
    grid = series_window(window.start, window.end)
    assert (grid.end - grid.start) / grid.step + 1 == 240
    # A day earlier, overlaid at the same local clock time: moved by 23 elapsed hours.
    today = timerange.today(now, berlin)
    assert today is not None
    before = timerange.shifted(today, timerange.Shift(delta=timedelta(days=1), label="a day"))
    index = pd.DatetimeIndex([before.end.astimezone(UTC)])
    moved = onto(pd.Series([1.0], index=index), today, before)
    assert moved is not None
    assert moved.index[0].tz_convert(berlin).hour == today.end.hour


def test_statistic_names() -> None:
    from bot.ask.words import measure_name

    assert measure_name(Measure.LATENCY, Statistic.P99) == "p99"
    assert measure_name(Measure.LATENCY, Statistic.AVG) == "average latency"
    assert measure_name(Measure.THROUGHPUT, Statistic.MAX) == "peak throughput"
    assert measure_name(Measure.ERROR_COUNT, None) == "error count"
