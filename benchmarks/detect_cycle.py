"""Time one detection cycle over 10,000 series with four weeks of 5-minute history each.

Synthetic series (daily rhythm, noise, 1% with an injected step) go straight into
``bot.analytics.findings.grouping.find``: the decision's cost, without the metrics server's. Every
series is distinct (one of each signal per service), and each injected step clears its
signal's guards (the error ratio gains 5 points: tripling 0.3% would stay under the 2-point
minimum on purpose), so recall should be 100%. Prints, never asserts.
``python -m benchmarks.detect_cycle [--series N]``

``--prometheus DAYS``: instead, a detection read (``read_batch``) of DAYS of history against a
real Prometheus loaded with the demo, cold (a new ``ReadCache``: the whole history) and then
warm (the next ticks read only their newest steps), with the points asked (query log).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.grouping import find
from bot.analytics.findings.model import (
    DEFAULT_FINDINGS,
    FindingsResult,
    SeriesBatch,
    SeriesKey,
)
from bot.metrics.base import Signal

PER_DAY = 288
DAYS = 28
STEP_POINTS = 100  # the steps begin 100 points (8h20m) before the end
SIGNALS = (Signal.LATENCY, Signal.ERROR_RATIO, Signal.THROUGHPUT, Signal.CPU, Signal.MEMORY)
LEVEL = {Signal.LATENCY: 0.2, Signal.ERROR_RATIO: 0.003, Signal.THROUGHPUT: 20.0,
         Signal.CPU: 0.3, Signal.MEMORY: 0.5}


def keys_for(n: int) -> list[SeriesKey]:
    """Series ``i`` is signal ``i % 5`` of service ``i // 5`` (its endpoint for HTTP ones)."""
    keys = []
    for i in range(n):
        signal = SIGNALS[i % 5]
        service = f"svc{i // 5}"
        endpoint = None if signal in (Signal.CPU, Signal.MEMORY) else f"GET /r{i // 5}"
        keys.append(SeriesKey(signal=signal, service=service, endpoint=endpoint))
    return keys


def synthetic(n: int, seed: int = 0) -> tuple[SeriesBatch, np.ndarray]:
    """The batch and the rows with an injected step."""
    rng = np.random.default_rng(seed)
    t = DAYS * PER_DAY
    times = pd.date_range(datetime(2026, 10, 1, tzinfo=UTC), periods=t, freq="5min")
    shape = 1 + 0.3 * np.sin(np.arange(t) * 2 * np.pi / PER_DAY)
    keys = keys_for(n)
    level = np.array([LEVEL[k.signal] for k in keys])
    values = level[:, None] * shape * (1 + 0.05 * rng.standard_normal((n, t)))
    stepped = np.sort(rng.choice(n, n // 100, replace=False))
    for i in stepped:
        signal = keys[i].signal
        tail = values[i, t - STEP_POINTS :]
        if signal is Signal.THROUGHPUT:
            tail *= 0.3
        elif signal is Signal.ERROR_RATIO:
            tail += 0.05
        elif signal is Signal.MEMORY:
            tail += 0.3
        else:
            tail *= 3.0
    requests = np.where(np.array([k.endpoint is not None for k in keys])[:, None],
                        6000.0 * shape, np.nan)
    return SeriesBatch(keys=keys, times=times, values=values, requests=requests), stepped


def recall(result: FindingsResult, batch: SeriesBatch, stepped: np.ndarray,
           step_at: datetime) -> tuple[float, int]:
    """Share of the stepped series with an anomaly since their step, and anomalies elsewhere."""
    hit = {a.key for f in result.findings for a in f.anomalies if a.fired_at >= step_at}
    flagged = {a.key for f in result.findings for a in f.anomalies}
    wanted = {batch.keys[i] for i in stepped}
    return len(hit & wanted) / max(1, len(wanted)), len(flagged - wanted)


def read_ticks(days: int) -> None:
    """A cold detection read, then warm ticks 2, 4 and 30 minutes later, against a real
    Prometheus with ``days`` + 1 days of the demo."""
    from prom_bench import END, backend_on, start_server

    from bot.detection import ReadCache, read_batch

    def points(log: Path, offset: int) -> int:
        total = 0
        for line in log.read_bytes()[offset:].decode("utf-8").splitlines():
            params = json.loads(line)["params"] if line.strip() else {}
            if params.get("step"):
                span = (datetime.fromisoformat(params["end"])
                        - datetime.fromisoformat(params["start"])).total_seconds()
                total += int(span // float(params["step"])) + 1
        return total

    history = timedelta(days=days)
    with tempfile.TemporaryDirectory() as workdir:
        t0 = time.perf_counter()
        server = start_server(days + 1, Path(workdir))
        print(f"Prometheus with {days + 1} days of the demo ready in "
              f"{time.perf_counter() - t0:.0f}s")
        try:
            backend = backend_on(server)
            log = server.query_log
            assert log is not None
            reads = ReadCache()
            start = END - timedelta(hours=1)
            for label, at, cache in (
                ("whole read, no cache", start, None),
                ("cold cache (first tick)", start, reads),
                ("warm cache, +2 min", start + timedelta(minutes=2), reads),
                ("warm cache, +4 min", start + timedelta(minutes=4), reads),
                ("warm cache, +30 min", start + timedelta(minutes=30), reads),
            ):
                offset = log.stat().st_size if log.exists() else 0
                t0 = time.perf_counter()
                batch, _, problems = read_batch(backend, at, history, reads=cache)
                took = time.perf_counter() - t0
                print(f"{label}: {took:.2f}s, {points(log, offset)} points asked, "
                      f"{len(batch.keys)} series × {len(batch.times)} steps, "
                      f"{len(problems)} problems")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--tier-off", action="store_true",
                        help="without decide's surprise tier (its cost: run both)")
    parser.add_argument("--prometheus", type=int, metavar="DAYS",
                        help="time a detection read against a real Prometheus instead")
    args = parser.parse_args()
    if args.prometheus:
        read_ticks(args.prometheus)
        return
    t0 = time.perf_counter()
    batch, stepped = synthetic(args.series)
    print(f"{args.series} series × {len(batch.times)} points generated in "
          f"{time.perf_counter() - t0:.1f}s; {len(stepped)} with an injected step")
    config = DEFAULT_FINDINGS
    if args.tier_off:
        config = config.model_copy(update={"surprise_alarm": None})
    print(f"surprise tier: {config.surprise_alarm or 'off'}; times are wall (CPU) seconds")
    end = batch.times[-1].to_pydatetime()
    step_at = batch.times[-STEP_POINTS].to_pydatetime()
    for window in (timedelta(hours=1), timedelta(days=7)):
        t0, c0 = time.perf_counter(), time.process_time()
        result = find(batch, end - window, config=config)
        took = f"{time.perf_counter() - t0:.2f}s ({time.process_time() - c0:.2f}s)"
        found, others = recall(result, batch, stepped, step_at)
        print(f"cycle over the last {window}: {took}, {len(result.findings)} findings, "
              f"{result.series_scored} series scored, {len(result.problems)} problems; "
              f"recall {found:.0%} of the injected steps, {others} other series flagged")
    # Streaming: the cycle 5 minutes earlier filled the cache; this one reuses its days.
    cache = BaselineCache()
    earlier = SeriesBatch(batch.keys, batch.times[:-1], batch.values[:, :-1],
                          batch.requests[:, :-1])
    for window in (timedelta(hours=1), timedelta(days=7)):
        find(earlier, end - window - timedelta(minutes=5), config=config, cache=cache)
        t0, c0 = time.perf_counter(), time.process_time()
        result = find(batch, end - window, config=config, cache=cache)
        took = f"{time.perf_counter() - t0:.2f}s ({time.process_time() - c0:.2f}s)"
        found, others = recall(result, batch, stepped, step_at)
        print(f"next cycle over the last {window} with cached baselines: {took}, "
              f"{len(result.findings)} findings, recall {found:.0%}, {others} other flagged")


if __name__ == "__main__":
    main()
