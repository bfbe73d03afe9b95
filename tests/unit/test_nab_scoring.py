"""NAB's scoring rules on small cases worked out by hand from the published formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.analytics.nab_scoring import (
    NO_DETECTION,
    PROFILES,
    LabelledFile,
    detection_events,
    event_counts,
    leave_one_category_out,
    normalise,
    probation_rows,
    scaled_sigmoid,
    score_file,
    summarise_events,
    threshold_curve,
    window_precision,
    window_rows,
)

STANDARD = PROFILES["standard"]
# 100 rows: rows 0-14 are probationary; one window of 10 rows, 50..59.
FILE = LabelledFile(name="f.csv", n_rows=100, windows=((50, 59),))


def sigmoid_by_hand(position: float) -> float:
    """NAB's scaledSigmoid, written out independently: 2 / (1 + e^(5x)) - 1, and -1 from 3 on."""
    return -1.0 if position >= 3 else 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def detections(*rows: int, n: int = 100) -> np.ndarray:
    scores = np.zeros(n)
    scores[list(rows)] = 1.0
    return scores


def raw(scores: np.ndarray, file: LabelledFile = FILE, profile: str = "standard") -> float:
    return score_file(file, scores, PROFILES[profile], threshold=0.5).raw


def test_scaled_sigmoid_matches_the_whitepaper_values() -> None:
    positions = np.array([-1.0, -0.5, 0.0, 1.0, 2.99, 3.0, 10.0])
    expected = [sigmoid_by_hand(p) for p in positions]
    np.testing.assert_allclose(scaled_sigmoid(positions), expected)
    assert scaled_sigmoid(np.array(-1.0)) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(np.array(0.0)) == 0.0


def test_probation_is_15_percent_capped_at_750_rows() -> None:
    assert probation_rows(100) == 15
    assert probation_rows(4032) == 604
    assert probation_rows(22695) == 750


def test_a_perfect_detector_scores_100_and_the_null_detector_0() -> None:
    files = [FILE, LabelledFile(name="g.csv", n_rows=200, windows=((100, 119), (150, 169)))]
    perfect = [detections(50), detections(100, 150, n=200)]
    null = [np.zeros(100), np.zeros(200)]
    for profile in PROFILES.values():
        best = threshold_curve(files, perfect, profile)
        assert best.normalised(best.best()[1]) == pytest.approx(100.0)
        assert best.null == -3 * profile.fn and best.perfect == 3 * profile.tp
        nothing = threshold_curve(files, null, profile)
        assert nothing.best() == (NO_DETECTION, nothing.null)
        assert nothing.normalised(nothing.best()[1]) == 0.0


def test_the_first_row_of_a_window_earns_the_full_weight_and_later_rows_less() -> None:
    max_tp = sigmoid_by_hand(-1.0)
    assert raw(detections(50)) == pytest.approx(1.0)
    # Row 55 of 50..59 sits at -(59 - 55 + 1) / 10 = -0.5.
    assert raw(detections(55)) == pytest.approx(sigmoid_by_hand(-0.5) / max_tp)
    assert raw(detections(59)) == pytest.approx(sigmoid_by_hand(-0.1) / max_tp)
    assert raw(detections(50)) > raw(detections(55)) > raw(detections(59)) > 0


def test_only_the_first_detection_in_a_window_counts() -> None:
    assert raw(detections(52, 53, 58)) == pytest.approx(raw(detections(52)))


def test_false_positives_cost_more_the_further_they_are_from_the_window_before() -> None:
    missed = -STANDARD.fn
    # Before any window: a full -A_FP.
    assert raw(detections(20)) == pytest.approx(missed - STANDARD.fp)
    # One row after the window's end: position (60 - 59) / (10 - 1).
    assert raw(detections(60)) == pytest.approx(missed + STANDARD.fp * sigmoid_by_hand(1 / 9))
    # Three widths and more after it: -A_FP again.
    assert raw(detections(95)) == pytest.approx(missed - STANDARD.fp)
    assert raw(detections(20)) < raw(detections(70)) < raw(detections(60)) < missed
    # Each false positive counts, unlike detections inside a window.
    assert raw(detections(20, 21)) == pytest.approx(missed - 2 * STANDARD.fp)


def test_a_single_false_positive_normalises_below_zero() -> None:
    curve = threshold_curve([FILE], [detections(20)], STANDARD)
    assert curve.best() == (NO_DETECTION, -1.0)  # staying silent beats the false alarm
    at_one = score_file(FILE, detections(20), STANDARD, 1.0)
    assert normalise(at_one.raw, curve.null, curve.perfect) == pytest.approx(
        100 * (-1.0 - STANDARD.fp + 1.0) / 2.0
    )


def test_profiles_weigh_misses_and_false_alarms_differently() -> None:
    assert raw(detections(20), profile="reward_low_FP") == pytest.approx(-1.0 - 0.22)
    assert raw(np.zeros(100), profile="reward_low_FN") == pytest.approx(-2.0)


def test_probationary_rows_are_never_scored() -> None:
    assert raw(detections(3)) == pytest.approx(-1.0)  # the detection is ignored, the miss is not
    early = LabelledFile(name="e.csv", n_rows=100, windows=((5, 10), (50, 59)))
    curve = threshold_curve([early], [np.zeros(100)], STANDARD)
    assert curve.null == -1.0  # the probationary window cannot be missed...
    assert curve.perfect == 2.0  # ...but NAB's perfect score still counts it


def test_the_sweep_equals_scoring_every_threshold_and_keeps_the_highest_on_ties() -> None:
    rng = np.random.default_rng(0)
    files = [FILE, LabelledFile(name="g.csv", n_rows=300, windows=((100, 129), (200, 229)))]
    scores = [np.round(rng.random(f.n_rows), 2) for f in files]
    scores[0][50:60] = 0.995  # one tie group of ten rows
    curve = threshold_curve(files, scores, STANDARD)
    assert curve.thresholds[0] == NO_DETECTION
    assert (np.diff(curve.thresholds[1:]) < 0).all()
    for threshold, total in zip(curve.thresholds[1:], curve.raw[1:], strict=True):
        by_file = sum(
            score_file(f, s, STANDARD, threshold).raw for f, s in zip(files, scores, strict=True)
        )
        assert total == pytest.approx(by_file)
    best_threshold, best_raw = curve.best()
    assert best_raw == curve.raw.max()
    assert best_threshold == curve.thresholds[curve.raw == best_raw].max()


def test_window_timestamps_become_inclusive_rows() -> None:
    ts = np.datetime64("2024-01-01T00:00") + np.arange(10) * np.timedelta64(5, "m")
    windows = [
        (np.datetime64("2024-01-01T00:10"), np.datetime64("2024-01-01T00:20")),
        (np.datetime64("2024-01-01T00:31"), np.datetime64("2024-01-01T00:34")),  # between rows
    ]
    assert window_rows(ts, windows) == [(2, 4)]


def test_bad_labels_are_refused_with_the_file_named() -> None:
    with pytest.raises(ValueError, match=r"f\.csv: window rows 90\.\.120 outside 0\.\.99"):
        LabelledFile(name="f.csv", n_rows=100, windows=((90, 120),))
    with pytest.raises(ValueError, match="overlap"):
        LabelledFile(name="f.csv", n_rows=100, windows=((10, 20), (15, 30)))
    with pytest.raises(ValueError, match=r"f\.csv: 99 scores for 100 rows"):
        score_file(FILE, np.zeros(99), STANDARD, 0.5)


def test_alarms_are_runs_of_detections() -> None:
    assert detection_events(np.array([0, 1, 1, 0, 1, 0, 0, 1], dtype=bool)) == [
        (1, 2),
        (4, 4),
        (7, 7),
    ]
    assert detection_events(np.zeros(3, dtype=bool)) == []


def test_event_counts_measure_recall_precision_and_delay() -> None:
    ts = np.datetime64("2024-01-01T00:00") + np.arange(100) * np.timedelta64(5, "m")
    scores = detections(10, 20, 21, 53, 54, 80)  # row 10 is probationary
    counts = event_counts(FILE, scores, 0.5, ts, anomaly_rows=[55])
    assert (counts.windows, counts.detected_windows) == (1, 1)
    assert (counts.events, counts.true_events) == (3, 1)
    assert counts.delays_rows == [-2] and counts.delays_seconds == [-600.0]
    assert counts.scored_days == pytest.approx((99 - 15) * 5 / 1440)


def test_precision_is_per_window_not_per_run() -> None:
    """Window 50..59 found by three separate runs (50, 53, 57), one false alarm run at 80:
    per window 1 ÷ (1 + 1) = 0.5; per run it would be 3 ÷ 4 = 0.75."""
    ts = np.datetime64("2024-01-01T00:00") + np.arange(100) * np.timedelta64(5, "m")
    counts = event_counts(FILE, detections(50, 53, 57, 80), 0.5, ts, anomaly_rows=[50])
    summary = summarise_events([counts])
    assert summary.window_precision == pytest.approx(0.5)
    assert summary.event_precision == pytest.approx(0.75)
    assert summary.window_recall == 1.0
    assert summary.median_delay_rows == 0.0
    assert summary.false_alarms_per_1000_series_days == pytest.approx(
        1000 / counts.scored_days)


def test_precision_per_window_over_files_counts_each_window_once() -> None:
    """Two files: one window found by one run, one window missed, two false alarm runs:
    1 ÷ (1 + 2). A missed window lowers recall, not precision."""
    g = LabelledFile(name="g.csv", n_rows=100, windows=((30, 39),))
    ts = np.datetime64("2024-01-01T00:00") + np.arange(100) * np.timedelta64(5, "m")
    counts = [event_counts(FILE, detections(51, 52, 70), 0.5, ts, [51]),
              event_counts(g, detections(90), 0.5, ts, [30])]
    summary = summarise_events(counts)
    assert summary.window_precision == pytest.approx(1 / 3)
    assert summary.window_recall == 0.5
    assert window_precision(0, 0) == 0.0
    assert window_precision(4, 0) == 1.0


def _toy_corpus(seed: int) -> tuple[list[LabelledFile], list[str], dict[str, list[np.ndarray]]]:
    """Three categories of two files; configuration "sharp" fires in the windows, "noisy" off."""
    rng = np.random.default_rng(seed)
    files, categories = [], []
    for category in "abc":
        for k in range(2):
            files.append(LabelledFile(name=f"{category}/{k}.csv", n_rows=100, windows=((50, 59),)))
            categories.append(category)
    sharp = [rng.uniform(0, 0.5, 100) for _ in files]
    for s in sharp:
        s[52] = 0.9
    noisy = [rng.uniform(0, 1.0, 100) for _ in files]
    return files, categories, {"sharp": sharp, "noisy": noisy}


@pytest.mark.parametrize("seed", range(5))
def test_leave_one_category_out_never_lets_a_category_choose_its_own_configuration(
    seed: int,
) -> None:
    files, categories, by_config = _toy_corpus(seed)
    score, picks = leave_one_category_out(files, categories, by_config, STANDARD)
    assert [p.configuration for p in picks] == ["sharp"] * 3
    full = threshold_curve(files, by_config["sharp"], STANDARD)
    assert score == pytest.approx(full.normalised(sum(p.raw for p in picks)))
    for held_out in "abc":
        # Make "noisy" perfect and "sharp" fire on every row of the held-out category only.
        changed = {name: [s.copy() for s in scores] for name, scores in by_config.items()}
        for i, category in enumerate(categories):
            if category == held_out:
                changed["noisy"][i] = detections(50)
                changed["sharp"][i] = np.full(100, 0.95)
        _, new_picks = leave_one_category_out(files, categories, changed, STANDARD)
        before = {p.category: p for p in picks}
        after = {p.category: p for p in new_picks}
        # Its own pick is what the other categories chose, unchanged; only its score moves.
        mine = before[held_out]
        assert (after[held_out].configuration, after[held_out].threshold) == (
            mine.configuration,
            mine.threshold,
        )
        assert after[held_out].raw < before[held_out].raw
        # Asked alone, the held-out category would now choose "noisy": a leak would show.
        rows = [i for i, c in enumerate(categories) if c == held_out]
        alone = {
            name: threshold_curve([files[i] for i in rows], [s[i] for i in rows], STANDARD)
            for name, s in changed.items()
        }
        assert alone["noisy"].best()[1] > alone["sharp"].best()[1]


def test_leave_one_category_out_rejects_mismatched_input() -> None:
    files, categories, by_config = _toy_corpus(0)
    with pytest.raises(ValueError, match="one category per file"):
        leave_one_category_out(files, categories[:-1], by_config, STANDARD)
    with pytest.raises(ValueError, match="no configuration"):
        leave_one_category_out(files, categories, {}, STANDARD)
