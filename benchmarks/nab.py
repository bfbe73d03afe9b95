"""The anomaly detector on the Numenta Anomaly Benchmark (NAB): scores, alarms and speed.

Usage: ``python benchmarks/nab.py [--nab DIR] [--out DIR] [--peers [--peers-budget SECONDS]]``

Runs each detector causally over every NAB series, writes NAB-format results
(``<out>/<detector>/<category>/<detector>_<file>.csv`` with ``timestamp,value,anomaly_score,label``)
and prints one table: the NAB score per profile with the corpus-wide threshold found by sweeping
(as NAB's optimiser does), the standard score when each category's threshold is chosen on the
other categories only (leave one category out), alarm-level figures at the standard threshold,
and speed (points per second of each detector over the corpus). Prints figures, never asserts.

``perfbot-alerting`` is the path that alerts: ``findings.decide`` (NAB profile) through
``nab_alerting``, its surprise tier swept (the threshold is a ``surprise_alarm``), the z rule
off; below the table, the same at the bot's own ``surprise_alarm``, with the z rule off and on.

Below that, configuration-level leave one category out: each category scored with the
configuration and threshold chosen on the other six, among ``configuration_grid()`` (the
scorer alone), then among the grid × the z rule's guards (``Z_CHOICES``) for the alerting path.

``--peers`` adds the peer libraries river and adtk to the same table: ``benchmarks/peers/
run_peers.py`` runs them in their own virtualenv (``bash benchmarks/peers/setup.sh`` makes it;
adtk needs pandas < 3), writes NAB-format results into the same results folder, and this script
scores them exactly like its own detectors.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.analytics import nab_scoring as nab
from bot.analytics.anomaly.batch import score_batch, score_series
from bot.analytics.anomaly.config import DEFAULT_CONFIG, DetectorConfig
from bot.analytics.anomaly.slots import daily_slots
from bot.analytics.anomaly.streaming import DetectorState, update
from bot.analytics.findings.model import DEFAULT_FINDINGS
from bot.analytics.findings.profiles import NAB_FINDINGS, NAB_Z
from bot.analytics.nab_alerting import Z_CHOICES, alert_scores, gate

REPO = Path(__file__).resolve().parents[1]
PEERS_PYTHON = REPO / "benchmarks" / ".venv-peers" / "bin" / "python"
PEERS_SCRIPT = REPO / "benchmarks" / "peers" / "run_peers.py"
FloatArray = npt.NDArray[np.float64]
Detector = Callable[[FloatArray, npt.NDArray[np.datetime64]], FloatArray]


@dataclass(frozen=True)
class Series:
    name: str  # "<category>/<file>.csv", as NAB's labels name it
    timestamps: npt.NDArray[np.datetime64]
    values: FloatArray
    labelled: nab.LabelledFile
    anomaly_rows: list[int]

    @property
    def category(self) -> str:
        return self.name.split("/")[0]


def load_corpus(root: Path) -> list[Series]:
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    points = json.loads((root / "labels" / "combined_labels.json").read_text())
    corpus = []
    for name in sorted(windows):
        frame = pd.read_csv(root / "data" / name)
        ts = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]")
        limits = [
            (np.datetime64(pd.Timestamp(a)), np.datetime64(pd.Timestamp(b)))
            for a, b in windows[name]
        ]
        rows = nab.window_rows(ts, limits)
        labels = [
            int(np.searchsorted(ts, np.datetime64(pd.Timestamp(p)))) for p in points.get(name, [])
        ]
        corpus.append(
            Series(
                name=name,
                timestamps=ts,
                values=frame["value"].to_numpy(dtype=float),
                labelled=nab.LabelledFile(name=name, n_rows=len(frame), windows=tuple(rows)),
                anomaly_rows=labels,
            )
        )
    return corpus


# ----------------------------------------------------------------------------------------
# Detectors: ours and two baselines for honesty


def perfbot_detector(values: FloatArray, timestamps: npt.NDArray[np.datetime64]) -> FloatArray:
    return score_series(values, timestamps, DEFAULT_CONFIG)


# The bot's own surprise alarm (chosen for pages on its quiet data, not by NAB's sweep); the
# candidate measured while the tier is off by default.
BOT_ALARM = DEFAULT_FINDINGS.surprise_alarm or 0.7


def alerting_scorer(values: FloatArray, timestamps: npt.NDArray[np.datetime64]) -> FloatArray:
    """The scorer as the NAB profile's surprise tier runs it (its novelty noise allowance)."""
    config = DEFAULT_CONFIG.model_copy(
        update={"novelty_sigmas": NAB_FINDINGS.surprise_novelty_sigmas})
    return score_series(values, timestamps, config)


def alerting_detector(z: float | None) -> Detector:
    """The path that raises the bot's alerts: ``findings.decide`` with the NAB profile, its
    surprise tier swept, its z rule at guard ``z`` (None: off)."""

    def detect(values: FloatArray, timestamps: npt.NDArray[np.datetime64]) -> FloatArray:
        return alert_scores(values, timestamps, alerting_scorer(values, timestamps), z)

    return detect


def rolling_zscore_detector(window: int) -> Detector:
    """|x - mean| / std over the previous ``window`` rows, mapped to z / (1 + z)."""

    def detect(values: FloatArray, timestamps: npt.NDArray[np.datetime64]) -> FloatArray:
        s = pd.Series(values)
        mean = s.rolling(window, min_periods=20).mean().shift(1)
        std = s.rolling(window, min_periods=20).std().shift(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = ((s - mean).abs() / std).to_numpy()
        z = np.nan_to_num(z, nan=0.0, posinf=1e12)
        scores: FloatArray = z / (1.0 + z)
        return scores

    return detect


def null_detector(values: FloatArray, timestamps: npt.NDArray[np.datetime64]) -> FloatArray:
    return np.full(values.shape, 0.5)  # NAB's null detector: a constant, never above threshold


# ----------------------------------------------------------------------------------------
# Peers: river and adtk, run by benchmarks/peers/run_peers.py in their own virtualenv


@dataclass(frozen=True)
class PeerRun:
    """What the peer runner reports for one detector."""

    seconds: float  # spent detecting (not loading or writing)
    points: int
    series: int  # series scored within the time budget
    of: int
    decision: float  # the score at which the library itself flags a point
    notes: dict[str, int]


class PeersError(Exception):
    pass


def run_peers(nab_dir: Path, out: Path, budget: float) -> dict[str, PeerRun]:
    """Run the peer detectors in their virtualenv; their results land in ``out``."""
    if not PEERS_PYTHON.is_file():
        raise PeersError(
            f"the peers' virtualenv is missing ({PEERS_PYTHON.parent.parent}); "
            "create it with: bash benchmarks/peers/setup.sh"
        )
    command = [str(PEERS_PYTHON), str(PEERS_SCRIPT), "--nab", str(nab_dir), "--out", str(out)]
    done = subprocess.run([*command, "--budget", str(budget)], check=False)
    if done.returncode != 0:
        raise PeersError(f"the peer runner failed (exit {done.returncode}): {' '.join(command)}")
    report = json.loads((out / "peers.json").read_text())
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    print(f"peers ({versions}) run in {PEERS_PYTHON.parent.parent}")
    return {name: PeerRun(**run) for name, run in report["detectors"].items()}


def read_results(out: Path, detector: str, corpus: list[Series]) -> list[FloatArray]:
    """Anomaly scores back from NAB-format results, checked against the corpus row by row."""
    scores = []
    for series in corpus:
        category, file = series.name.split("/")
        path = out / detector / category / f"{detector}_{file}"
        if not path.is_file():
            raise PeersError(f"{detector}: no results for {series.name} (expected {path})")
        frame = pd.read_csv(path)
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]")
        if len(frame) != len(series.values) or not np.array_equal(stamps, series.timestamps):
            raise PeersError(f"{detector}: {path} does not have the rows of {series.name}")
        scores.append(frame["anomaly_score"].to_numpy(dtype=float))
    return scores


# ----------------------------------------------------------------------------------------
# Scoring


@dataclass
class Row:
    detector: str
    scores: dict[str, tuple[float, float]]  # profile -> (normalised score, threshold)
    loco: float
    events: nab.EventSummary


def evaluate(corpus: list[Series], scores: list[FloatArray], detector: str) -> Row:
    files = [s.labelled for s in corpus]
    by_profile = {}
    for profile in nab.PROFILES.values():
        curve = nab.threshold_curve(files, scores, profile)
        threshold, raw = curve.best()
        by_profile[profile.name] = (curve.normalised(raw), threshold)
    standard = nab.PROFILES["standard"]
    full = nab.threshold_curve(files, scores, standard)
    loco_raw = 0.0
    for category in sorted({s.category for s in corpus}):
        train = [i for i, s in enumerate(corpus) if s.category != category]
        test = [i for i, s in enumerate(corpus) if s.category == category]
        curve = nab.threshold_curve([files[i] for i in train], [scores[i] for i in train], standard)
        threshold, _ = curve.best()
        loco_raw += sum(nab.score_file(files[i], scores[i], standard, threshold).raw for i in test)
    threshold = by_profile["standard"][1]
    counts = [
        nab.event_counts(s.labelled, sc, threshold, s.timestamps, s.anomaly_rows)
        for s, sc in zip(corpus, scores, strict=True)
    ]
    return Row(
        detector=detector,
        scores=by_profile,
        loco=full.normalised(loco_raw),
        events=nab.summarise_events(counts),
    )


def own_decision(
    corpus: list[Series], scores: list[FloatArray], name: str, threshold: float
) -> str:
    """One line: the NAB scores and alarm figures at the score where the library itself flags."""
    files = [s.labelled for s in corpus]
    cells = []
    for profile in nab.PROFILES.values():
        curve = nab.threshold_curve(files, scores, profile)
        raw = sum(
            nab.score_file(f, sc, profile, threshold).raw
            for f, sc in zip(files, scores, strict=True)
        )
        cells.append(f"{curve.normalised(raw):.1f}")
    e = nab.summarise_events(
        [
            nab.event_counts(s.labelled, sc, threshold, s.timestamps, s.anomaly_rows)
            for s, sc in zip(corpus, scores, strict=True)
        ]
    )
    flagged = float(np.mean(np.concatenate(scores) >= threshold))
    false_alarms = e.false_alarms_per_1000_series_days
    return (
        f"  {name:16s} score >= {threshold:.2f}: {' / '.join(cells)}; "
        f"recall {e.window_recall:.2f}, precision {e.event_precision:.2f} per run, "
        f"{e.window_precision:.2f} per window, "
        f"{false_alarms:.0f} false alarms, {flagged:.1%} of rows"
    )


def write_results(out: Path, detector: str, corpus: list[Series], scores: list[FloatArray]) -> None:
    """NAB's results layout: ``<detector>/<category>/<detector>_<file>.csv``."""
    for series, score in zip(corpus, scores, strict=True):
        label = np.zeros(series.labelled.n_rows, dtype=int)
        for first, last in series.labelled.windows:
            label[first : last + 1] = 1
        category, file = series.name.split("/")
        path = out / detector / category / f"{detector}_{file}"
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(
            {
                "timestamp": pd.to_datetime(series.timestamps).strftime("%Y-%m-%d %H:%M:%S"),
                "value": series.values,
                "anomaly_score": score,
                "label": label,
            }
        ).to_csv(path, index=False)


# ----------------------------------------------------------------------------------------
# Configuration-level leave one category out


def configuration_grid() -> dict[str, DetectorConfig]:
    """The configurations LOCO chooses among: the tail fit's prior weight and the range-novelty
    constants (off, or its margin, noise allowance and surprise) around the defaults, which are
    the grid's in-sample best."""
    grid = {}
    for rows in (300.0, 500.0):
        off = {"tail_prior_rows": rows, "novelty_margin": None}
        grid[f"prior {rows:.0f}, novelty off"] = DEFAULT_CONFIG.model_copy(update=off)
        for margin in (0.01, 0.02, 0.05):
            for sigmas in (0.0, 1.0):
                for nats in (3.0, 5.0, 8.0):
                    update = {
                        "tail_prior_rows": rows,
                        "novelty_margin": margin,
                        "novelty_sigmas": sigmas,
                        "novelty_nats": nats,
                    }
                    name = f"prior {rows:.0f}, margin {margin}, {sigmas:.0f} sd, {nats:.0f} nats"
                    grid[name] = DEFAULT_CONFIG.model_copy(update=update)
    return grid


def configuration_loco(
    corpus: list[Series], grid: dict[str, DetectorConfig], alerting: bool = False
) -> list[str]:
    """Lines: each category's pick and score when the configuration and the threshold are
    chosen on the other six, the total, and the in-sample figures it compares with.
    ``alerting``: the alerting path's instead (``decide``'s surprise tier with each scorer
    configuration), with the z rule's guard (``Z_CHOICES``, off included) one more dimension."""
    files = [s.labelled for s in corpus]
    standard = nab.PROFILES["standard"]
    by_config = {
        name: [score_series(s.values, s.timestamps, config) for s in corpus]
        for name, config in grid.items()
    }
    default_name = next((n for n, c in grid.items() if c == DEFAULT_CONFIG), None)
    if alerting:
        scorer = by_config
        by_config = {}
        for z in Z_CHOICES:
            gates = [gate(s.values, s.timestamps, z) for s in corpus]
            tag = "z rule off" if z is None else f"z rule {z:g}"
            for name, scores in scorer.items():
                by_config[f"{name}, {tag}"] = [
                    g.scores(sc) for g, sc in zip(gates, scores, strict=True)]
        default_name = None if default_name is None else f"{default_name}, z rule off"
    score, picks = nab.leave_one_category_out(
        files, [s.category for s in corpus], by_config, standard
    )
    in_sample = {
        name: (curve := nab.threshold_curve(files, scores, standard)).normalised(curve.best()[1])
        for name, scores in by_config.items()
    }
    best = max(in_sample, key=lambda name: in_sample[name])
    default = default_name
    what = "the alerting path (decide's surprise tier)" if alerting else "the anomaly scorer"
    lines = [
        f"configuration-level LOCO of {what} (configuration and threshold chosen on the other "
        f"six categories, among {len(by_config)}): standard {score:.1f}; in-sample: best of "
        f"the grid {in_sample[best]:.1f} ({best}), default "
        + ("not in the grid" if default is None else f"{in_sample[default]:.1f} ({default})")
    ]
    for pick in picks:
        null = sum(
            nab.score_file(f, np.zeros(f.n_rows), standard, nab.NO_DETECTION).raw
            for f, s in zip(files, corpus, strict=True)
            if s.category == pick.category
        )
        lines.append(
            f"  {pick.category:24s} picked {pick.configuration} @ {pick.threshold:.4f}: raw "
            f"{pick.raw:+.2f} (null {null:+.2f})"
        )
    return lines


# ----------------------------------------------------------------------------------------
# Speed


def batch_seconds(corpus: list[Series], repeats: int = 3) -> float:
    """Best time to score the whole corpus with ``score_batch``, series grouped by shape."""
    groups: dict[tuple[int | None, int], list[int]] = {}
    prepared = [daily_slots(s.timestamps) for s in corpus]
    for i, (s, slots) in enumerate(zip(corpus, prepared, strict=True)):
        key = (None if slots is None else slots.count, len(s.values))
        groups.setdefault(key, []).append(i)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for (count, _length), members in groups.items():
            values = np.stack([corpus[i].values for i in members])
            stacked = None
            if count is not None:
                stacked = np.stack([p.slots for i in members if (p := prepared[i]) is not None])
            score_batch(values, slots=stacked, slots_per_day=count)
        best = min(best, time.perf_counter() - started)
    return best


def tick_milliseconds(n_series: int = 10_000, ticks: int = 200) -> tuple[float, float]:
    """Median and 95th-percentile time of one streaming tick for ``n_series`` series."""
    rng = np.random.default_rng(0)
    slots_per_day = 288
    state = DetectorState(n_series, slots_per_day=slots_per_day)
    base = rng.lognormal(3.0, 1.0, n_series)
    times = []
    for t in range(ticks):
        values = base * (1 + 0.3 * np.sin(2 * np.pi * t / slots_per_day)) + rng.normal(
            0, 1, n_series
        )
        slots = np.full(n_series, t % slots_per_day)
        started = time.perf_counter()
        update(state, values, slots)
        times.append(time.perf_counter() - started)
    measured = np.array(times[20:]) * 1000  # after the first ticks have touched every array
    return float(np.median(measured)), float(np.percentile(measured, 95))


# ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--nab", type=Path, default=REPO.parent / "shared" / "nab", help="NAB data folder"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="results folder (default: a new temp dir)"
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="add river and adtk (needs benchmarks/.venv-peers: bash benchmarks/peers/setup.sh)",
    )
    parser.add_argument(
        "--peers-budget",
        type=float,
        default=600.0,
        help="seconds per peer detector; series after it is spent are left unscored (default 600)",
    )
    args = parser.parse_args()
    if not (args.nab / "labels" / "combined_windows.json").is_file():
        parser.error(f"no NAB data in {args.nab} (expected labels/combined_windows.json and data/)")
    if args.peers and not PEERS_PYTHON.is_file():
        parser.error(
            f"--peers needs the peers' virtualenv {PEERS_PYTHON.parent.parent}; "
            "create it with: bash benchmarks/peers/setup.sh"
        )
    out = args.out or Path(tempfile.mkdtemp(prefix="nab-results-"))
    corpus = load_corpus(args.nab)
    n_points = sum(len(s.values) for s in corpus)
    print(f"NAB corpus: {len(corpus)} series, {n_points:,} points, from {args.nab}")

    detectors: dict[str, Detector] = {
        "perfbot-alerting": alerting_detector(None),
        "perfbot": perfbot_detector,
        "rollingZ": rolling_zscore_detector(1000),
        "null": null_detector,
    }
    rows: list[tuple[Row, float, str]] = []  # (row, points per second, remark)
    own: list[str] = []  # peers at their own decision rule
    alerting = ""
    for name, detect in detectors.items():
        started = time.perf_counter()
        scores = [detect(s.values, s.timestamps) for s in corpus]
        elapsed = time.perf_counter() - started
        write_results(out, name, corpus, scores)
        rows.append((evaluate(corpus, scores, name), n_points / elapsed, ""))
        if name == "perfbot-alerting":  # also where the bot itself would alert
            alerting = own_decision(corpus, scores, name, BOT_ALARM)
            with_z = [alerting_detector(NAB_Z)(s.values, s.timestamps) for s in corpus]
            alerting += "\n" + own_decision(corpus, with_z, f"{name}+z{NAB_Z:g}", BOT_ALARM)
    if args.peers:
        try:
            peers = run_peers(args.nab, out, args.peers_budget)
            for name, run in peers.items():
                remarks = [f"{what}: {count} series" for what, count in run.notes.items()]
                if run.series < run.of:
                    remarks.insert(0, f"time budget spent after {run.series}/{run.of} series")
                remark = "; ".join(remarks)
                peer_scores = read_results(out, name, corpus)
                own.append(own_decision(corpus, peer_scores, name, run.decision))
                rows.append((evaluate(corpus, peer_scores, name), run.points / run.seconds, remark))
        except PeersError as error:
            sys.exit(f"nab.py: error: {error}")
    print(f"results written to {out}\n")
    print_table(rows)
    print(
        f"\nthe alerting path at the bot's own surprise_alarm ({BOT_ALARM:g}, chosen for pages on "
        "the bot's quiet data) instead of NAB's swept one, z rule off and at the bot's z guard "
        f"({NAB_Z:g}) (standard / low FP / low FN, then recall, precision, false alarms per 1k "
        f"series-days, rows flagged):\n{alerting}"
    )
    if own:
        print(
            "\npeers at their own decision rule instead of the swept threshold (standard / low FP"
            " / low FN, then recall, precision, false alarms per 1k series-days, rows flagged):"
        )
        print("\n".join(own))

    print()
    print("\n".join(configuration_loco(corpus, configuration_grid())))
    print("\n".join(configuration_loco(corpus, configuration_grid(), alerting=True)))

    seconds = batch_seconds(corpus)
    median_ms, p95_ms = tick_milliseconds()
    print(
        f"\nspeed: batch {n_points:,} points in {seconds:.3f} s = "
        f"{n_points / seconds / 1e6:.2f} M points/s (one process); streaming tick for 10,000 "
        f"series: median {median_ms:.2f} ms, p95 {p95_ms:.2f} ms"
    )


def print_table(rows: list[tuple[Row, float, str]]) -> None:
    print(
        f"{'detector':16s} {'standard':>16s} {'reward_low_FP':>16s} {'reward_low_FN':>16s} "
        f"{'LOCO std':>8s} {'recall':>6s} {'prec/run':>8s} {'prec/win':>8s} {'F1':>5s} "
        f"{'delay rows':>10s} {'delay':>8s} {'FA/1k sd':>8s} {'points/s':>9s}"
    )
    remarks = []
    for row, points_per_second, remark in rows:
        cells = [f"{row.detector:16s}"]
        for profile in ("standard", "reward_low_FP", "reward_low_FN"):
            score, threshold = row.scores[profile]
            cells.append(f"{score:6.1f} @{_threshold(threshold):>8s}")
        e = row.events
        delay_rows = "-" if e.median_delay_rows is None else f"{e.median_delay_rows:.0f}"
        delay = "-" if e.median_delay_seconds is None else _duration(e.median_delay_seconds)
        cells += [
            f"{row.loco:8.1f}",
            f"{e.window_recall:6.2f}",
            f"{e.event_precision:8.2f}",
            f"{e.window_precision:8.2f}",
            f"{e.f1:5.2f}",
            f"{delay_rows:>10s}",
            f"{delay:>8s}",
            f"{e.false_alarms_per_1000_series_days:8.0f}",
            f"{_rate(points_per_second):>9s}",
        ]
        print(" ".join(cells))
        if remark:
            remarks.append(f"{row.detector}: {remark}")
    print(
        "\nthreshold: the corpus-wide one NAB's sweep picks per profile; LOCO std: standard score "
        "when each category's threshold is chosen on the other categories; recall, precision per "
        "run (runs touching a window ÷ runs) and per window (detected windows ÷ (detected windows "
        "+ false-alarm runs)), F1 (of recall and precision per run), "
        "delays (median, from the labelled anomaly; negative = before it) and false alarms per "
        "1,000 series-days (alarm = run of consecutive detections) at the standard threshold; "
        "points/s: the whole corpus through the detector, one series at a time, one process.\n"
        "perfbot-alerting is what raises the bot's alerts: findings.decide (of `perfbot detect` "
        "and the running bot) with the NAB profile (findings/profiles.py: no minimum traffic, "
        "milliseconds or error counts), z rule off: its score is the scorer's where decide's "
        "surprise tier sees the row (the direction guard), so the threshold is a surprise_alarm. "
        "perfbot is the anomaly scorer (bot/analytics/anomaly) alone, as decide's tier and the "
        "onset dating run it.\n"
        "NAB scoreboard for comparison (standard/low FP/low FN): Numenta HTM 70.5/62.6/75.2, "
        "earthgecko Skyline 58.2/46.2/63.9, Windowed Gaussian 39.6/20.9/47.4, null 0."
    )
    for remark in remarks:
        print(remark)


def _rate(points_per_second: float) -> str:
    if points_per_second >= 1e6:
        return f"{points_per_second / 1e6:.1f}M"
    return f"{points_per_second / 1e3:.0f}k"


def _threshold(value: float) -> str:
    return "none" if not np.isfinite(value) else f"{value:.4f}"


def _duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    minutes = abs(seconds) / 60
    return f"{sign}{minutes / 60:.1f}h" if minutes >= 120 else f"{sign}{minutes:.0f}m"


if __name__ == "__main__":
    main()
