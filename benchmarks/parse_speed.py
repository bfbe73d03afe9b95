"""How fast the question parser reads: questions per second over the corpus.

Usage: ``python benchmarks/parse_speed.py [--rounds N]``

Parses every question of ``tests/data/questions.yaml`` against the demo platform's catalog
(and a 200-route catalog, to see how resolution scales), ``N`` rounds each, and prints one
table: questions per second, mean, p99 and worst time per question. "cold" rounds use a
freshly built catalog each time, so nothing is remembered between rounds (the parser keeps a
memo of catalog look-ups and spelling per catalog); "warm" rounds reuse one catalog, as a
running bot does. A 10 kB question is timed on its own. Prints figures, never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from bot.ask.parsing.parser import parse
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings
from bot.metrics.base import Endpoint
from bot.metrics.demo import DemoWorkload

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "data" / "questions.yaml"


def demo_endpoints(now: datetime) -> list[Endpoint]:
    return DemoWorkload.generate(now.astimezone(UTC), days=1).endpoints


def large_endpoints() -> list[Endpoint]:
    """200 routes over 20 services, named the way real APIs are."""
    nouns = ["orders", "users", "carts", "items", "invoices", "refunds", "stores", "menus",
             "drivers", "routes"]  # fmt: skip
    verbs = ["search", "history", "status", "export", "summary"]
    endpoints = []
    for s in range(20):
        service = f"svc{s:02d}"
        for i in range(10):
            noun, verb = nouns[(s + i) % len(nouns)], verbs[i % len(verbs)]
            route = f"/api/v{1 + i % 2}/{service}/{noun}/{verb}"
            endpoints.append(Endpoint(service=service, method="GET", route=route))
    return endpoints


def timed(questions: list[str], catalog: Catalog, now: datetime, tz: ZoneInfo) -> list[float]:
    times = []
    for text in questions:
        started = time.perf_counter()
        parse(text, catalog, now, tz)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    corpus = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    now = datetime.fromisoformat(corpus["now"])
    tz = ZoneInfo(corpus["tz"])
    questions = [str(entry["q"]) for entry in corpus["questions"]]
    catalogs = {
        "demo (12 routes)": demo_endpoints(now),
        "generated (200 routes)": large_endpoints(),
    }

    print(f"{len(questions)} questions x {args.rounds} rounds")
    print(f"{'catalog':<24} {'memo':<5} {'questions/s':>12} {'mean ms':>9} {'p99 ms':>9} "
          f"{'max ms':>9}")
    for name, endpoints in catalogs.items():
        for memo in ("cold", "warm"):
            warm = Catalog.build(endpoints, CatalogSettings())
            timed(questions, warm, now, tz)
            times: list[float] = []
            for _ in range(args.rounds):
                fresh = Catalog.build(endpoints, CatalogSettings())
                times.extend(timed(questions, fresh if memo == "cold" else warm, now, tz))
            times.sort()
            p99 = times[int(0.99 * (len(times) - 1))]
            print(f"{name:<24} {memo:<5} {len(times) / sum(times):>12,.0f} "
                  f"{statistics.mean(times) * 1e3:>9.3f} {p99 * 1e3:>9.3f} "
                  f"{times[-1] * 1e3:>9.3f}")

    big = "p95 of checkout " + "and some more words " * 520
    catalog = Catalog.build(catalogs["demo (12 routes)"], CatalogSettings())
    runs = timed([big] * 20, catalog, now, tz)
    print(f"10 kB question ({len(big):,} chars): mean {statistics.mean(runs) * 1e3:.2f} ms, "
          f"max {max(runs) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
