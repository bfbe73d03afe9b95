"""The demo workload as OpenMetrics files for ``promtool tsdb create-blocks-from openmetrics``:
the first one-shot step of docker-compose.yml (run with the perfbot image's Python).

    python deploy/backfill.py OUT_DIR [--days 8] [--seed 7] [--end 2026-11-23T12:00Z]

One file per 2 h block, as tests/prometheus_server.py writes them: promtool reads its whole
input once per block, so one large file would make a month's backfill quadratic.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from bot.metrics.demo import DemoWorkload
from bot.metrics.local_prometheus import block_spans
from bot.metrics.openmetrics import write_openmetrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for the .om files")
    parser.add_argument("--days", type=int, default=8, help="days of data (default 8)")
    parser.add_argument("--seed", type=int, default=7, help="the demo's seed (default 7)")
    parser.add_argument("--end", type=datetime.fromisoformat, default=None,
                        help="when the data ends (default: now)")
    args = parser.parse_args()
    end = args.end or datetime.now(UTC)
    workload = DemoWorkload.generate(end=end, days=args.days, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    spans = block_spans(workload.start, workload.end)
    for number, (first, last) in enumerate(spans):
        with (args.out / f"demo-{number:04d}.om").open("w", encoding="utf-8") as out:
            write_openmetrics(workload, out, first, last)
    print(f"backfill: {len(spans)} files, {workload.describe_span()}, in {args.out}")


if __name__ == "__main__":
    main()
