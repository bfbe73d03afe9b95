"""Start-up time of the command line: what a person waits for before any answer.

Usage: ``python benchmarks/startup.py [--runs N] [--no-prometheus] [--no-bytecode-cache]
[--instructions]``

Runs ``perfbot --help``, then ``perfbot check-config`` and ``perfbot ask "p95 of checkout"``
twice: on the built-in defaults (the demo workload) and on a settings file that points at a real
Prometheus (started here with one day of the demo workload backfilled, as
``tests/prometheus_server.py`` does; skipped with ``--no-prometheus``). ``N`` runs each, every
run a fresh process (``python -m bot``, from an empty folder so no ./perfbot.yaml is read but
the one written for the Prometheus rows), and prints the median and slowest wall time and the
median CPU time. Then ``python -X importtime`` of each command and the 10 modules with the
largest cumulative import time, and whether pandas, numpy, scipy, matplotlib, SQLAlchemy,
slack_sdk or pydantic were imported at all.
The commands read compiled bytecode, as an installed perfbot does (pip compiles at install):
the warm-up run writes it into a folder of its own (``PYTHONPYCACHEPREFIX``, under the
temporary folder), also when ``PYTHONDONTWRITEBYTECODE`` is set here, which would otherwise
have every run compile the bot's ~100 modules from source (~0.1–0.2 s CPU; see the figures
with ``--no-bytecode-cache``). ``--instructions`` also counts the instructions of one run of
each command under valgrind: a figure the machine's load does not move.
Never asserts a time: on a busy machine these figures move.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/prometheus_server.py starts the server

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEMO = {
    "perfbot --help": ["--help"],
    "perfbot check-config (demo)": ["check-config"],
    'perfbot ask "p95 of checkout" (demo)': ["ask", "p95 of checkout"],
}
HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "sqlalchemy", "slack_sdk", "pydantic")


def prometheus_commands(config: Path) -> dict[str, list[str]]:
    at = ["--config", str(config), "--at", END.isoformat()]
    return {
        "perfbot check-config (Prometheus)": ["check-config", *at],
        'perfbot ask "p95 of checkout" (Prom.)': ["ask", "p95 of checkout", *at],
    }


@contextlib.contextmanager
def prometheus_config(workdir: Path) -> Iterator[Path]:
    """A settings file for a real Prometheus holding a day of the demo workload."""
    from bot.metrics.demo import DemoWorkload
    from tests.prometheus_server import PrometheusServer, find_binaries, write_demo_blocks

    workload = DemoWorkload.generate(end=END, days=1, seed=7)
    workdir.mkdir(parents=True, exist_ok=True)
    files = write_demo_blocks(workload, workdir)
    with PrometheusServer(files, workdir, find_binaries()).start() as server:
        config = workdir / "perfbot.yaml"
        config.write_text(
            "metrics:\n  backend: prometheus\n  prometheus:\n"
            f"    url: {server.url}\n    timeout: 10s\n"
            f"storage:\n  url: sqlite:///{workdir / 'perfbot.db'}\n",
            encoding="utf-8",
        )
        yield config


def environment(cwd: str, bytecode_cache: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PERFBOT_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(cwd) / "pycache")  # not in the repo or the venv
    return env


def run(argv: list[str], cwd: str, env: dict[str, str], *,
        importtime: bool = False) -> tuple[float, float, str]:
    """Wall seconds of one fresh ``python -m bot ARGV``, its CPU seconds (user + system: on a
    busy machine the wall time is mostly waiting for a core), and its stderr."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "bot", *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}"
                         f"{done.stdout[-2000:]}")
    return elapsed, cpu, done.stderr


def instructions(argv: list[str], cwd: str, env: dict[str, str]) -> int | None:
    """Instructions one run of ``python -m bot ARGV`` executes, counted by valgrind's callgrind
    (~50× slower): the same on an idle and a busy machine, unlike either time. None without
    valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, "-m", "bot", *argv]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1800)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind {' '.join(argv)} failed: {done.stderr[-2000:]}")
    return int(found.group(1))


def import_times(stderr: str) -> list[tuple[int, str]]:
    """(cumulative µs, module) of each ``-X importtime`` line."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        rows.append((int(cumulative), name[1:].rstrip()))  # "| name": one space, then nesting
    return rows


def measure(commands: dict[str, list[str]], cwd: str, env: dict[str, str], runs: int,
            count: bool = False) -> None:
    print(f"{'command':<40} {'median s':>9} {'slowest s':>10} {'CPU median s':>13}"
          + (f" {'instructions':>13}" if count else ""))
    for label, argv in commands.items():
        run(argv, cwd, env)  # warm the disk cache and the .pyc files
        runs_done = [run(argv, cwd, env) for _ in range(runs)]
        times = [wall for wall, _, _ in runs_done]
        cpu = statistics.median(c for _, c, _ in runs_done)
        counted = instructions(argv, cwd, env) if count else None
        print(f"{label:<40} {statistics.median(times):>9.2f} {max(times):>10.2f} {cpu:>13.2f}"
              + (f" {counted / 1e6:>12.0f}M" if counted is not None else
                 f" {'no valgrind':>13}" if count else ""))
    for label, argv in commands.items():
        rows = import_times(run(argv, cwd, env, importtime=True)[2])
        names = {name.strip() for _, name in rows}
        heavy = [m for m in HEAVY if m in names]
        total = sum(c for c, name in rows if not name.startswith(" "))  # top level only
        print(f"\n{label}: {len(rows)} modules imported in {total / 1e6:.2f} s; "
              f"of {', '.join(HEAVY)}: {', '.join(heavy) or 'none'}")
        print(f"  {'cumulative ms':>13}  module (indent: imported by the one above)")
        for cumulative, name in sorted(rows, reverse=True)[:10]:
            print(f"  {cumulative / 1000:>13.1f}  {name}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-prometheus", action="store_true",
                        help="only the demo rows (no Prometheus binary needed)")
    parser.add_argument("--prometheus-only", dest="no_prometheus_only", action="store_true",
                        help="only the Prometheus rows")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE as it is set here (every run then "
                             "compiles the bot's modules from source)")
    parser.add_argument("--instructions", action="store_true",
                        help="also count each command's instructions once under valgrind "
                             "(minutes; the figure a busy machine does not move)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfbot-startup-") as cwd:
        env = environment(cwd, bytecode_cache=not args.no_bytecode_cache)
        bytecode = ("cached bytecode" if not args.no_bytecode_cache
                    else f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')}")
        print(f"{args.runs} fresh processes per command ({sys.executable}, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, {bytecode})\n")
        if not args.no_prometheus_only:
            measure(DEMO, cwd, env, args.runs, args.instructions)
        if args.no_prometheus:
            return
        workdir = Path(cwd) / "prometheus"
        with prometheus_config(workdir) as config:
            print(f"load {os.getloadavg()[0]:.1f}; Prometheus with 1 day of the demo, "
                  f"data to {END:%Y-%m-%d %H:%M} UTC ({timedelta(days=1)})\n")
            measure(prometheus_commands(config), cwd, env, args.runs, args.instructions)


if __name__ == "__main__":
    main()
