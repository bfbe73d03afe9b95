"""Time from question to answer against a real Prometheus, next to the raw PromQL it runs.

Usage: ``python benchmarks/ask_latency.py [--runs N] [--days D]``

Starts Prometheus the way the tests do (``tests/prometheus_server.py``: the demo workload,
``D`` days ending 2026-11-23 12:00 UTC, backfilled with promtool, served on a free loopback
port with a query log), then for each question times ``N`` runs of ``ask`` (parse, queries,
figures and text), the same with the PNG chart drawn, and the raw round trips of the very
queries that answer sent (read back from Prometheus's query log and replayed over HTTP, one
after another, as the answer runs them). Prints one table of medians and p95s in
milliseconds; "bot overhead" is the text answer's median minus the raw queries' median.
Never asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import requests
from prom_bench import (
    END,
    backend_on,
    p95,
    queries_of,
    replay,
    sources_on,
    start_server,
    timed,
)

from bot.ask.answer import ask

QUESTIONS = [
    "p95 latency of checkout over the last 24h",
    "how is checkout doing today",
    "top 5 slowest endpoints",
    "which endpoints got slower since yesterday",
    "did order history get slower after 2026-11-22 18:00",
    "is checkout meeting its SLO over the last 2 days",
    "slos today",
    "how much does checkout cost per day over the last 2 days",
    "cpu of search",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="perfbot-ask-bench-") as tmp:
        started = time.perf_counter()
        server = start_server(args.days, Path(tmp))
        try:
            print(f"Prometheus ready in {time.perf_counter() - started:.1f}s at {server.url} "
                  f"({args.days} days of demo data); {args.runs} runs per figure")
            sources = sources_on(backend_on(server))
            log = server.query_log
            assert log is not None
            session = requests.Session()
            header = (f"{'question':<56} {'kind':<7} {'queries':>7} {'text ms':>15} "
                      f"{'text+chart ms':>15} {'raw PromQL ms':>15} {'bot overhead':>12}")
            print(header)
            print(f"{'':<56} {'':<7} {'':>7} {'median / p95':>15} {'median / p95':>15} "
                  f"{'median / p95':>15} {'ms (median)':>12}")
            for question in QUESTIONS:
                ask(question, sources, END)  # warm up: metric names, bucket bounds
                offset = log.stat().st_size
                reply = ask(question, sources, END)
                sent = queries_of(log, offset)
                text = timed(partial(ask, question, sources, END), args.runs)
                chart = timed(partial(ask, question, sources, END, chart=True), args.runs)
                raw = timed(partial(replay, session, server.url, sent), args.runs)
                print(
                    f"{question[:56]:<56} {reply.kind.value:<7} {len(sent):>7} "
                    f"{statistics.median(text):>7.1f} / {p95(text):<5.1f} "
                    f"{statistics.median(chart):>7.1f} / {p95(chart):<5.1f} "
                    f"{statistics.median(raw):>7.1f} / {p95(raw):<5.1f} "
                    f"{statistics.median(text) - statistics.median(raw):>12.1f}"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
