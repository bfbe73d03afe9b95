"""The bot's alerting decision on NAB series: the grid, causality, and the score's meaning."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from bot.analytics.anomaly.batch import score_series
from bot.analytics.findings.decision import decide
from bot.analytics.findings.profiles import NAB_Z, nab_profile
from bot.analytics.nab_alerting import alert_scores, gate, to_batch, to_grid

STEP = np.timedelta64(5, "m")
START = np.datetime64("2024-03-04T00:00")


def seasonal(days: int = 6, seed: int = 0) -> tuple[npt.NDArray[np.float64], npt.NDArray]:
    """5-minute series: a daily cycle with noise, a spike of 8 points on the last day."""
    n = days * 288
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 100 + 30 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 2, n)
    values[n - 150 : n - 142] += 80
    return values, START + t * STEP


def test_the_grid_places_rows_by_time_with_gaps_and_shared_cells() -> None:
    minutes = np.array([0, 5, 10, 12, 30, 35])  # 12 shares 10's cell; 15-25 missing
    ts = START + minutes * np.timedelta64(1, "m")
    grid = to_grid(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), ts)
    assert grid.cell.tolist() == [0, 1, 2, 2, 6, 7]
    np.testing.assert_array_equal(grid.values, [1, 2, 4, np.nan, np.nan, np.nan, 5, 6])
    assert grid.own.tolist() == [True, True, False, True, True, True]
    assert grid.times[0] == START and (grid.times[1] - grid.times[0]).seconds == 300


def test_a_row_gets_its_cell_decision_or_the_previous_one_if_its_cell_is_not_done() -> None:
    values, ts = seasonal()
    ts = ts.copy()
    ts[-146] = ts[-147] + np.timedelta64(1, "m")  # rows -147 and -146 share a cell
    grid = to_grid(values, ts)
    d = decide(to_batch(grid), nab_profile(NAB_Z), days_from_start=True,
               surprise=np.ones((2, grid.values.size)))
    cells = d.fire.any(axis=0)
    rows = gate(values, ts, NAB_Z).fired
    assert rows.shape == values.shape
    for row in range(len(values)):
        c = grid.cell[row]
        want = cells[c] if grid.own[row] else (cells[c - 1] if c else False)
        assert rows[row] == want
    # Row -147 is not its cell's last row: it got the cell before it.
    assert not grid.own[-147] and grid.own[-146]


@pytest.mark.parametrize("z", [None, NAB_Z])
def test_truncating_the_series_does_not_change_earlier_scores(z: float | None) -> None:
    values, ts = seasonal()
    full = alert_scores(values, ts, score_series(values, ts), z)
    assert full[-150:-142].max() > 0.7  # the spike fires ...
    assert full[288 : 3 * 288].max() < 0.5  # ... and the quiet days before it do not
    for cut in (3 * 288 + 17, 4 * 288, 5 * 288 + 100, len(values) - 146):
        short = gate(values[:cut], ts[:cut], z)  # decide's part: exactly causal
        np.testing.assert_array_equal(short.open, gate(values, ts, z).open[:cut])
        np.testing.assert_array_equal(short.fired, gate(values, ts, z).fired[:cut])
        # The scorer's part is causal to rounding (its batch sums run in blocks).
        part = alert_scores(values[:cut], ts[:cut], score_series(values[:cut], ts[:cut]), z)
        np.testing.assert_allclose(part, full[:cut], rtol=1e-9, atol=1e-12)


def test_decide_counting_days_from_the_start_is_causal() -> None:
    """The flag the replay needs: with the spread's days counted back from the last column,
    a shorter history places the days differently and changes earlier decisions."""
    values, ts = seasonal(seed=3)
    batch = to_batch(to_grid(values, ts))
    config = nab_profile(3.0)
    full = decide(batch, config, days_from_start=True)
    cut = 4 * 288 + 100
    short = to_batch(to_grid(values[:cut], ts[:cut]))
    part = decide(short, config, days_from_start=True)
    np.testing.assert_array_equal(part.fire, full.fire[:, :cut])
    np.testing.assert_array_equal(part.spread, full.spread[:, :cut])
    live = decide(short, config)  # days end at the last column: spreads differ
    assert not np.array_equal(live.spread, full.spread[:, :cut], equal_nan=True)


@pytest.mark.parametrize("alarm", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("z", [None, NAB_Z])
def test_the_score_at_a_threshold_is_where_decide_fires_with_that_surprise_alarm(
    alarm: float, z: float | None
) -> None:
    values, ts = seasonal(seed=1)
    values[1400:1410] -= 60  # a drop: the down direction fires too
    surprise = score_series(values, ts)
    batch = to_batch(to_grid(values, ts))  # a regular series: row i is cell i
    config = nab_profile(np.inf if z is None else z, surprise_alarm=alarm)
    d = decide(batch, config, days_from_start=True, surprise=np.vstack([surprise, surprise]))
    scores = alert_scores(values, ts, surprise, z)
    np.testing.assert_array_equal(scores >= alarm, d.fire.any(axis=0))
    assert d.fire[1, 1400:1410].any()  # the drop, seen by the series that hurts when it falls
