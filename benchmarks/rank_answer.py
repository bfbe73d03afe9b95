"""One ranking answer over many endpoints, in-process: its memory, CPU and what it reads.

Usage: ``python benchmarks/rank_answer.py [--endpoints 1000] [--hours 4] [--dump FILE]``

The load benchmark's workload (``load.py``: the demo's 13 endpoints copied under numbered
service names until there are ``--endpoints``, its last ``--hours`` at one-minute samples)
backfilled into a real Prometheus. For each ranking question, a warm answer (discovery and
bucket bounds read by a first one): the peak of the memory Python allocated during it
(tracemalloc, above what was held before; a second answer, as tracing slows it), the bot's
CPU time (all its threads; the untraced answer), the HTTP requests, the series the
responses held (range and instant), and the response bytes.
``--dump`` writes each answer (text, table, notes, the chart's alt text and PNG digest) as
JSON, to compare two versions of the code. Prints figures, never asserts; not part of pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the real parts' helpers live in tests/

from benchmarks.load import write_blocks  # noqa: E402
from bot.ask.answer import Sources, ask  # noqa: E402
from bot.catalog import Catalog  # noqa: E402
from bot.catalog.settings import CatalogSettings  # noqa: E402
from bot.metrics.demo import DemoWorkload  # noqa: E402
from bot.metrics.prometheus import PrometheusBackend  # noqa: E402
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics  # noqa: E402
from bot.render.message import Answer  # noqa: E402
from tests.conftest import DEMO_END  # noqa: E402
from tests.prometheus_server import PrometheusServer  # noqa: E402
from tests.workloads import scaled  # noqa: E402

QUESTIONS = (
    "top 5 slowest endpoints",
    "which endpoints have the most errors",
    "top 5 slowest services",
)


class Reads:
    """Requests, series and bytes of a ``requests.Session``'s responses (a response hook)."""

    def __init__(self, session: requests.Session) -> None:
        self.requests = self.series = self.bytes = 0
        session.hooks["response"].append(self._seen)

    def _seen(self, response: requests.Response, *_: Any, **__: Any) -> None:
        self.requests += 1
        self.bytes += len(response.content)
        self.series += response.content.count(b'"metric":')


def as_json(reply: Answer) -> dict[str, Any]:
    chart = reply.chart
    return {"headline": reply.headline,
            "table": None if reply.table is None else [list(reply.table.headers),
                                                        [list(r) for r in reply.table.rows]],
            "notes": list(reply.notes),
            "chart": None if chart is None else [chart.alt,
                                                  hashlib.sha256(chart.png).hexdigest()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=4)
    parser.add_argument("--dump", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="perfbot-rank-") as tmp:
        workdir = Path(tmp)
        began = time.perf_counter()
        workload = scaled(DemoWorkload.generate(end=DEMO_END, days=1, seed=7), args.endpoints)
        files = write_blocks(workload, args.hours, workdir)
        count = len(workload.endpoints)
        del workload
        dumped = {}
        with PrometheusServer(files, workdir / "store") as server:
            print(f"{count} endpoints, {args.hours}h at 1m in Prometheus: loaded in "
                  f"{time.perf_counter() - began:.0f} s")
            backend = PrometheusBackend(
                PrometheusSettings(url=server.url, timeout=timedelta(seconds=120), retries=0,
                                   discovery_lookback=timedelta(hours=args.hours)),
                MetricNames(), SaturationMetrics(), clock=lambda: DEMO_END)
            sources = Sources(backend=backend, tz=ZoneInfo("UTC"),
                              catalog=Catalog.build(backend.endpoints(), CatalogSettings()))
            reads = Reads(backend._client._session)
            print(f"{'requests':>8} {'series':>7} {'MB read':>8} {'peak MB':>8} {'cpu s':>6} "
                  f"{'wall s':>7}  question")
            for question in QUESTIONS:
                ask(question, sources, DEMO_END, chart=True)  # warm: names, bucket bounds
                before = (reads.requests, reads.series, reads.bytes)
                cpu, wall = time.process_time(), time.perf_counter()
                reply = ask(question, sources, DEMO_END, chart=True)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                # Traced apart: tracemalloc slows Python several times over.
                tracemalloc.start()
                ask(question, sources, DEMO_END, chart=True)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                made, series, read = (now - then for now, then in zip(
                    (reads.requests, reads.series, reads.bytes), before, strict=True))
                made, series, read = made // 2, series // 2, read // 2  # two answers
                print(f"{made:>8} {series:>7} {read / 2**20:>8.1f} {peak / 2**20:>8.1f} "
                      f"{cpu:>6.2f} {wall:>7.2f}  {question}")
                dumped[question] = as_json(reply)
    if args.dump:
        args.dump.write_text(json.dumps(dumped, indent=1), encoding="utf-8")
        print(f"answers written to {args.dump}")


if __name__ == "__main__":
    main()
