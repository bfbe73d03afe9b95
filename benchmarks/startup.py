"""Start-up time of the command line: what a person waits for before any answer.

Usage: ``python benchmarks/startup.py [--runs N]``

Runs ``perfbot --help``, ``perfbot check-config`` (built-in defaults: the demo workload) and
``perfbot ask "p95 of checkout"`` (the demo) ``N`` times each, every run a fresh process
(``python -m bot``, from an empty folder so no ./perfbot.yaml is read), and prints the median
and slowest wall time. Then ``python -X importtime`` of each command and the 10 modules with
the largest cumulative import time, and whether pandas, scipy or matplotlib were imported at
all. Never asserts a time: on a busy machine these figures move.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "perfbot --help": ["--help"],
    "perfbot check-config": ["check-config"],
    'perfbot ask "p95 of checkout"': ["ask", "p95 of checkout"],
}
HEAVY = ("pandas", "scipy", "matplotlib", "sqlalchemy", "slack_sdk")


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PERFBOT_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run(argv: list[str], cwd: str, *, importtime: bool = False) -> tuple[float, str]:
    """Wall seconds of one fresh ``python -m bot ARGV``, and its stderr."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "bot", *argv]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True,
                          timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stderr


def import_times(stderr: str) -> list[tuple[int, str]]:
    """(cumulative µs, module) of each ``-X importtime`` line."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        rows.append((int(cumulative), name[1:].rstrip()))  # "| name": one space, then nesting
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfbot-startup-") as cwd:
        print(f"{args.runs} fresh processes per command ({sys.executable}, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
        print(f"{'command':<32} {'median s':>9} {'slowest s':>10}")
        for label, argv in COMMANDS.items():
            run(argv, cwd)  # warm the disk cache and the .pyc files
            times = [run(argv, cwd)[0] for _ in range(args.runs)]
            print(f"{label:<32} {statistics.median(times):>9.2f} {max(times):>10.2f}")
        for label, argv in COMMANDS.items():
            rows = import_times(run(argv, cwd, importtime=True)[1])
            names = {name.strip() for _, name in rows}
            heavy = [m for m in HEAVY if m in names]
            total = sum(c for c, name in rows if not name.startswith(" "))  # top level only
            print(f"\n{label}: {len(rows)} modules imported in {total / 1e6:.2f} s; "
                  f"of {', '.join(HEAVY)}: {', '.join(heavy) or 'none'}")
            print(f"  {'cumulative ms':>13}  module (indent: imported by the one above)")
            for cumulative, name in sorted(rows, reverse=True)[:10]:
                print(f"  {cumulative / 1000:>13.1f}  {name}")


if __name__ == "__main__":
    main()
