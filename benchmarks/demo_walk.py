"""How long ``perfbot demo`` takes, in all and per step: what a new user waits for.

Usage: ``python benchmarks/demo_walk.py [--runs N] [--prometheus]``

Runs ``perfbot demo --no-prompt`` ``N`` times (default 3), every run a fresh process
(``python -m bot``, from an empty folder so no ./perfbot.yaml is read, output unbuffered),
and stamps each line of its output as it arrives: a step's time is from its heading to the
next one ("start" is everything before the first heading: imports, the workload, the bot;
"end" the store's record and the charts' list). Prints the median and slowest of each.
With ``--prometheus`` the walk goes through a local Prometheus, loading included. Never
asserts a time: on a busy machine these figures move.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADING = re.compile(r"^━━ (\d)\. (.+?) ━━")


def one_run(extra: list[str]) -> dict[str, float]:
    """Seconds per step of one fresh ``perfbot demo --no-prompt``."""
    env = {k: v for k, v in os.environ.items() if k != "PERFBOT_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    with tempfile.TemporaryDirectory() as cwd:
        command = [sys.executable, "-m", "bot", "demo", "--no-prompt", "--charts",
                   str(Path(cwd) / "charts"), *extra]
        started = last = time.perf_counter()
        step = "start"
        times: dict[str, float] = {}
        with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None and process.stderr is not None
            for line in process.stdout:
                found = HEADING.match(line) or (line.startswith("━━ The store") and line)
                if found:
                    now = time.perf_counter()
                    times[step] = now - last
                    last = now
                    step = (f"{found.group(1)}. {found.group(2)}"
                            if isinstance(found, re.Match) else "end")
            errors = process.stderr.read()
        ended = time.perf_counter()
        if process.returncode != 0:
            raise SystemExit(f"perfbot demo failed ({process.returncode}): {errors[-2000:]}")
        times[step] = ended - last
        times["total"] = ended - started
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prometheus", action="store_true")
    args = parser.parse_args()
    runs = [one_run(["--prometheus"] if args.prometheus else []) for _ in range(args.runs)]
    print(f"perfbot demo --no-prompt{' --prometheus' if args.prometheus else ''}: "
          f"{args.runs} fresh processes, {os.cpu_count()} cores")
    width = max(len(step) for step in runs[0])
    print(f"{'STEP':<{width}}  {'MEDIAN':>8}  {'SLOWEST':>8}")
    for step in runs[0]:
        values = [run[step] for run in runs if step in run]
        print(f"{step:<{width}}  {statistics.median(values):7.2f}s  {max(values):7.2f}s")


if __name__ == "__main__":
    main()
