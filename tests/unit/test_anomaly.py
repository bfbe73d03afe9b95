"""The anomaly detector: causal, finds spikes, steps and broken daily routines, quiet on noise,
robust to gaps, and its batch, per-series and streaming forms agree."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from bot.analytics.anomaly.batch import score_batch, score_series
from bot.analytics.anomaly.config import (
    DEFAULT_CONFIG,
    SIGNAL_DIRECTIONS,
    DetectorConfig,
    Direction,
)
from bot.analytics.anomaly.slots import daily_slots
from bot.analytics.anomaly.streaming import DetectorState, update
from bot.metrics.base import Signal

# Scores at or above this count as an alarm in these tests. On Gaussian noise the detector
# gives such scores about 4 times per 1,000,000 rows, so a few thousand rows of noise stay quiet.
# (A new record of the noise, the range novelty, scores up to ~0.68: 65 rows per 100,000 reach
# 0.62.)
ALARM = 0.70
NO_NOVELTY = DetectorConfig(novelty_margin=None)
FIVE_MINUTES = np.timedelta64(5, "m")


def noise(seed: int, shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
    return np.random.default_rng(seed).normal(100.0, 1.0, shape)


def timestamps(n: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64("2024-03-04T00:00") + np.arange(n) * FIVE_MINUTES


def stream(state: DetectorState, values: npt.NDArray[np.float64], slots=None):  # type: ignore[no-untyped-def]
    columns = [
        update(state, values[:, t], None if slots is None else slots[:, t])
        for t in range(values.shape[1])
    ]
    return np.stack(columns, axis=1)


def test_scores_up_to_a_row_ignore_every_later_row() -> None:
    n, cut = 1500, 1000
    rng = np.random.default_rng(7)
    values = np.cumsum(rng.normal(0, 1, n)) + rng.normal(0, 3, n)
    changed = values.copy()
    changed[cut:] = rng.normal(0, 50, n - cut)  # a wild future
    ts = timestamps(n)  # timestamps bring in the daily profile too
    before = score_series(values, ts)
    after = score_series(changed, ts)
    np.testing.assert_allclose(after[:cut], before[:cut], rtol=0, atol=1e-9)
    assert not np.allclose(after[cut:], before[cut:])  # the future did change something


def test_a_spike_alarms_at_once_and_pure_noise_never_alarms() -> None:
    clean = noise(1, (6, 1500))
    spiked = clean.copy()
    spiked[:, 1200] += 15.0  # 15 sigma
    quiet, loud = score_batch(clean), score_batch(spiked)
    assert quiet.max() < ALARM
    assert (loud[:, 1200] >= ALARM).all()
    np.testing.assert_array_equal(loud[:, :1200], quiet[:, :1200])


def test_a_step_alarms_within_a_few_rows_then_fades_as_the_new_level_becomes_normal() -> None:
    values = noise(2, (6, 1500))
    values[:, 1000:] += 8.0
    scores = score_batch(values)
    assert scores[:, :1000].max() < ALARM
    first = np.argmax(scores[:, 1000:] >= ALARM, axis=1)
    assert (scores[:, 1000:] >= ALARM).any(axis=1).all()
    assert first.max() <= 3
    assert scores[:, 1300:].max() < ALARM


def test_a_small_sustained_shift_is_found_by_the_window_test() -> None:
    values = noise(3, (6, 2000))
    values[:, 1500:] += 1.5  # invisible in any single point
    scores = score_batch(values)
    assert scores[:, :1500].max() < ALARM
    found = scores[:, 1500:1600] >= 0.5
    assert found.any(axis=1).all()


def test_direction_keeps_only_the_deviations_that_matter() -> None:
    values = noise(4, (3, 1200))
    values[:, 900] -= 20.0  # a fall, then straight back
    values[:, 1100] += 20.0  # a rise, then straight back
    up, down, both = score_batch(values, directions=["up", "down", "both"])
    assert up[900] < 0.3 and up[901] < 0.3 and up[1100] >= ALARM  # a recovery is no rise
    assert down[900] >= ALARM and down[1100] < 0.3 and down[1101] < 0.3
    assert both[900] >= ALARM
    # The second spike still stands out, if less: the first taught the tail fit that spikes happen.
    assert 0.5 <= both[1100] < both[900]


def test_every_signal_has_the_direction_that_hurts() -> None:
    assert set(SIGNAL_DIRECTIONS) == set(Signal)
    assert SIGNAL_DIRECTIONS[Signal.LATENCY] is Direction.UP
    assert SIGNAL_DIRECTIONS[Signal.THROUGHPUT] is Direction.DOWN


def test_a_gap_neither_crashes_nor_alarms_nor_changes_what_came_before() -> None:
    values = noise(5, (1, 2000))[0]
    gapped = values.copy()
    gapped[1000:1300] = np.nan
    gapped[1400] = np.inf  # a non-finite value is a gap of one row
    plain, with_gap = score_series(values), score_series(gapped)
    assert np.isfinite(with_gap).all()
    assert (with_gap[1000:1300] == 0).all() and with_gap[1400] == 0
    assert with_gap[1300:].max() < ALARM
    np.testing.assert_array_equal(with_gap[:1000], plain[:1000])


def test_a_constant_series_scores_zero_until_it_changes() -> None:
    flat = np.full(600, 42.0)
    assert (score_series(flat) == 0).all()
    moved = flat.copy()
    moved[500:] = 42.5
    scores = score_series(moved)
    assert (scores[:500] == 0).all()
    assert scores[500] >= ALARM


@pytest.mark.parametrize("length", [0, 1, 2, 10, DEFAULT_CONFIG.warmup])
def test_short_series_score_zero_without_error(length: int) -> None:
    scores = score_series(np.arange(length, dtype=float), timestamps(length))
    assert scores.shape == (length,)
    assert (scores == 0).all()
    assert score_batch(np.zeros((0, length))).shape == (0, length)


def test_batch_scores_each_series_as_if_alone() -> None:
    rng = np.random.default_rng(8)
    lengths = [900, 1400, 1200]
    series = [rng.lognormal(3, 0.5, n) for n in lengths]
    series[0][700] *= 20
    padded = np.full((3, max(lengths)), np.nan)
    for i, s in enumerate(series):
        padded[i, : len(s)] = s
    batch = score_batch(padded, directions=["up", "down", "both"])
    for i, (s, direction) in enumerate(zip(series, ["up", "down", "both"], strict=True)):
        np.testing.assert_allclose(batch[i, : len(s)], score_series(s, direction=direction))
    assert batch[0, 700] >= ALARM


def test_batch_with_daily_slots_matches_series_with_timestamps() -> None:
    n = 288 * 4
    ts = timestamps(n)
    rng = np.random.default_rng(9)
    daily = 50 + 20 * np.sin(2 * np.pi * np.arange(n) / 288)
    values = daily + rng.normal(0, 1, (2, n))
    slots = daily_slots(ts)
    assert slots is not None
    batch = score_batch(values, slots=np.tile(slots.slots, (2, 1)), slots_per_day=slots.count)
    for i in range(2):
        np.testing.assert_allclose(batch[i], score_series(values[i], ts))


def test_streaming_scores_as_the_batch_does() -> None:
    n = 288 * 3
    rng = np.random.default_rng(10)
    values = 50 + 20 * np.sin(2 * np.pi * np.arange(n) / 288) + rng.normal(0, 1, (4, n))
    values[0, 400:460] = np.nan
    values[1, 600:] += 6.0
    values[2, 700] += 30.0
    values[3, 300:] = 7.0
    directions = ["up", "down", "both", "both"]
    slots = np.tile(np.arange(n) % 288, (4, 1))
    batch = score_batch(values, directions=directions, slots=slots, slots_per_day=288)
    state = DetectorState(4, directions=directions, slots_per_day=288)
    np.testing.assert_allclose(stream(state, values, slots), batch, rtol=0, atol=1e-9)
    shared = DetectorState(4, directions=directions, slots_per_day=288)
    together = [update(shared, values[:, t], t % 288) for t in range(n)]  # one slot for all
    np.testing.assert_allclose(np.stack(together, axis=1), batch, rtol=0, atol=1e-9)
    plain = DetectorState(4, directions=directions)
    np.testing.assert_allclose(
        stream(plain, values), score_batch(values, directions=directions), rtol=0, atol=1e-9
    )
    assert batch[2, 700] >= ALARM  # the comparison covered an alarm, not only quiet rows


def test_a_record_spike_in_a_spiky_series_is_flagged_by_the_range_novelty() -> None:
    rng = np.random.default_rng(12)
    values = rng.normal(100.0, 1.0, (6, 3000))
    for row in values:  # 30 spikes of 8-20 sigma: the tail fit learns that spikes happen
        row[rng.choice(np.arange(100, 2500), 30, replace=False)] += rng.uniform(8, 20, 30)
    values[:, 2700] += 30.0  # beyond every earlier value
    with_novelty = score_batch(values)
    assert (with_novelty[:, 2700] >= 0.6).all()
    assert (score_batch(values, NO_NOVELTY)[:, 2700] < 0.5).all()  # the tail fit shrugs it off
    # The noise allowance spares small records but not this one; streaming agrees.
    spare = DetectorConfig(novelty_sigmas=1.0)
    batch = score_batch(values, spare)
    assert (batch[:, 2700] >= 0.6).all()
    np.testing.assert_allclose(stream(DetectorState(6, spare), values), batch, rtol=0, atol=1e-9)


def test_a_missing_daily_peak_is_found_only_with_the_time_of_day() -> None:
    days, per_day = 10, 288
    n = days * per_day
    rng = np.random.default_rng(11)
    busy = (np.arange(n) % per_day >= 96) & (np.arange(n) % per_day < 192)
    values = np.where(busy, 80.0, 20.0) + rng.normal(0, 2, n)
    day8 = slice(8 * per_day, 9 * per_day)
    quiet_day8 = values.copy()
    quiet_day8[day8] = 20.0 + rng.normal(0, 2, per_day)
    ts = timestamps(n)
    # The profile alone: a new record of the noise, days in, would add its own flag.
    routine = score_series(values, ts, NO_NOVELTY)
    assert routine[2 * per_day :].max() < 0.5  # the daily jumps themselves are learnt
    broken = score_series(quiet_day8, ts, NO_NOVELTY)
    hits = np.flatnonzero(broken[day8] >= 0.5)
    assert hits.size and 96 <= hits[0] <= 100  # as soon as the peak fails to come
    # Without timestamps it looks normal.
    assert score_series(quiet_day8, config=NO_NOVELTY)[day8].max() < 0.5


def test_daily_slots_follow_the_step_and_skip_coarse_series() -> None:
    five = daily_slots(timestamps(600))
    assert five is not None and five.count == 288
    assert five.slots[0] == 0 and five.slots[12] == 12 and five.slots[288] == 0
    hourly = daily_slots(np.datetime64("2024-03-04T10:00") + np.arange(50) * np.timedelta64(1, "h"))
    assert hourly is not None and hourly.count == 24 and hourly.slots[0] == 10
    seconds = daily_slots(
        np.datetime64("2024-03-04T00:00:00") + np.arange(99) * np.timedelta64(1, "s")
    )
    assert seconds is not None and seconds.count == 1440  # at most a slot a minute
    assert daily_slots(np.datetime64("2024-03-04") + np.arange(9) * np.timedelta64(6, "h")) is None
    assert daily_slots(timestamps(1)) is None


def test_bad_input_gets_a_clear_error() -> None:
    with pytest.raises(ValueError, match="2-D"):
        score_batch(np.zeros(5))
    with pytest.raises(ValueError, match="1-D"):
        score_series(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="3 timestamps for 5 values"):
        score_series(np.zeros(5), timestamps(3))
    with pytest.raises(ValueError, match="unknown direction 'sideways'"):
        score_batch(np.zeros((1, 5)), directions=["sideways"])
    with pytest.raises(ValueError, match="2 directions given for 1 series"):
        score_batch(np.zeros((1, 5)), directions=["up", "up"])
    with pytest.raises(ValueError, match=r"slots must lie in 0\.\.3"):
        score_batch(np.zeros((1, 5)), slots=np.full((1, 5), 4), slots_per_day=4)
    state = DetectorState(2, slots_per_day=4)
    with pytest.raises(ValueError, match="3 values for 2 series"):
        update(state, [1.0, 2.0, 3.0], [0, 0])
    with pytest.raises(ValueError, match="give each value's slot"):
        update(state, [1.0, 2.0])
    with pytest.raises(ValidationError, match="level_alpha"):
        DetectorConfig(level_alpha=1.5)
