"""The Numenta Anomaly Benchmark's scoring rules, pure and vectorised.

Follows numenta/NAB v1.1 (``nab/sweeper.py``, ``nab/optimizer.py``, ``runner.normalize``):

- the first ``min(floor(0.15 × rows), 750)`` rows of a file are probationary and not scored;
- a row inside a window of width ``W`` whose last row is ``e`` weighs
  ``A_TP × scaledSigmoid(-(e - i + 1) / W) / scaledSigmoid(-1)``: 1.0 on the window's first
  row, falling towards 0 at its end; a window is worth the best weight among its detections
  (that is, its first detection), or ``-A_FN`` when it has none;
- a detection outside every window weighs ``A_FP × scaledSigmoid(d / (W_prev - 1))``, ``d``
  rows after the end of the preceding window (``-A_FP`` when none precedes it);
- a row is a detection when its anomaly score is at least the threshold; one threshold serves
  the whole corpus and is found by sweeping every distinct score;
- the normalised score is ``100 × (raw - null) / (perfect - null)`` where ``perfect`` is the
  number of labelled windows × ``A_TP`` and ``null`` the raw score of a detector that never
  fires.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PROBATION_PERCENT = 0.15
PROBATION_MAX_ROWS = 750  # NAB: probationPercent × 5000

# Above every anomaly score: the threshold at which nothing is detected (NAB uses 1.1).
NO_DETECTION = math.inf


class Profile(BaseModel):
    """A NAB application profile: the weights of true/false positives and negatives."""

    model_config = ConfigDict(frozen=True)

    name: str
    tp: float
    fp: float
    tn: float
    fn: float


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(name="standard", tp=1.0, fp=0.11, tn=1.0, fn=1.0),
        Profile(name="reward_low_FP", tp=1.0, fp=0.22, tn=1.0, fn=1.0),
        Profile(name="reward_low_FN", tp=1.0, fp=0.11, tn=1.0, fn=2.0),
    )
}


def scaled_sigmoid(position: FloatArray) -> FloatArray:
    """NAB's ``scaledSigmoid``: ~0.987 at -1 (window start), 0 at 0 (its end), -1 from 3 on."""
    pos = np.asarray(position, dtype=float)
    value = 2.0 / (1.0 + np.exp(5.0 * np.minimum(pos, 3.0))) - 1.0
    return np.where(pos >= 3.0, -1.0, value)


def probation_rows(n_rows: int) -> int:
    """Rows at the start of a file that are for learning only and never scored."""
    return min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_MAX_ROWS)


def window_rows(
    timestamps: npt.NDArray[np.datetime64], windows: Sequence[tuple[np.datetime64, np.datetime64]]
) -> list[tuple[int, int]]:
    """Windows given by their first and last timestamps, as inclusive row ranges.

    Windows that cover no row are dropped (NAB matches timestamps exactly; its labels always
    fall on rows, so the two agree on the real corpus).
    """
    rows: list[tuple[int, int]] = []
    for start, end in windows:
        first = int(np.searchsorted(timestamps, start, side="left"))
        last = int(np.searchsorted(timestamps, end, side="right")) - 1
        if first <= last:
            rows.append((first, last))
    return rows


@dataclass(frozen=True)
class LabelledFile:
    """One data file as the scorer sees it: its length and its windows (inclusive rows)."""

    name: str
    n_rows: int
    windows: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        previous_end = -1
        for first, last in self.windows:
            if not 0 <= first <= last < self.n_rows:
                raise ValueError(
                    f"{self.name}: window rows {first}..{last} outside 0..{self.n_rows - 1}"
                )
            if first <= previous_end:
                raise ValueError(f"{self.name}: windows overlap or are not in order")
            previous_end = last


@dataclass(frozen=True)
class RowWeights:
    """Per scorable row of one file: the window it falls in (-1: none) and its sweep weight."""

    rows: IntArray  # row numbers in the file (probationary rows left out)
    window: IntArray  # index of the window in the file, -1 outside every window
    weight: FloatArray  # TP weight inside a window, (negative) FP weight outside


def row_weights(file: LabelledFile, profile: Profile) -> RowWeights:
    """NAB's per-row sweep scores for ``file`` under ``profile``."""
    n = file.n_rows
    window = np.full(n, -1, dtype=np.int64)
    weight = np.full(n, -profile.fp)  # before any window: a full false positive
    max_tp = float(scaled_sigmoid(np.array(-1.0)))
    index = np.arange(n)
    for k, (first, last) in enumerate(file.windows):
        width = last - first + 1
        inside = index[first : last + 1]
        window[first : last + 1] = k
        weight[first : last + 1] = (
            scaled_sigmoid(-(last - inside + 1) / width) * profile.tp / max_tp
        )
        following_end = file.windows[k + 1][0] if k + 1 < len(file.windows) else n
        after = index[last + 1 : following_end]
        # NAB divides by (width - 1); a one-row window would divide by zero there.
        weight[last + 1 : following_end] = (
            scaled_sigmoid((after - last) / max(width - 1, 1)) * profile.fp
        )
    keep = index >= probation_rows(n)
    return RowWeights(rows=index[keep], window=window[keep], weight=weight[keep])


@dataclass(frozen=True)
class ThresholdCurve:
    """The corpus raw score at every candidate threshold, thresholds descending."""

    thresholds: FloatArray
    raw: FloatArray
    null: float  # raw score with nothing detected
    perfect: float  # raw score of a perfect detector

    def best(self) -> tuple[float, float]:
        """(threshold, raw score) that scores best; the highest threshold wins ties, as in NAB."""
        i = int(np.argmax(self.raw))
        return float(self.thresholds[i]), float(self.raw[i])

    def normalised(self, raw: float) -> float:
        return normalise(raw, self.null, self.perfect)


def normalise(raw: float, null: float, perfect: float) -> float:
    """NAB's final score: 0 for the null detector, 100 for a perfect one."""
    return 100.0 * (raw - null) / (perfect - null)


def _stack(
    files: Sequence[LabelledFile], scores: Sequence[FloatArray], profile: Profile
) -> tuple[FloatArray, IntArray, FloatArray, int]:
    """Concatenate the scorable rows of every file; windows get corpus-wide ids."""
    if len(files) != len(scores):
        raise ValueError("one score array per file is needed")
    all_scores, all_windows, all_weights = [], [], []
    offset = 0
    for file, file_scores in zip(files, scores, strict=True):
        if len(file_scores) != file.n_rows:
            raise ValueError(f"{file.name}: {len(file_scores)} scores for {file.n_rows} rows")
        w = row_weights(file, profile)
        s = np.asarray(file_scores, dtype=float)[w.rows]
        all_scores.append(np.nan_to_num(s, nan=-np.inf))  # a missing score never detects
        all_windows.append(np.where(w.window >= 0, w.window + offset, -1))
        all_weights.append(w.weight)
        offset += len(file.windows)
    return (
        np.concatenate(all_scores) if all_scores else np.zeros(0),
        np.concatenate(all_windows) if all_windows else np.zeros(0, dtype=np.int64),
        np.concatenate(all_weights) if all_weights else np.zeros(0),
        offset,
    )


def threshold_curve(
    files: Sequence[LabelledFile], scores: Sequence[FloatArray], profile: Profile
) -> ThresholdCurve:
    """Sweep every distinct score as a threshold over the corpus (NAB's optimiser)."""
    s, window, weight, n_windows = _stack(files, scores, profile)
    scored_windows = np.unique(window[window >= 0])
    null = -profile.fn * len(scored_windows)
    perfect = profile.tp * n_windows
    order = np.argsort(-s, kind="stable")
    s, window, weight = s[order], window[order], weight[order]

    # False positives add their (negative) weight as soon as the threshold reaches them.
    fp_gain = np.where(window < 0, weight, 0.0)
    # A window's value is the running best of its detections' weights, from -A_FN; only
    # improvements of that running best change the total.
    in_window = np.flatnonzero(window >= 0)
    tp_gain = np.zeros_like(s)
    if in_window.size:
        ids = window[in_window]
        by_window = np.lexsort((in_window, ids))  # grouped by window, in sweep order
        grouped_ids = ids[by_window]
        # Weights lie in (0, 1]; an offset of 4 per window keeps each window's cummax apart.
        lifted = weight[in_window][by_window] + 4.0 * grouped_ids
        running = np.maximum.accumulate(lifted) - 4.0 * grouped_ids
        first_of_window = np.r_[True, grouped_ids[1:] != grouped_ids[:-1]]
        previous = np.where(first_of_window, -profile.fn, np.r_[-profile.fn, running[:-1]])
        tp_gain[in_window[by_window]] = running - previous
    total = null + np.cumsum(fp_gain + tp_gain)
    # A threshold keeps every row scoring at least as much: read the total after each tie group.
    last_of_tie = np.r_[s[1:] != s[:-1], True] if s.size else np.zeros(0, dtype=bool)
    last_of_tie &= np.isfinite(s)
    return ThresholdCurve(
        thresholds=np.r_[NO_DETECTION, s[last_of_tie]],
        raw=np.r_[null, total[last_of_tie]],
        null=null,
        perfect=perfect,
    )


class FileScore(BaseModel):
    """One file's result at one threshold."""

    name: str
    raw: float
    windows: int  # scored windows (those not entirely probationary)
    detected: int  # windows with at least one detection
    false_positives: int  # detections outside every window
    first_detections: list[int | None]  # row of each scored window's first detection


def score_file(
    file: LabelledFile, scores: FloatArray, profile: Profile, threshold: float
) -> FileScore:
    """Score one file with the detections ``scores >= threshold`` (NAB's ``scoreDataSet``)."""
    if len(scores) != file.n_rows:
        raise ValueError(f"{file.name}: {len(scores)} scores for {file.n_rows} rows")
    w = row_weights(file, profile)
    detected = np.nan_to_num(np.asarray(scores, dtype=float)[w.rows], nan=-np.inf) >= threshold
    outside = detected & (w.window < 0)
    raw = float(w.weight[outside].sum())
    firsts: list[int | None] = []
    for k in np.unique(w.window[w.window >= 0]):
        hits = detected & (w.window == k)
        if hits.any():
            raw += float(w.weight[hits].max())
            firsts.append(int(w.rows[hits][0]))
        else:
            raw -= profile.fn
            firsts.append(None)
    return FileScore(
        name=file.name,
        raw=raw,
        windows=len(firsts),
        detected=sum(f is not None for f in firsts),
        false_positives=int(outside.sum()),
        first_detections=firsts,
    )


def detection_events(detected: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive detections, as inclusive (first, last) rows: one alarm each."""
    d = np.asarray(detected, dtype=bool)
    edges = np.diff(np.r_[0, d.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


class EventCounts(BaseModel):
    """Alarm-level view of one file at one threshold (probationary rows left out)."""

    windows: int
    detected_windows: int
    events: int  # runs of consecutive detections
    true_events: int  # runs touching a window
    delays_rows: list[int]  # per detected window: first detection minus the labelled anomaly row
    delays_seconds: list[float]
    scored_days: float


def event_counts(
    file: LabelledFile,
    scores: FloatArray,
    threshold: float,
    timestamps: npt.NDArray[np.datetime64],
    anomaly_rows: Sequence[int],
) -> EventCounts:
    """Count alarms, windows found and detection delays for one file at ``threshold``.

    ``anomaly_rows`` are the labelled anomaly points (NAB's ``combined_labels.json``); a
    window's delay is measured from the first of them inside it (from its start if none).
    """
    start = probation_rows(file.n_rows)
    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    detected = s >= threshold
    detected[:start] = False
    in_window = np.zeros(file.n_rows, dtype=bool)
    for first, last in file.windows:
        in_window[first : last + 1] = True
    events = detection_events(detected)
    true_events = sum(bool(in_window[a : b + 1].any()) for a, b in events)
    ts = np.asarray(timestamps).astype("datetime64[ms]")
    delays_rows: list[int] = []
    delays_seconds: list[float] = []
    windows = detected_windows = 0
    for first, last in file.windows:
        if last < start:
            continue
        windows += 1
        hits = np.flatnonzero(detected[first : last + 1])
        if hits.size == 0:
            continue
        detected_windows += 1
        labels = [r for r in anomaly_rows if first <= r <= last]
        origin = labels[0] if labels else first
        row = first + int(hits[0])
        delays_rows.append(row - origin)
        delays_seconds.append(float((ts[row] - ts[origin]) / np.timedelta64(1, "s")))
    span = (ts[-1] - ts[min(start, file.n_rows - 1)]) / np.timedelta64(1, "s") if file.n_rows else 0
    return EventCounts(
        windows=windows,
        detected_windows=detected_windows,
        events=len(events),
        true_events=true_events,
        delays_rows=delays_rows,
        delays_seconds=delays_seconds,
        scored_days=float(span) / 86_400,
    )


def window_precision(detected_windows: int, false_alarm_runs: int) -> float:
    """Detected windows ÷ (detected windows + false-alarm runs): a window found by many
    alarms counts once, so a detector cannot raise it by splitting one alarm into many (the
    precision per run can). 0 when there is neither."""
    total = detected_windows + false_alarm_runs
    return detected_windows / total if total else 0.0


class EventSummary(BaseModel):
    """Alarm-level figures over a corpus."""

    window_recall: float
    event_precision: float  # per run: runs touching a window ÷ runs
    window_precision: float  # per window: see ``window_precision``
    f1: float
    median_delay_rows: float | None
    median_delay_seconds: float | None
    false_alarms_per_1000_series_days: float


def summarise_events(counts: Sequence[EventCounts]) -> EventSummary:
    windows = sum(c.windows for c in counts)
    found = sum(c.detected_windows for c in counts)
    events = sum(c.events for c in counts)
    true_events = sum(c.true_events for c in counts)
    recall = found / windows if windows else 0.0
    precision = true_events / events if events else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rows = [d for c in counts for d in c.delays_rows]
    seconds = [d for c in counts for d in c.delays_seconds]
    days = sum(c.scored_days for c in counts)
    return EventSummary(
        window_recall=recall,
        event_precision=precision,
        window_precision=window_precision(found, events - true_events),
        f1=f1,
        median_delay_rows=float(np.median(rows)) if rows else None,
        median_delay_seconds=float(np.median(seconds)) if seconds else None,
        false_alarms_per_1000_series_days=1000 * (events - true_events) / days if days else 0.0,
    )


@dataclass(frozen=True)
class CategoryPick:
    """What leave-one-category-out chose for one category, and what it scored there."""

    category: str
    configuration: str  # picked on the other categories only
    threshold: float  # likewise
    raw: float  # the held-out category's raw score with that pick


def leave_one_category_out(
    files: Sequence[LabelledFile],
    categories: Sequence[str],
    scores_by_configuration: Mapping[str, Sequence[FloatArray]],
    profile: Profile,
) -> tuple[float, list[CategoryPick]]:
    """Configuration-level LOCO: per category, the configuration and threshold that score best
    on every other category, applied to it; returns the normalised total and the picks.

    The held-out category's scores are never read before its pick is made, so its figure is
    out of sample for both choices. Ties go to the configuration listed first.
    """
    if len(categories) != len(files):
        raise ValueError("one category per file is needed")
    if not scores_by_configuration:
        raise ValueError("no configuration to choose from")
    total = 0.0
    picks = []
    for category in sorted(set(categories)):
        train = [i for i, c in enumerate(categories) if c != category]
        best: tuple[float, str, float] | None = None  # (raw on train, configuration, threshold)
        for name, scores in scores_by_configuration.items():
            curve = threshold_curve([files[i] for i in train], [scores[i] for i in train], profile)
            threshold, raw = curve.best()
            if best is None or raw > best[0]:
                best = (raw, name, threshold)
        assert best is not None
        _, name, threshold = best
        held_out = scores_by_configuration[name]
        raw = sum(
            score_file(files[i], held_out[i], profile, threshold).raw
            for i, c in enumerate(categories)
            if c == category
        )
        total += raw
        picks.append(CategoryPick(category, name, threshold, raw))
    # Null and perfect depend on the labels only, not on any configuration's scores.
    first = next(iter(scores_by_configuration.values()))
    return threshold_curve(files, first, profile).normalised(total), picks
