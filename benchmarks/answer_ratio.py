"""How much an answer costs next to the one PromQL query of its headline figure.

Usage: ``python benchmarks/answer_ratio.py [--runs N] [--days D] [--show-queries]``

On a real Prometheus loaded with the demo workload (``prom_bench``: the set-up of
``ask_latency.py``), for each class of question (value, comparison, ranking, trend with
sparkline, SLO, cost): the warm text answer's median over ``N`` runs, the number of HTTP
requests it makes (counted on the bot's own HTTP session, so discovery and bucket look-ups
count too), and the median of the headline figure's raw PromQL, one instant query built by
the bot's own query builders (``bot/metrics/promql.py``) and sent over HTTP the same way.
The ratio is answer / raw; the issue's goal is at most 1.5 for a value question and 3 with a
comparison and sparkline. ``samples`` is the samples Prometheus read for the answer's
queries over those its headline query read (``totalQueryableSamples`` in its query log): the
server's share of the work, which the clock of a loaded machine blurs; ``–`` when the
headline read none. ``cpu ms`` is the bot's own CPU time per answer (all
its threads). ``--show-queries`` prints the PromQL each answer sent (from Prometheus's query
log), with the points and samples of each. Never asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import requests
from prom_bench import END, backend_on, queries_of, sources_on, start_server, timed

from bot.ask.answer import ask
from bot.demo_settings import DEMO_COST
from bot.metrics import promql
from bot.metrics.base import Endpoint
from bot.metrics.prometheus import PrometheusBackend

DAY = timedelta(days=1)
Headline = Callable[[PrometheusBackend, Endpoint], str]


def _p95(window: timedelta, one: bool = True) -> Headline:
    return lambda backend, checkout: promql.latency_query(
        backend.http_metrics(), 0.95, window, [checkout] if one else None)


def _cost(backend: PrometheusBackend, checkout: Endpoint) -> str:
    # The cost answer's figure is OpenCost's hourly cost of the service, per day.
    return promql.opencost_hourly_query(backend.saturation.service_label, [checkout.service])


# (class, question, the headline figure's PromQL)
QUESTIONS: list[tuple[str, str, Headline]] = [
    ("value", "p95 latency of checkout over the last 24h", _p95(DAY)),
    ("comparison", "p95 latency of checkout over the last 24h vs the day before", _p95(DAY)),
    ("ranking", "top 5 slowest endpoints over the last 24h", _p95(DAY, one=False)),
    ("trend+spark", "how is checkout doing over the last 24h", _p95(DAY)),
    ("SLO", "is checkout meeting its SLO over the last 2 days", _p95(2 * DAY)),
    ("cost", "how much does checkout cost per day over the last 2 days", _cost),
]


class Counting:
    """Counts the HTTP requests of a ``requests.Session`` (a response hook)."""

    def __init__(self, session: requests.Session) -> None:
        self.count = 0
        session.hooks["response"].append(self._seen)

    def _seen(self, response: requests.Response, *_: Any, **__: Any) -> None:
        self.count += 1


def _samples(log: Path, offset: int,
             params: list[dict[str, Any]] | None = None) -> int:
    """Samples read by the queries logged after ``offset`` (or, with ``params``, by the
    first logged query with each of those parameters)."""
    with log.open("rb") as file:
        file.seek(offset)
        entries = [json.loads(line) for line in file.read().decode("utf-8").splitlines()
                   if line.strip()]
    if params is not None:
        chosen = []
        for p in params:
            chosen.append(next(e for e in entries if e["params"] == p))
        entries = chosen
    return sum(int(e.get("stats", {}).get("samples", {}).get("totalQueryableSamples", 0))
               for e in entries)


def _points(params: dict[str, Any]) -> int:
    """How many instants a logged query was evaluated at (1 for an instant query)."""
    if not params.get("step"):
        return 1
    # The query log writes times as RFC 3339 and the step in seconds.
    start, end = (datetime.fromisoformat(params[k].replace("Z", "+00:00"))
                  for k in ("start", "end"))
    return int((end - start).total_seconds() // float(params["step"])) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--show-queries", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="perfbot-ratio-bench-") as tmp:
        started = time.perf_counter()
        server = start_server(args.days, Path(tmp))
        try:
            print(f"Prometheus ready in {time.perf_counter() - started:.1f}s at {server.url} "
                  f"({args.days} days of demo data); {args.runs} warm runs per figure")
            backend = backend_on(server)
            sources = sources_on(backend, cost=DEMO_COST)
            counter = Counting(backend._client._session)
            found = sources.catalog.resolve("checkout").single
            assert found is not None, "the demo has a checkout endpoint"
            checkout = found.endpoint
            log = server.query_log
            assert log is not None
            session = requests.Session()
            when = str(END.timestamp())
            print(f"{'class':<12} {'kind':<7} {'HTTP':>5} {'answer ms':>10} {'cpu ms':>7} "
                  f"{'raw ms':>8} {'ratio':>6} {'samples':>7}  question")
            for name, question, headline in QUESTIONS:
                ask(question, sources, END)  # warm up: metric names, bucket bounds
                offset, before = log.stat().st_size, counter.count
                reply = ask(question, sources, END)
                requests_made = counter.count - before
                sent = queries_of(log, offset)
                cpu_started = time.process_time()
                answer = statistics.median(timed(partial(ask, question, sources, END),
                                                 args.runs))
                # The bot's own CPU per answer (all its threads): what a loaded machine's
                # clock does not blur; the server's share is ``samples``.
                cpu = (time.process_time() - cpu_started) * 1000 / args.runs
                query = headline(backend, checkout)

                def raw(query: str = query) -> None:
                    response = session.get(f"{server.url}/api/v1/query",
                                           params={"query": query, "time": when})
                    response.raise_for_status()

                raw_ms = statistics.median(timed(raw, args.runs))
                # Samples Prometheus read (its query log): the server's work, which a
                # loaded machine's clock does not blur.
                offset = log.stat().st_size
                raw()
                read, headline_read = _samples(log, 0, params=sent), _samples(log, offset)
                work = f"{read / headline_read:.1f}" if headline_read else "–"
                print(f"{name:<12} {reply.kind.value:<7} {requests_made:>5} {answer:>10.1f} "
                      f"{cpu:>7.1f} {raw_ms:>8.1f} {answer / raw_ms:>6.1f} {work:>7}  "
                      f"{question}")
                if args.show_queries:
                    print(f"{'':<12} headline: {query}")
                    print(f"{'':<12} headline reads {headline_read} samples")
                    for p in sent:
                        kind = f"range {p.get('step')}" if p.get("step") else "instant"
                        points = _points(p)
                        print(f"{'':<12} sent ({kind}, {points} point{'s' * (points != 1)}, "
                              f"{_samples(log, 0, params=[p])} samples): "
                              f"{' '.join(p['query'].split())}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
