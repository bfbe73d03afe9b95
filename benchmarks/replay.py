"""Time the backtest (``perfbot detect --replay 7d``) over 7 days of 200 endpoints.

Synthetic series (daily rhythm, noise) for 200 endpoints (latency, error ratio, throughput
each) and their 200 services (CPU, memory), 35 days at 5 minutes: the 7 replayed days and
the 28 of history each tick reads. Twenty endpoints get a latency step of 2 hours on one
of the replayed days. Prints the time and the alerts found at each sensitivity level,
never asserts. ``python -m benchmarks.replay [--endpoints N]``
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from bot.analytics.findings.model import SeriesBatch, SeriesKey
from bot.detection_replay import Period, replay
from bot.incidents.memory import MemoryIncidents
from bot.incidents.policies import OnCallSettings
from bot.incidents.service import Incidents
from bot.metrics.base import Signal

PER_DAY = 288
DAYS = 35
REPLAYED = timedelta(days=7)
LEVEL = {Signal.LATENCY: 0.2, Signal.ERROR_RATIO: 0.003, Signal.THROUGHPUT: 20.0,
         Signal.CPU: 0.3, Signal.MEMORY: 0.5}


def synthetic(endpoints: int, seed: int = 0) -> tuple[SeriesBatch, int]:
    """The batch, and how many steps were injected."""
    rng = np.random.default_rng(seed)
    t = DAYS * PER_DAY
    times = pd.date_range(datetime(2026, 10, 1, tzinfo=UTC), periods=t, freq="5min")
    shape = 1 + 0.3 * np.sin(np.arange(t) * 2 * np.pi / PER_DAY)
    keys = []
    for i in range(endpoints):
        for signal in (Signal.LATENCY, Signal.ERROR_RATIO, Signal.THROUGHPUT):
            keys.append(SeriesKey(signal=signal, service=f"svc{i}", endpoint=f"GET /r{i}"))
        for signal in (Signal.CPU, Signal.MEMORY):
            keys.append(SeriesKey(signal=signal, service=f"svc{i}"))
    level = np.array([LEVEL[k.signal] for k in keys])
    values = level[:, None] * shape * (1 + 0.05 * rng.standard_normal((len(keys), t)))
    latency = [r for r, k in enumerate(keys) if k.signal is Signal.LATENCY]
    steps = rng.choice(latency, max(1, endpoints // 10), replace=False)
    for row in steps:  # 2 hours at 3× on one of the replayed days
        at = t - int(rng.integers(1, 7)) * PER_DAY + int(rng.integers(0, PER_DAY - 24))
        values[row, at : at + 24] *= 3.0
    requests = np.where(np.array([k.endpoint is not None for k in keys])[:, None],
                        6000.0 * shape, np.nan)
    return SeriesBatch(keys=keys, times=times, values=values, requests=requests), len(steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=200)
    args = parser.parse_args()
    t0 = time.perf_counter()
    batch, injected = synthetic(args.endpoints)
    print(f"{args.endpoints} endpoints: {len(batch.keys)} series × {len(batch.times)} points "
          f"generated in {time.perf_counter() - t0:.1f} s; {injected} latency steps injected")
    end = batch.times[-1].to_pydatetime()
    data = Period(batch=batch, slos={}, problems=[], history=timedelta(days=28))
    for level in ("low", "normal", "high"):
        incidents = Incidents(store=MemoryIncidents(), oncall=OnCallSettings(),
                              default_channel="#incidents", reopen_within=timedelta(hours=1))
        levels = {f"svc{i}": level for i in range(args.endpoints)}
        t0 = time.perf_counter()
        result = replay(data, end, REPLAYED, incidents, interval=timedelta(minutes=5),
                        window=timedelta(hours=1), zone=UTC, levels=levels)  # type: ignore[arg-type]
        took = time.perf_counter() - t0
        print(f"{level:>6}: 7 days replayed in {took:.1f} s ({result.ticks} ticks, detector at "
              f"{result.cycles}, {result.candidates} series fired): {len(result.alerts)} alerts, "
              f"{sum(result.per_day().values()):.1f} per day")


if __name__ == "__main__":
    main()
