"""Toward one detector: the anomaly scorer's surprise as the novelty test of the alerting path.

Prints, never asserts. ``python -m benchmarks.nab_unify [--nab DIR]``

The bot alerts where ``findings.decide`` fires; NAB's good figure is the anomaly scorer's. This
measures the two halves of letting ``decide`` use the scorer's surprise:

- **NAB** (standard profile, swept threshold): the scorer alone; the scorer only where
  ``decide`` (NAB profile, z guard 2) exceeds; only where it fires (with its persistence); and
  the scorer at fixed thresholds, a single point or two points in a row (persistence's
  shortest form).
- **The bot's quiet data** (``time_to_detect``'s synthetic latency and error ratio, no
  incident, 100 series × the last 7 days, at 1 and 5 minutes): runs of points where the
  scorer's surprise clears a threshold and ``decide``'s guards (default configuration) hold,
  single points and two in a row, next to ``decide``'s own alerts; and on ``time_to_detect``'s
  steps (20 series per size), the median delay of the first such point against ``decide``'s
  (without SLO budgets, so without the fast burn; ``time_to_detect`` has it).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import numpy as np

from benchmarks.nab import REPO, Series, load_corpus, perfbot_detector
from benchmarks.time_to_detect import ERROR_BURNS, LATENCY_STEPS, synthetic
from bot.analytics import nab_alerting
from bot.analytics import nab_scoring as nab
from bot.analytics.anomaly.batch import score_batch
from bot.analytics.anomaly.slots import daily_slots
from bot.analytics.findings.decision import decide
from bot.analytics.findings.model import DEFAULT_FINDINGS
from bot.analytics.findings.profiles import nab_profile

THRESHOLDS = (0.4926, 0.6, 0.7, 0.8)  # the first: NAB's sweep for the scorer
STANDARD = nab.PROFILES["standard"]


def two_in_a_row(mask: np.ndarray) -> np.ndarray:
    """Points whose previous point also held (along the last axis)."""
    before = np.zeros_like(mask)
    before[..., 1:] = mask[..., :-1]
    return mask & before


def runs(mask: np.ndarray) -> int:
    return sum(len(nab.detection_events(row)) for row in np.atleast_2d(mask))


def nab_figures(corpus: list[Series]) -> None:
    files = [s.labelled for s in corpus]
    scores = [perfbot_detector(s.values, s.timestamps) for s in corpus]
    exceed, fire = [], []
    for s in corpus:
        grid = nab_alerting.to_grid(s.values, s.timestamps)
        d = decide(nab_alerting.to_batch(grid), nab_profile(2.0), days_from_start=True)
        for out, held in ((exceed, d.exceed.any(axis=0)), (fire, d.fire.any(axis=0))):
            # A row's cell decision, or the previous cell's when its cell is not done.
            out.append(np.where(grid.own, held[grid.cell], np.r_[False, held[:-1]][grid.cell]))

    def swept(gated: list[np.ndarray]) -> str:
        curve = nab.threshold_curve(files, gated, STANDARD)
        threshold, raw = curve.best()
        return f"{curve.normalised(raw):5.1f} @ {threshold:.4f}"

    print("NAB standard score (swept threshold):")
    print(f"  anomaly scorer alone                       {swept(scores)}")
    print(f"  scorer where decide exceeds (z guard 2)    "
          f"{swept([np.where(g, sc, 0.0) for g, sc in zip(exceed, scores, strict=True)])}")
    print(f"  scorer where decide fires (persistence)    "
          f"{swept([np.where(g, sc, 0.0) for g, sc in zip(fire, scores, strict=True)])}")
    curve = nab.threshold_curve(files, scores, STANDARD)
    for threshold in THRESHOLDS:
        single = sum(nab.score_file(f, sc, STANDARD, threshold).raw
                     for f, sc in zip(files, scores, strict=True))
        double = sum(nab.score_file(f, np.where(two_in_a_row(sc >= threshold), sc, 0.0),
                                    STANDARD, threshold).raw
                     for f, sc in zip(files, scores, strict=True))
        print(f"  scorer >= {threshold:<6}: single point {curve.normalised(single):5.1f}, "
              f"two in a row {curve.normalised(double):5.1f}")


def surprise(batch_values: np.ndarray, times: np.ndarray, first: int) -> np.ndarray:
    """The scorer's surprise of each series with its daily profile, from column ``first``."""
    slots = daily_slots(times)
    if slots is None:
        raise ValueError("too few points a day for the daily profile")
    n = batch_values.shape[0]
    scores = score_batch(batch_values, slots=np.tile(slots.slots, (n, 1)),
                         slots_per_day=slots.count)
    return scores[:, first:]


def delay_figures(per_size: int, threshold: float) -> None:
    print(f"\ntime_to_detect's steps: found and median delay, scorer >= {threshold} where the "
          "guards hold (a single point) / decide")
    for minutes in (1, 5):
        step = timedelta(minutes=minutes)
        for kind, sizes, seed in (("latency", LATENCY_STEPS, 1), ("errors", ERROR_BURNS, 2)):
            batch, injected = synthetic(kind, sizes, per_size, seed, quiet=False, step=step)
            first = batch.values.shape[1] - 1440 // minutes
            held = (surprise(batch.values, batch.times.to_numpy(), first) >= threshold)
            d = decide(batch, DEFAULT_FINDINGS, first)
            rules = {"scorer": held & d.exceed, "decide": d.fire}
            for size in sizes:
                cells = []
                for name, mask in rules.items():
                    delays = []
                    for row, s, at in injected:
                        # The step begins at minute ``at``; column c holds minutes c × step
                        # to (c + 1) × step and is read at its end (the grid starts one
                        # step in): the first column it touches is at // step.
                        col = at // minutes
                        hit = np.flatnonzero(mask[row, col - first :])
                        if s == size and hit.size:
                            delays.append((col + int(hit[0]) + 1) * minutes - at)
                    med = f"{np.median(delays):.0f} min" if delays else "-"
                    cells.append(f"{name} {len(delays)}/{per_size} {med}")
                print(f"  {kind:8s} {size:>4g}x at {minutes} min: " + ", ".join(cells))


def quiet_figures(series: int) -> None:
    print(f"\nthe bot's quiet data: false alerts (runs) over {7 * series} series-days, "
          "scorer >= threshold where decide's guards hold, single point / two in a row")
    for minutes in (1, 5):
        step = timedelta(minutes=minutes)
        for kind, seed in (("latency", 11), ("errors", 12)):
            batch, _ = synthetic(kind, (1.0,), series, seed, quiet=True, step=step)
            first = batch.values.shape[1] - 7 * 1440 // minutes
            novel = surprise(batch.values, batch.times.to_numpy(), first)
            d = decide(batch, DEFAULT_FINDINGS, first)
            cells = []
            for threshold in THRESHOLDS:
                held = (novel >= threshold) & d.exceed
                cells.append(f"{threshold}: {runs(held)}/{runs(two_in_a_row(held))}")
            print(f"  {kind:8s} {minutes} min: decide {runs(d.fire)}; " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nab", type=Path, default=REPO.parent / "shared" / "nab")
    parser.add_argument("--series", type=int, default=100, help="quiet series per kind")
    args = parser.parse_args()
    nab_figures(load_corpus(args.nab))
    quiet_figures(args.series)
    delay_figures(20, THRESHOLDS[0])


if __name__ == "__main__":
    main()
