"""Time to build a weekly digest against a real Prometheus, next to the raw PromQL it sends.

Usage: ``python benchmarks/digest_build.py [--runs N] [--days D]``

Starts Prometheus the way the tests do (``tests/prometheus_server.py``: the demo workload,
``D`` days ending 2026-12-03 06:00 UTC, backfilled with promtool, served on a free loopback
port with a query log). Builds the weekly digest once to warm up and to read back from the
query log the very queries it sends, then times ``N`` builds and ``N`` replays of those
queries straight over HTTP (requests, one after another, as the build runs them). Prints the
medians and their ratio (the goal is ≤ 1.5×). Never asserts a time.

The demo platform has its own endpoints (not 200): the figure is for those; see
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/prometheus_server.py starts the server

from prom_bench import queries_of, replay, timed  # noqa: E402

from bot.analytics.prices import CostSettings  # noqa: E402
from bot.catalog import Catalog  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.demo_settings import with_demo_defaults  # noqa: E402
from bot.digests.build import DigestSources, build_digest  # noqa: E402
from bot.metrics.demo import DemoWorkload  # noqa: E402
from bot.metrics.prometheus import PrometheusBackend  # noqa: E402
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics  # noqa: E402
from bot.playbooks.loading import load_playbooks  # noqa: E402
from tests.prometheus_server import PrometheusServer, find_binaries, write_demo_blocks  # noqa: E402

END = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfbot-digest-bench-") as tmp:
        started = time.perf_counter()
        workload = DemoWorkload.generate(end=END, days=args.days, seed=7)
        files = write_demo_blocks(workload, Path(tmp))
        server = PrometheusServer(files, Path(tmp), find_binaries(), query_log=True).start()
        try:
            print(f"Prometheus ready in {time.perf_counter() - started:.1f}s at {server.url} "
                  f"({args.days} days of demo data); {args.runs} runs per figure")
            backend = PrometheusBackend(
                PrometheusSettings(url=server.url, timeout=timedelta(seconds=60), retries=0),
                MetricNames(), SaturationMetrics(), clock=lambda: END)
            settings = with_demo_defaults(Settings())
            catalog = Catalog.build(backend.endpoints(), settings.catalog)
            sources = DigestSources(
                backend=backend, catalog=catalog, tz=UTC, cost=CostSettings(),
                deploys=workload.deploys, playbooks=load_playbooks(REPO / "playbooks").playbooks)
            log = server.query_log
            assert log is not None
            build_digest(sources, "weekly", END)  # warm up: metric names, bucket bounds
            offset = log.stat().st_size
            digest = build_digest(sources, "weekly", END)
            sent = queries_of(log, offset)
            built = timed(lambda: build_digest(sources, "weekly", END), args.runs)
            with requests.Session() as session:
                raw = timed(lambda: replay(session, server.url, sent), args.runs)
            b, r = statistics.median(built), statistics.median(raw)
            print(f"endpoints {len(catalog.entries)}, queries per digest {len(sent)}, "
                  f"regressions {len(digest.regressions)}")
            print(f"build median {b:.0f} ms, raw PromQL median {r:.0f} ms, ratio {b / r:.2f}x")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
