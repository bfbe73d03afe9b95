"""Time one detection cycle over 10,000 series with four weeks of 5-minute history each.

Synthetic series (daily rhythm, noise, 1% with an injected step) go straight into
``bot.analytics.findings.find``: the decision's cost, without the metrics server's. Prints,
never asserts. ``python -m benchmarks.detect_cycle [--series N]``
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from bot.analytics.findings import SeriesBatch, SeriesKey, find
from bot.metrics.base import Signal

PER_DAY = 288
DAYS = 28
SIGNALS = (Signal.LATENCY, Signal.ERROR_RATIO, Signal.THROUGHPUT, Signal.CPU, Signal.MEMORY)


def synthetic(n: int, seed: int = 0) -> SeriesBatch:
    rng = np.random.default_rng(seed)
    t = DAYS * PER_DAY
    times = pd.date_range(datetime(2026, 10, 1, tzinfo=UTC), periods=t, freq="5min")
    shape = 1 + 0.3 * np.sin(np.arange(t) * 2 * np.pi / PER_DAY)
    keys = [SeriesKey(signal=SIGNALS[i % 5], service=f"svc{i // 50}",
                      endpoint=None if SIGNALS[i % 5] in (Signal.CPU, Signal.MEMORY)
                      else f"GET /r{i}") for i in range(n)]
    level = np.array([{Signal.LATENCY: 0.2, Signal.ERROR_RATIO: 0.003, Signal.THROUGHPUT: 20.0,
                       Signal.CPU: 0.3, Signal.MEMORY: 0.5}[k.signal] for k in keys])
    values = level[:, None] * shape * (1 + 0.05 * rng.standard_normal((n, t)))
    stepped = rng.choice(n, n // 100, replace=False)
    values[stepped, t - 100 :] *= np.where(
        np.array([keys[i].signal is Signal.THROUGHPUT for i in stepped]), 0.3, 3.0)[:, None]
    requests = np.where(np.array([k.endpoint is not None for k in keys])[:, None],
                        6000.0 * shape, np.nan)
    return SeriesBatch(keys=keys, times=times, values=values, requests=requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    batch = synthetic(args.series)
    print(f"{args.series} series × {len(batch.times)} points generated in "
          f"{time.perf_counter() - t0:.1f}s")
    end = batch.times[-1].to_pydatetime()
    for window in (timedelta(hours=1), timedelta(days=7)):
        t0 = time.perf_counter()
        result = find(batch, end - window)
        took = time.perf_counter() - t0
        print(f"cycle over the last {window}: {took:.2f}s, {len(result.findings)} findings, "
              f"{result.series_scored} series scored, {len(result.problems)} problems")


if __name__ == "__main__":
    main()
