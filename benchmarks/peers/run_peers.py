"""Peer detectors on the NAB corpus: river and adtk, scored causally, results in NAB's layout.

Runs in its own virtualenv (adtk needs pandas < 3; the project uses pandas 3)::

    bash benchmarks/peers/setup.sh
    benchmarks/.venv-peers/bin/python benchmarks/peers/run_peers.py --nab DIR --out DIR

``benchmarks/nab.py --peers`` runs it and scores its output with the project's NAB scorer. It
writes ``<out>/<detector>/<category>/<detector>_<file>.csv`` (``timestamp,value,anomaly_score,
label``, as nab.py writes) and ``<out>/peers.json`` (per detector: seconds spent detecting,
points and series done, the score at which the library itself flags a point, notes). It
imports nothing from the project.

How each peer is made causal (a score at row t uses rows up to t only):

- river ``StandardAbsoluteDeviation`` (SAD) and ``PredictiveAnomalyDetection`` (PAD) around
  ``time_series.HoltWinters``: online; each row is scored with ``score_one`` then learnt with
  ``learn_one``. SAD's |z| is mapped to z / (1 + z) (same order, scores in [0, 1) as NAB wants);
  PAD's score is its own (error / threshold, 1.0 above the threshold).
- adtk ``SeasonalAD``, ``PersistAD``, ``LevelShiftAD``: fitted on the probationary rows only
  (which NAB never scores), then ``detect`` on the whole series; a detection scores 1, else 0.
  PersistAD's window is the rows before t and t itself. LevelShiftAD compares the window before
  t with the window starting at t, which reaches ``window - 1`` rows ahead, so each detection is
  reported ``window - 1`` rows later, when those rows have arrived. SeasonalAD's residual is
  value minus the seasonal pattern learnt on the probation (``trend=False``: the trend
  estimate is a centred moving average, which would look ahead).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import adtk
import numpy as np
import pandas as pd
import river
from adtk.detector import LevelShiftAD, PersistAD, SeasonalAD
from river import anomaly, time_series

# Parameters: each library's documented defaults or examples, not tuned on NAB.
HW_ALPHA, HW_BETA, HW_GAMMA = 0.3, 0.01, 0.1  # level, trend, season smoothing (additive)
PAD_N_STD = 3.0  # river's default
ADTK_C_SEASONAL = 3.0  # adtk defaults: SeasonalAD c=3, PersistAD c=3, LevelShiftAD c=6
ADTK_C_PERSIST = 3.0
ADTK_PERSIST_WINDOW = 1
ADTK_C_LEVEL = 6.0
ADTK_LEVEL_WINDOW = 5  # the window of adtk's LevelShiftAD examples


@dataclass(frozen=True)
class Series:
    name: str  # "<category>/<file>.csv"
    timestamps: pd.DatetimeIndex
    values: np.ndarray
    label: np.ndarray  # 1 inside a labelled window (NAB's results layout), else 0

    @property
    def rows_per_day(self) -> int:
        step = float(np.median(np.diff(self.timestamps.asi8))) / 1e9
        return max(2, round(86_400 / step))

    @property
    def probation(self) -> int:
        # Same rule as bot/analytics/nab_scoring.probation_rows (not importable here: no pydantic).
        return min(math.floor(0.15 * len(self.values)), 750)


@dataclass
class Outcome:
    notes: dict[str, int] = field(default_factory=dict)

    def note(self, what: str) -> None:
        self.notes[what] = self.notes.get(what, 0) + 1


def load_corpus(root: Path) -> list[Series]:
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(windows):
        frame = pd.read_csv(root / "data" / name)
        ts = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"]))
        label = np.zeros(len(frame), dtype=int)
        for start, end in windows[name]:
            label[(ts >= pd.Timestamp(start)) & (ts <= pd.Timestamp(end))] = 1
        corpus.append(Series(name, ts, frame["value"].to_numpy(dtype=float), label))
    return corpus


# ----------------------------------------------------------------------------------------
# river: online, one point at a time


def river_sad(series: Series, outcome: Outcome) -> np.ndarray:
    model = anomaly.StandardAbsoluteDeviation()
    scores = np.zeros(len(series.values))
    for i, y in enumerate(series.values.tolist()):
        if i:  # nothing to compare the first value with
            z = model.score_one(None, y)
            scores[i] = z / (1.0 + z)
        model.learn_one(None, y)
    return scores


def river_pad_holt_winters(series: Series, outcome: Outcome) -> np.ndarray:
    season = series.rows_per_day
    forecaster = time_series.HoltWinters(
        alpha=HW_ALPHA, beta=HW_BETA, gamma=HW_GAMMA, seasonality=season
    )
    # Holt-Winters needs one season of rows before it can forecast; PAD's error statistics
    # start one season later still (while the seasonal terms settle), within the probation
    # when it is long enough.
    warmup = max(season + 1, min(2 * season, series.probation))
    model = anomaly.PredictiveAnomalyDetection(
        forecaster, horizon=1, n_std=PAD_N_STD, warmup_period=warmup
    )
    scores = np.zeros(len(series.values))
    values = series.values.tolist()
    if sum(values[:season]) == 0:
        # river starts the additive seasonal terms as value / mean of the first season (a
        # multiplicative formula) and so divides by zero here.
        outcome.note("first season averages 0, Holt-Winters cannot start: no detections")
        return scores
    for i, y in enumerate(values):
        if i >= season:  # before that PAD's forecast() would fail on an empty model
            scores[i] = model.score_one(None, y)
        model.learn_one(None, y)
    return scores


# ----------------------------------------------------------------------------------------
# adtk: fitted on the probation, detecting on the whole series


def _regular(series: Series) -> pd.Series:
    """The values on a regular time index: adtk's seasonal model needs a fixed frequency.

    A few NAB series (realTraffic) have gaps; rows are taken as equally spaced at the median
    step, as every row-counting window here does anyway.
    """
    step = pd.Timedelta(int(np.median(np.diff(series.timestamps.asi8))), unit="ns")
    index = pd.date_range(series.timestamps[0], periods=len(series.values), freq=step)
    return pd.Series(series.values, index=index)


def _flags(detected: pd.Series, delay: int = 0) -> np.ndarray:
    """adtk's booleans (NaN where a window is not full yet) as scores 1/0, ``delay`` rows on."""
    flags = detected.astype(float).fillna(0.0).to_numpy()
    if delay:
        flags = np.r_[np.zeros(delay), flags[:-delay]]
    return flags


def adtk_seasonal(series: Series, outcome: Outcome) -> np.ndarray:
    s = _regular(series)
    train = s.iloc[: series.probation]
    detector = SeasonalAD(c=ADTK_C_SEASONAL, side="both")
    try:
        detector.fit(train)  # freq=None: adtk finds the period by autocorrelation
        outcome.note("period found by adtk")
    except Exception:  # adtk raises a bare Exception when it finds no seasonality
        if len(train) < 2 * series.rows_per_day:
            outcome.note("no period found, probation < 2 days: no detections")
            return np.zeros(len(s))
        detector = SeasonalAD(freq=series.rows_per_day, c=ADTK_C_SEASONAL, side="both")
        detector.fit(train)
        outcome.note("no period found by adtk: daily period used")
    return _flags(detector.detect(s))


def adtk_persist(series: Series, outcome: Outcome) -> np.ndarray:
    s = _regular(series)
    detector = PersistAD(window=ADTK_PERSIST_WINDOW, c=ADTK_C_PERSIST, side="both")
    detector.fit(s.iloc[: series.probation])
    return _flags(detector.detect(s))


def adtk_level_shift(series: Series, outcome: Outcome) -> np.ndarray:
    s = _regular(series)
    detector = LevelShiftAD(window=ADTK_LEVEL_WINDOW, c=ADTK_C_LEVEL, side="both")
    detector.fit(s.iloc[: series.probation])
    return _flags(detector.detect(s), delay=ADTK_LEVEL_WINDOW - 1)


# The score at which each library itself calls a point anomalous: |z| >= 3 for SAD (the 3-sigma
# rule it is built on), PAD's own dynamic threshold (score 1.0), any adtk flag.
DECISIONS = {
    "riverSAD": 3.0 / (1.0 + 3.0),
    "riverPAD_HW": 1.0,
    "adtkSeasonal": 1.0,
    "adtkPersist": 1.0,
    "adtkLevelShift": 1.0,
}

DETECTORS: dict[str, Callable[[Series, Outcome], np.ndarray]] = {
    "riverSAD": river_sad,
    "riverPAD_HW": river_pad_holt_winters,
    "adtkSeasonal": adtk_seasonal,
    "adtkPersist": adtk_persist,
    "adtkLevelShift": adtk_level_shift,
}


# ----------------------------------------------------------------------------------------


def write_results(out: Path, detector: str, series: Series, scores: np.ndarray) -> None:
    category, file = series.name.split("/")
    path = out / detector / category / f"{detector}_{file}"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "timestamp": series.timestamps.strftime("%Y-%m-%d %H:%M:%S"),
            "value": series.values,
            "anomaly_score": scores,
            "label": series.label,
        }
    ).to_csv(path, index=False)


def run(corpus: list[Series], out: Path, budget: float, only: list[str]) -> dict[str, object]:
    report: dict[str, object] = {}
    for name in only:
        detect = DETECTORS[name]
        outcome = Outcome()
        seconds, points, done = 0.0, 0, 0
        for series in corpus:
            if seconds > budget:
                # Over budget: the remaining series get no score (NaN never detects).
                scores = np.full(len(series.values), np.nan)
            else:
                started = time.perf_counter()
                scores = detect(series, outcome)
                seconds += time.perf_counter() - started
                points += len(series.values)
                done += 1
            write_results(out, name, series, scores)
        report[name] = {
            "seconds": seconds,
            "points": points,
            "series": done,
            "of": len(corpus),
            "decision": DECISIONS[name],
            "notes": outcome.notes,
        }
        capped = "" if done == len(corpus) else f" (budget reached: {done}/{len(corpus)} series)"
        print(f"  {name:15s} {points:>8,} points in {seconds:7.2f} s{capped}", file=sys.stderr)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nab", type=Path, required=True, help="NAB data folder")
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="seconds per detector; series after it is spent get no scores (default 600)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=sorted(DETECTORS), default=list(DETECTORS), metavar="NAME"
    )
    args = parser.parse_args()
    if not (args.nab / "labels" / "combined_windows.json").is_file():
        parser.error(f"no NAB data in {args.nab} (expected labels/combined_windows.json and data/)")
    # adtk 0.6 on pandas 2.3 warns about deprecated pandas calls on every series.
    warnings.simplefilter("ignore")
    corpus = load_corpus(args.nab)
    report = {
        "versions": {
            "river": river.__version__,
            "adtk": adtk.__version__,
            "pandas": pd.__version__,
        },
        "budget_seconds": args.budget,
        "detectors": run(corpus, args.out, args.budget, args.only),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
