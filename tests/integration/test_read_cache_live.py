"""The detection's read cache against a real Prometheus loaded with the demo: each tick's batch
is exactly what a whole read gives, and the ticks after the first ask for far fewer points."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from bot.detection import ReadCache, read_batch
from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import DEMO_END
from tests.prometheus_server import PrometheusServer

HISTORY = timedelta(days=2)


def points_asked(log: Path, offset: int) -> int:
    """The points per series of the range queries in the query log from ``offset`` on."""
    with log.open("rb") as file:
        file.seek(offset)
        lines = file.read().decode("utf-8").splitlines()
    total = 0
    for line in lines:
        params = json.loads(line)["params"] if line.strip() else {}
        if params.get("step"):
            start = datetime.fromisoformat(params["start"])
            end = datetime.fromisoformat(params["end"])
            total += int((end - start).total_seconds() // float(params["step"])) + 1
    return total


def test_ticks_with_the_read_cache_equal_whole_reads_and_read_only_what_is_new(
    prometheus_server: PrometheusServer, prometheus_backend: PrometheusBackend,
) -> None:
    log = prometheus_server.query_log
    assert log is not None
    reads = ReadCache()
    start = DEMO_END - timedelta(hours=5)
    # The same step again, the next ones, a quarter of an hour, two hours, the demo's end.
    ticks = [start, start + timedelta(minutes=1), start + timedelta(minutes=3),
             start + timedelta(minutes=8), start + timedelta(minutes=25),
             start + timedelta(hours=2, minutes=25), DEMO_END]
    asked: list[int] = []
    for at in ticks:
        offset = log.stat().st_size if log.exists() else 0
        cached, _, problems = read_batch(prometheus_backend, at, HISTORY, reads=reads)
        asked.append(points_asked(log, offset))
        whole, _, whole_problems = read_batch(prometheus_backend, at, HISTORY)
        assert problems == whole_problems == []
        assert cached.keys == whole.keys, at
        assert cached.times.equals(whole.times), at
        np.testing.assert_array_equal(cached.values, whole.values, err_msg=str(at))
        np.testing.assert_array_equal(cached.requests, whole.requests, err_msg=str(at))
    print(f"points asked per tick: {asked}")
    first, later = asked[0], asked[1:]
    assert first >= 5 * 2 * 720  # five signals' two days at 2 minutes, at the least
    # The short steps ask for overlap and new steps only: a fiftieth of a whole read.
    assert all(n * 50 < first for n in later[:4])
    assert later[4] * 5 < first  # two hours of 2-minute steps
