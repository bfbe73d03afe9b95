"""What a range answer from Prometheus costs the bot: its JSON size, and the memory it takes
once read and checked (``bot.metrics.prometheus.shapes``), by number of series.

Usage: ``python benchmarks/answer_size.py [--series 2000 20000] [--points 301]``

Each size runs in a fresh child process (peak RSS is per process): the child reads the JSON
from a temporary file, then parses it as the client does; the table shows the RSS with the
body read and after parsing, and the parse time. This is what ``metrics.prometheus.
max_response_mb`` is sized by. Prints figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_answer(path: Path, series: int, points: int) -> None:
    """One series at a time, so this process stays small (a child starts with its RSS)."""
    labels = {"__name__": "http_server_request_duration_seconds", "service_name": "shop",
              "http_request_method": "GET"}
    with path.open("w", encoding="utf-8") as out:
        out.write('{"status":"success","data":{"resultType":"matrix","result":[')
        for n in range(series):
            one = {"metric": {**labels, "http_route": f"/api/route/{n}"},
                   "values": [[1700000000 + 300 * k, f"{0.123456 + k * 1e-4:.6f}"]
                              for k in range(points)]}
            out.write(("," if n else "") + json.dumps(one))
        out.write("]}}")


def measure(path: Path) -> None:
    """In the child: read, parse, print one JSON line."""
    from bot.metrics.prometheus.shapes import MatrixAnswer

    body = path.read_bytes()
    with_body = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    MatrixAnswer.model_validate_json(body)
    seconds = time.perf_counter() - started
    parsed = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"mb": len(body) / 2**20, "with_body": with_body / 1024,
                      "parsed": parsed / 1024, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, nargs="+", default=[200, 2000, 20000])
    parser.add_argument("--points", type=int, default=301)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    print(f"| series × {args.points} points | JSON MB | RSS with body MB | RSS parsed MB | "
          "parsed ÷ JSON | parse s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for series in args.series:
            path = Path(folder) / f"answer-{series}.json"
            write_answer(path, series, args.points)
            line = subprocess.run([sys.executable, __file__, "--measure", str(path)],
                                  check=True, capture_output=True, text=True, cwd=REPO).stdout
            got = json.loads(line)
            growth = (got["parsed"] - got["with_body"]) / got["mb"]
            print(f"| {series:,} | {got['mb']:.1f} | {got['with_body']:.0f} | "
                  f"{got['parsed']:.0f} | {growth:.1f} | {got['seconds']:.2f} |")
            path.unlink()


if __name__ == "__main__":
    main()
