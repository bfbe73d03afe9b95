"""The whole bot under load: many endpoints, many askers, the incidents loop running.

Usage: ``python benchmarks/load.py [--endpoints 1000] [--hours 6] [--askers 50]
[--questions 500] [--store prometheus|victoriametrics] [--storage sqlite|postgres]
[--keep-store DIR]``

A synthetic workload of ``--endpoints`` endpoints: the demo platform's 13 endpoints copied
under numbered service names (``checkout-007``; same traffic, latency and incidents in each
copy) until there are at least that many, its last ``--hours`` hours at one-minute samples
loaded into a real Prometheus (promtool backfill, as ``tests/prometheus_server.py`` does) or
VictoriaMetrics (its import API, ``tests/victoria_server.py``). A real ``perfbot run --http 0``
process (``tests/bot_process.py``) reads it, its incidents in SQLite or in a throwaway
PostgreSQL (``tests/postgres_server.py``), its Slack Web API the loopback stand-in, with a
detection cycle every minute and the escalation sweep on (it leads).

``--askers`` senders each post a signed ``/perf`` question over HTTP, as Slack does, wait for
its answer (the stand-in's update of the "looking…" message) and ask the next, until
``--questions`` were asked. Prints answers per second, answer time p50/p95 (send to answer),
acks later than Slack's 3 s or not 200, the detection cycles that ran during the load, and the
bot's peak RSS (``VmHWM`` of ``/proc/<pid>/status``; the goal is 250 MB). Never asserts; not
part of pytest.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import httpx
import yaml
from slack_sdk.signature import SignatureVerifier

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the real parts' helpers live in tests/

from benchmarks.slack_load import (  # noqa: E402
    SLACK_DEADLINE,
    Sender,
    TimedStandIn,
    ask_all,
    quantile,
)
from bot.metrics.demo import DemoWorkload  # noqa: E402
from bot.metrics.openmetrics import write_openmetrics  # noqa: E402
from tests.bot_process import SECRET as BOT_SECRET  # noqa: E402
from tests.bot_process import BotProcess, minutely_policy  # noqa: E402
from tests.conftest import DEMO_END  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402
from tests.prometheus_server import PrometheusServer, block_spans  # noqa: E402
from tests.victoria_server import VictoriaServer  # noqa: E402
from tests.workloads import scaled  # noqa: E402

# Questions about one copy's service each (a route alone is in every copy: ambiguous).
TEMPLATES = (
    "p95 latency of the {service} service over the last 3h",
    "how is the {service} service doing over the last 3h",
    "top 5 slowest endpoints",
    "errors of the {service} service over the last hour",
    "is the {service} service meeting its SLO over the last 3h",
    "cpu of the {service} service over the last 3h",
)


def write_blocks(workload: DemoWorkload, hours: int, workdir: Path) -> list[Path]:
    """The last ``hours`` of ``workload`` as OpenMetrics, one file per 2 h block."""
    files = []
    first = workload.end - timedelta(hours=hours)
    for number, (start, end) in enumerate(block_spans(first, workload.end)):
        path = workdir / f"load-{number:03d}.om"
        with path.open("w", encoding="utf-8") as out:
            write_openmetrics(workload, out, start, end)
        files.append(path)
    return files


def config(path: Path, url: str, storage: str, hours: int) -> Path:
    policy = minutely_policy()
    settings = {
        "metrics": {"backend": "prometheus",
                    "prometheus": {"url": url, "discovery_lookback": f"{hours}h",
                                   "timeout": "30s"}},
        "storage": {"url": storage},
        "detection": {"interval": "1m"},
        "oncall": {"policies": [policy], "routing": {"default": policy["name"]}},
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def status_field(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status``, in kB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M)[1])  # type: ignore[index]


class RssSampler(threading.Thread):
    """``VmRSS`` of ``pid`` every 0.2 s: where in the run the peak falls."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.began = pid, time.perf_counter()
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                rss = status_field(self.pid, "VmRSS")
            except (OSError, TypeError):
                return
            self.samples.append((time.perf_counter() - self.began, rss))

    def summary(self) -> str:
        """The largest sample and a line of the peak per 30 s."""
        if not self.samples:
            return "no samples"
        at, peak = max(self.samples, key=lambda sample: sample[1])
        buckets: dict[int, int] = {}
        for moment, rss in self.samples:
            buckets[int(moment // 30)] = max(buckets.get(int(moment // 30), 0), rss)
        line = " ".join(f"{rss // 1024}" for _, rss in sorted(buckets.items()))
        return f"max {peak // 1024} MB at {at:.0f} s; per 30 s: {line}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--askers", type=int, default=50)
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--store", choices=("prometheus", "victoriametrics"),
                        default="prometheus")
    parser.add_argument("--storage", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--keep-store", type=Path, default=None,
                        help="Prometheus's directory, kept after the run and reused by the "
                        "next (same --endpoints and --hours) instead of loading the data again")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="perfbot-load-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        began = time.perf_counter()
        base = DemoWorkload.generate(end=DEMO_END, days=1, seed=7)
        workload = scaled(base, args.endpoints)
        store_dir = args.keep_store or workdir / "store"
        reused = args.store == "prometheus" and (store_dir / "data").exists()
        files = [] if reused else write_blocks(workload, args.hours, workdir)
        server_class = PrometheusServer if args.store == "prometheus" else VictoriaServer
        server = stack.enter_context(server_class(files, store_dir))
        for path in files:
            path.unlink()
        print(f"{len(workload.endpoints)} endpoints ({len(workload.services)} services), "
              f"{args.hours}h at 1m in {args.store}: loaded in "
              f"{time.perf_counter() - began:.0f} s")
        services = workload.services
        del base, workload

        if args.storage == "postgres":
            storage = stack.enter_context(PostgresServer()).create_database()
        else:
            storage = f"sqlite:///{workdir / 'perfbot.db'}"
        standin = stack.enter_context(TimedStandIn(args.questions))
        settings = config(workdir / "perfbot.yaml", server.url, storage, args.hours)
        bot = stack.enter_context(BotProcess(workdir, standin, settings, speed=1))
        started = time.perf_counter()
        bot.start(timeout=600)
        assert bot.process is not None
        pid = bot.process.pid
        sampler = RssSampler(pid)
        sampler.start()
        print(f"perfbot run: loop on after {time.perf_counter() - started:.0f} s "
              f"(RSS {status_field(pid, 'VmRSS') / 1024:.0f} MB, "
              f"peak so far {status_field(pid, 'VmHWM') / 1024:.0f} MB)")
        port = int(bot.output().split("HTTP mode on 127.0.0.1:", 1)[1].split("/", 1)[0])
        sender = Sender(f"http://127.0.0.1:{port}/slack/events", standin)
        sender.verifier = SignatureVerifier(BOT_SECRET)

        before = len(bot.output())
        fired = time.perf_counter()
        samples = ask_all(sender, args.questions, args.askers, lambda number: TEMPLATES[
            number % len(TEMPLATES)].format(service=services[number % len(services)]))
        seconds = time.perf_counter() - fired
        peak = status_field(pid, "VmHWM")
        sampler.done.set()
        # Cycles finished at all (the log names only those that changed an incident).
        exposed = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        cycles_done = {name: float(value) for name, value in re.findall(
            r"^perfbot_detection_cycle_seconds_(count|sum) (\S+)$", exposed, re.M)}
        log = bot.output()
        during = log[before:]
        cycles = during.count(" INFO bot.schedule: detection: ")
        unread = during.count(" WARNING bot.schedule: detection: could not read")

    answered = [s.answer_seconds for s in samples if s.answer_seconds is not None
                and not s.error_answer]
    late = sum(s.status != 200 or s.ack_seconds > SLACK_DEADLINE for s in samples)
    acks = [s.ack_seconds for s in samples]
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {args.askers} askers, "
          f"{len(samples)} questions, storage {args.storage}, detection every 1m")
    print(f"answers: {len(answered)}/{len(samples)} in {seconds:.0f} s = "
          f"{len(answered) / seconds:.2f} answers/s")
    if answered:
        print(f"answer time s: p50 {statistics.median(answered):.2f}, "
              f"p95 {quantile(answered, 0.95):.2f}, max {max(answered):.2f}")
    print(f"acks late (> {SLACK_DEADLINE:g} s) or not 200: {late}; ack ms p50 "
          f"{1000 * statistics.median(acks):.0f}, max {1000 * max(acks):.0f}")
    done = cycles_done.get("count", 0.0)
    print(f"detection cycles finished since the start: {done:.0f}"
          + (f" (mean {cycles_done.get('sum', 0.0) / done:.0f} s)" if done else "")
          + f"; during the load, ones that changed an incident: {cycles}; signals they could "
          f"not read: {unread}")
    print(f"bot peak RSS (VmHWM): {peak / 1024:.0f} MB (goal <= 250 MB); RSS sampled from "
          f"the loop's start: {sampler.summary()}")
    failed = Counter((s.told or "error answer" if s.error_answer else s.told or "no answer")[:70]
                     for s in samples if s.answer_seconds is None or s.error_answer)
    for text, count in failed.most_common(3):
        print(f"  {count}x: {text}")
    errors = [line for line in log.splitlines() if " ERROR " in line]
    for line in errors[:3]:
        print(f"  bot log: {line[:160]}")
    kept = Path(tempfile.gettempdir()) / "perfbot-load.log"
    kept.write_text(log, encoding="utf-8")
    print(f"{len(errors)} errors in the bot's log, kept in {kept}")


if __name__ == "__main__":
    main()
