"""Time to detect by incident kind and size, and false alerts per series-day on quiet data.

Prints, never asserts. ``python -m benchmarks.time_to_detect [--series N]``

- **Demo**: one detection cycle over the demo's week (``bot/metrics/demo/scenarios.py``), each
  injected incident's delay from its start to the decision that fired (``fired_at``: causal,
  the decision at a point uses only points up to it).
- **Synthetic**: per-minute series with the demo's daily traffic shape (``traffic_shape``) at
  normal traffic (12:00-22:00: 360 to 1,400 requests a minute; 60 at night), each endpoint's p95
  latency (noise of a quantile of that many requests) and error ratio (Poisson errors around
  0.5%; SLO 1% errors). Steps of 1.5×, 3× and 10× in latency and error-ratio burns of 3×, 10×
  and 40× are injected at a spread of daytime minutes (12:00-22:00), one per series; the
  delay is from the step to the first anomaly of that series. The same series without steps
  give the false alerts per series-day over the last 7 days.

The detector reads at ``bot.detection.source_step`` when it exists (the source's resolution,
here 1 minute), else at 5 minutes (before it existed): the per-minute data are aggregated to
that step as a range query would (sums of requests and errors; the mean of the minutes' p95).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from bot import detection
from bot.analytics.findings.grouping import find
from bot.analytics.findings.model import SeriesBatch, SeriesKey
from bot.analytics.slo import SLO
from bot.metrics.base import Signal, endpoint_column
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.metrics.demo.platform import traffic_shape

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAYS = 29  # 28 days of history and the day judged
MINUTES = DAYS * 1440
PEAK_RPM = 1000.0
BASE_ERRORS = 0.005
SLO_ERRORS = 0.01
LATENCY = 0.2
LATENCY_STEPS = (1.5, 3.0, 10.0)
ERROR_BURNS = (3.0, 10.0, 40.0)


def _step() -> timedelta:
    """The step the detector under test reads at, for a per-minute source."""
    finder = getattr(detection, "source_step", None)
    return timedelta(minutes=1) if finder is not None else timedelta(minutes=5)


def _minutes_shape() -> np.ndarray:
    times = pd.date_range(END - timedelta(days=DAYS), periods=MINUTES, freq="1min")
    return traffic_shape(times.hour + times.minute / 60, times.day_of_week)


def synthetic(kind: str, sizes: tuple[float, ...], per_size: int, seed: int, quiet: bool,
              step: timedelta) -> tuple[SeriesBatch, list[tuple[int, float, int]]]:
    """A batch of ``kind`` series at ``step``; each but the quiet gets a step in its last
    day: (row, size, minute of the step)."""
    rng = np.random.default_rng(seed)
    shape = _minutes_shape()
    n = len(sizes) * per_size
    requests = rng.poisson(PEAK_RPM * shape, size=(n, MINUTES)).astype(float)
    injected: list[tuple[int, float, int]] = []
    factor = np.ones((n, MINUTES))
    if not quiet:
        for i in range(n):
            size = sizes[i // per_size]
            # A spread of daytime minutes of the last day (it begins at END, 12:00 UTC):
            # 12:00 to 22:00, normal traffic.
            at = MINUTES - 1440 + int(rng.integers(0, 10 * 60))
            factor[i, at:] = size
            injected.append((i, size, at))
    signal = Signal.LATENCY if kind == "latency" else Signal.ERROR_RATIO
    keys = [SeriesKey(signal=signal, service=f"svc{i}", endpoint=f"GET /r{i}") for i in range(n)]
    k = round(step / timedelta(minutes=1))
    req = requests.reshape(n, -1, k).sum(axis=2)
    if kind == "latency":
        level = LATENCY * (1 + 0.2 * shape) * factor
        noise = 2.0 / np.sqrt(np.maximum(requests, 1))
        p95 = level * np.exp(noise * rng.standard_normal((n, MINUTES)))
        values = p95.reshape(n, -1, k).mean(axis=2)
    else:
        ratio = np.minimum(BASE_ERRORS * factor, 1.0)
        errors = rng.poisson(ratio * requests).astype(float)
        values = errors.reshape(n, -1, k).sum(axis=2) / np.maximum(req, 1)
    times = pd.date_range(END - timedelta(days=DAYS) + step, periods=values.shape[1],
                          freq=step)
    return SeriesBatch(keys=keys, times=times, values=values, requests=req), injected


def synthetic_delays(step: timedelta, per_size: int) -> None:
    slo = SLO(error_ratio=SLO_ERRORS)
    print(f"\nsynthetic, read at a {step} step ({per_size} series per size, normal traffic, "
          f"{PEAK_RPM:.0f} requests/min × the demo's daily shape: 12:00-22:00, 360-1,400)")
    print(f"{'incident':<26} {'found':>7} {'median':>8} {'worst':>8}")
    for kind, sizes, seed in (("latency", LATENCY_STEPS, 1), ("errors", ERROR_BURNS, 2)):
        batch, injected = synthetic(kind, sizes, per_size, seed, quiet=False, step=step)
        slos = {endpoint_column(k.service, k.endpoint or ""): slo for k in batch.keys}
        since = batch.times[-1440 // round(step / timedelta(minutes=1))].to_pydatetime()
        result = find(batch, since, slos)
        fired: dict[SeriesKey, list[datetime]] = {}
        for f in result.findings:
            for a in f.anomalies:
                fired.setdefault(a.key, []).append(a.fired_at)
        start = END - timedelta(days=DAYS)
        for size in sizes:
            delays = []
            for row, s, at in injected:
                if s != size:
                    continue
                began = start + timedelta(minutes=at)
                times = [t for t in fired.get(batch.keys[row], []) if t >= began]
                if times:
                    delays.append((min(times) - began).total_seconds() / 60)
            what = (f"latency step {size:g}x" if kind == "latency"
                    else f"error burn {size:g}x ({BASE_ERRORS * size:.1%})")
            found = f"{len(delays)}/{per_size}"
            med = f"{np.median(delays):.0f} min" if delays else "-"
            worst = f"{max(delays):.0f} min" if delays else "-"
            print(f"{what:<26} {found:>7} {med:>8} {worst:>8}")


def quiet_alerts(step: timedelta, series: int) -> None:
    slo = SLO(error_ratio=SLO_ERRORS)
    total_alerts = 0
    series_days = 0
    for kind, seed in (("latency", 11), ("errors", 12)):
        batch, _ = synthetic(kind, (1.0,), series, seed, quiet=True, step=step)
        slos = {endpoint_column(k.service, k.endpoint or ""): slo for k in batch.keys}
        since = batch.times[-7 * 1440 // round(step / timedelta(minutes=1))].to_pydatetime()
        result = find(batch, since, slos)
        alerts = sum(len(f.anomalies) for f in result.findings)
        total_alerts += alerts
        series_days += 7 * series
        print(f"quiet {kind}: {alerts} false alerts over {7 * series} series-days")
    print(f"quiet, all: {total_alerts / series_days:.4f} false alerts per series-day")


def demo_delays() -> None:
    backend = DemoBackend(DemoWorkload.generate(end=END, days=30, seed=7))
    t0 = time.perf_counter()
    report = detection.run_cycle(backend, END, timedelta(days=7))
    took = time.perf_counter() - t0
    anomalies = [a for f in report.result.findings for a in f.anomalies]
    print(f"demo (one cycle over the week: {took:.1f}s)")
    print(f"{'incident':<48} {'delay':>10}")
    for s in backend.workload.scenarios:
        hits = sorted(a.fired_at for a in anomalies if a.key.service == s.service
                       and a.key.signal is s.signal and a.fired_at >= s.start)
        print(f"{s.kind + ': ' + s.title:<48} {str(hits[0] - s.start) if hits else 'missed':>10}")
    quiet = detection.run_cycle(backend, END - timedelta(days=8), timedelta(days=7))
    series_days = quiet.result.series_checked * 7
    alerts = sum(len(f.anomalies) for f in quiet.result.findings)
    print(f"demo quiet week: {alerts} false alerts over {series_days} series-days")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=20, help="series per incident size")
    parser.add_argument("--quiet-series", type=int, default=100, help="quiet series per kind")
    args = parser.parse_args()
    demo_delays()
    step = _step()
    synthetic_delays(step, args.series)
    quiet_alerts(step, args.quiet_series)


if __name__ == "__main__":
    main()
