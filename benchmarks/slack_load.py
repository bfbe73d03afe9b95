"""The Slack app under load: how fast slash commands are acknowledged, and answered.

Usage: ``python benchmarks/slack_load.py [--requests N] [--concurrency 1,10,50]
[--backends demo,prometheus,slow] [--slow-delay S] [--slow-requests M]
[--slow-concurrency 10,50] [--answer-workers W]``

Runs the real Bolt app in HTTP mode as production does (``process_before_response=False``,
served by ``make_http_server``) in a process of its own, its Web API client pointed at the
loopback Slack stand-in (``tests/slack_standin.py``) that runs here with the senders. Backends:
the demo workload in memory (``demo``), a real Prometheus backfilled with the same workload
(``prometheus``, as the test fixture does; on by default when the binaries are installed), and
that Prometheus behind a proxy holding every query ``S`` seconds (``slow``, opt-in: answers
then take many seconds, so it sends ``M`` commands at its own levels).

For each concurrency level C, C senders act as C users: each sends a signed ``/perf``
question over real HTTP, waits for its answer (the stand-in's ``chat.update`` of that
command's "looking…" message, one channel per command so it is unambiguous), then asks the
next, until N commands were sent. All C start at once, so each run opens with a burst of C.
Each run gets a fresh bot process, after one unmeasured question that builds the catalog.

``--burst C`` measures something else: a real ``perfbot run --http 0`` process (started as
``tests/bot_process.py`` does, on the demo, its Web API on the stand-in) gets C signed
``/perf`` questions at the same moment, from C users; it prints the share acknowledged with
a 200 within Slack's 3 s, ack p50/p99/max, the bot's peak thread count (``/proc/<pid>/
status``, sampled every 5 ms) against its count before, and when the answers came.

Prints one row per backend and level: ack latency (the slash command's HTTP response time)
p50/p95/p99/max in ms, the share acknowledged with a 200 within Slack's 3 s, time from sending
to the answer p50/p95/max in s, answers per second over the run, and failures (a non-200 ack,
no answer within the deadline, or an answer that is the bot's error message), with what the
failed acks got and what askers were told. Never asserts.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the stand-in and the Prometheus helpers live in tests/

from bot.app import Perfbot  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.config import Settings, SlackSettings  # noqa: E402
from bot.metrics.base import MetricsBackend  # noqa: E402
from bot.metrics.demo import DemoBackend, DemoWorkload  # noqa: E402
from bot.notify.slack import make_web_client  # noqa: E402
from bot.slack.app import build_slack_app  # noqa: E402
from bot.slack.http import make_http_server  # noqa: E402
from bot.slack.replier import Replier  # noqa: E402
from tests.bot_process import SECRET as BOT_SECRET  # noqa: E402
from tests.bot_process import BotProcess, minutely_policy, write_config  # noqa: E402
from tests.conftest import DEMO_DAYS, DEMO_END, DEMO_SEED, prometheus_backend_for  # noqa: E402
from tests.prometheus_server import Binaries, PrometheusServer, SlowProxy, write_demo_blocks  # noqa: E402
from tests.slack_standin import TOKEN, Call, SlackStandIn  # noqa: E402

SECRET = "bench-signing-secret"
# One Slack user per sender (the bot caps questions in progress per person), in three zones.
USERS = {f"U{n}": ("Europe/Paris", "America/New_York", "Asia/Tokyo")[n % 3]
         for n in range(1, 201)}
# Realistic questions, each answered from the 3 demo days (none is "no data" or help).
QUESTIONS = (
    "p95 latency of checkout over the last 24h",
    "how is checkout doing today",
    "top 5 slowest endpoints",
    "errors on order history today vs yesterday",
    "is checkout meeting its SLO over the last 2 days",
    "how much does checkout cost per day over the last 2 days",
    "cpu of search",
    "p99 for order history yesterday",
)
SLACK_DEADLINE = 3.0  # seconds Slack waits for the ack
ANSWER_DEADLINE = 120.0  # seconds a sender waits for an answer before counting a failure
ERROR_ANSWER = ":warning:"


class TimedStandIn(SlackStandIn):
    """The stand-in, also noting when each channel's message was updated (the answer)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels={channel_id(i): True for i in range(-1, channels)},
                         users=dict(USERS))
        self._answered: dict[str, tuple[float, str]] = {}
        self._arrived: dict[str, threading.Event] = {}
        self._told: dict[str, str] = {}
        self._lock = threading.Lock()

    def expect(self, channel: str) -> threading.Event:
        with self._lock:
            return self._arrived.setdefault(channel, threading.Event())

    def answer(self, channel: str) -> tuple[float, str] | None:
        """When the answer arrived (``perf_counter``) and its text, or None."""
        with self._lock:
            return self._answered.get(channel)

    def told(self, channel: str) -> str | None:
        """What the asker in ``channel`` was told ephemerally (an error), or None."""
        with self._lock:
            return self._told.get(channel)

    def _record(self, call: Call) -> None:
        super()._record(call)
        if call.method == "response_url":  # the asker was told something went wrong
            with self._lock:
                self._told.setdefault(str(call.args.get("to")), str(call.args.get("text", "")))
            self.expect(str(call.args.get("to"))).set()
        if call.method == "chat.update" and call.status == 200 and call.error is None:
            channel = str(call.args.get("channel"))
            with self._lock:
                self._answered.setdefault(channel, (time.perf_counter(),
                                                    str(call.args.get("text", ""))))
            self.expect(channel).set()


def channel_id(number: int) -> str:
    return f"C{number + 1:05d}"  # -1 is the warm-up's channel, C00000


@dataclass(frozen=True)
class Sample:
    ack_seconds: float
    status: int
    answer_seconds: float | None  # None: no answer within the deadline
    error_answer: bool
    told: str | None  # the ephemeral error the asker got instead, if any


@dataclass(frozen=True)
class Run:
    backend: str
    concurrency: int
    samples: list[Sample]
    seconds: float  # first send to last answer


class Sender:
    """Signs and posts slash commands to the app, as Slack does."""

    def __init__(self, url: str, standin: TimedStandIn) -> None:
        self.url, self.standin = url, standin
        self.verifier = SignatureVerifier(SECRET)
        self._triggers = itertools.count(1)

    def body(self, number: int, question: str, user: str) -> bytes:
        return urlencode({
            "token": "legacy", "team_id": "T1", "channel_id": channel_id(number),
            "user_id": user, "command": "/perf", "text": question,
            "trigger_id": f"1.2.{next(self._triggers)}",
            "response_url": f"{self.standin.url}/response/?to={channel_id(number)}",
        }).encode()

    def ask(self, http: httpx.Client, number: int, question: str, user: str) -> Sample:
        body = self.body(number, question, user)
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp,
                                                                         body=body)}
        arrived = self.standin.expect(channel_id(number))
        sent = time.perf_counter()
        try:
            status = http.post(self.url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        acked = time.perf_counter() - sent
        arrived.wait(ANSWER_DEADLINE)
        answer = self.standin.answer(channel_id(number))
        told = self.standin.told(channel_id(number))
        if answer is None:
            return Sample(acked, status, None, False, told)
        at, text = answer
        return Sample(acked, status, at - sent, text.startswith(ERROR_ANSWER), told)


def ask_all(sender: Sender, count: int, askers: int,
            question: Callable[[int], str]) -> list[Sample]:
    """``count`` questions (``question(number)``) from ``askers`` users at once, each asking
    its next one once its last was answered; the samples in the order they came."""
    numbers = iter(range(count))
    lock = threading.Lock()
    samples: list[Sample] = []

    def asker(who: int) -> None:
        user = list(USERS)[who % len(USERS)]
        with httpx.Client(timeout=60) as http:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                sample = sender.ask(http, number, question(number), user)
                with lock:
                    samples.append(sample)

    threads = [threading.Thread(target=asker, args=(who,)) for who in range(askers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


@dataclass(frozen=True)
class BotSpec:
    """What the bot's process builds: ``backend`` is "demo" or a Prometheus URL."""

    backend: str
    api_url: str
    answer_workers: int


def serve_bot(spec: BotSpec, port: multiprocessing.SimpleQueue[int],
              stop: EventType) -> None:
    """The bot's process: the Bolt app served over HTTP until ``stop`` is set."""
    logging.basicConfig(level=logging.ERROR)  # Bolt's "unhandled request" warnings are counted
    backend: MetricsBackend = (
        DemoBackend(DemoWorkload.generate(end=DEMO_END, days=DEMO_DAYS, seed=DEMO_SEED))
        if spec.backend == "demo"
        else prometheus_backend_for(spec.backend, timeout=timedelta(seconds=30)))
    settings = Settings(slack=SlackSettings(answer_workers=spec.answer_workers))
    perfbot = Perfbot(settings=settings, backend=backend, clock=FakeClock(DEMO_END))
    client = make_web_client(TOKEN, base_url=spec.api_url)
    app = build_slack_app(perfbot, client=client, replier=Replier(perfbot, client),
                          process_before_response=False)
    server = make_http_server(app, "127.0.0.1", 0, signing_secret=SECRET)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port.put(server.server_port)
    stop.wait()
    server.shutdown()
    server.server_close()


@contextmanager
def bot_process(spec: BotSpec) -> Iterator[str]:
    """The bot in a process of its own (its own GIL, as in production, where Slack is
    elsewhere): yields its events URL."""
    context = multiprocessing.get_context("spawn")
    port: multiprocessing.SimpleQueue[int] = context.SimpleQueue()
    stop = context.Event()
    process = context.Process(target=serve_bot, args=(spec, port, stop), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{port.get()}/slack/events"
    finally:
        stop.set()
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()
            process.join()


def run_load(name: str, backend: str, requests: int, concurrency: int,
             answer_workers: int) -> Run:
    """``requests`` commands from ``concurrency`` users, each waiting for its answer."""
    with TimedStandIn(requests) as standin, \
            bot_process(BotSpec(backend, standin.api_url, answer_workers)) as url:
        sender = Sender(url, standin)
        with httpx.Client(timeout=60) as http:  # unmeasured: catalog, users.info, imports
            sender.ask(http, -1, QUESTIONS[0], "U1")
        started = time.perf_counter()
        samples = ask_all(sender, requests, concurrency,
                          lambda number: QUESTIONS[number % len(QUESTIONS)])
        seconds = time.perf_counter() - started
        wait_for_uploads(standin)
    return Run(name, concurrency, samples, seconds)


def wait_for_uploads(standin: SlackStandIn, quiet: float = 0.5, limit: float = 30.0) -> None:
    """Let the charts still being uploaded finish, so the next run starts on an idle bot."""
    deadline = time.monotonic() + limit
    count = -1
    while time.monotonic() < deadline:
        now = len(standin.calls())
        if now == count:
            return
        count = now
        time.sleep(quiet)


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


HEADER = (f"{'backend':<11} {'C':>3} {'N':>4} | {'ack ms p50':>10} {'p95':>6} {'p99':>6} "
          f"{'max':>6} {'<=3s':>6} | {'answer s p50':>12} {'p95':>6} {'max':>6} "
          f"{'ans/s':>6} | {'non-200':>7} {'no ans':>6} {'err ans':>7}")


def row(run: Run) -> str:
    acks = [s.ack_seconds * 1000 for s in run.samples]
    answers = [s.answer_seconds for s in run.samples if s.answer_seconds is not None]
    in_time = sum(s.status == 200 and s.ack_seconds <= SLACK_DEADLINE for s in run.samples)
    ack = (f"{statistics.median(acks):>10.0f} {quantile(acks, 0.95):>6.0f} "
           f"{quantile(acks, 0.99):>6.0f} {max(acks):>6.0f} "
           f"{100 * in_time / len(acks):>5.0f}%")
    answer = (f"{statistics.median(answers):>12.2f} {quantile(answers, 0.95):>6.2f} "
              f"{max(answers):>6.2f}" if answers else f"{'-':>12} {'-':>6} {'-':>6}")
    return (f"{run.backend:<11} {run.concurrency:>3} {len(run.samples):>4} | {ack} | {answer} "
            f"{len(answers) / run.seconds:>6.2f} | "
            f"{sum(s.status != 200 for s in run.samples):>7} "
            f"{sum(s.answer_seconds is None for s in run.samples):>6} "
            f"{sum(s.error_answer for s in run.samples):>7}")


def notes(run: Run) -> list[str]:
    """What the failures were: HTTP statuses other than 200, what askers were told."""
    statuses = Counter(s.status for s in run.samples if s.status != 200)
    told = Counter(s.told[:100] for s in run.samples if s.told is not None)
    return ([f"    acks answered {status or 'no response'}: {count}"
             for status, count in sorted(statuses.items())]
            + [f"    told {count}x: {text}" for text, count in told.most_common(3)])


def find_prometheus() -> Binaries | None:
    found = [shutil.which(name) or f"/usr/bin/{name}" for name in ("prometheus", "promtool")]
    if not all(os.access(path, os.X_OK) for path in found):
        return None
    return Binaries(prometheus=Path(found[0]), promtool=Path(found[1]))


@contextmanager
def prometheus(binaries: Binaries, workdir: Path) -> Iterator[PrometheusServer]:
    """A Prometheus serving the demo workload, backfilled as the test fixture does."""
    workload = DemoWorkload.generate(end=DEMO_END, days=DEMO_DAYS, seed=DEMO_SEED)
    with PrometheusServer(write_demo_blocks(workload, workdir), workdir, binaries) as server:
        yield server


def bot_threads(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(text.split("Threads:", 1)[1].split()[0])


def burst(concurrency: int) -> None:
    """C signed /perf commands at once at a real ``perfbot run --http 0``."""
    with tempfile.TemporaryDirectory(prefix="perfbot-burst-") as tmp, \
            TimedStandIn(concurrency) as standin:
        workdir = Path(tmp)
        config = write_config(workdir / "perfbot.yaml", f"sqlite:///{workdir / 'perfbot.db'}",
                              minutely_policy())
        with BotProcess(workdir, standin, config, speed=1) as bot:
            bot.start()
            assert bot.process is not None
            pid = bot.process.pid
            port = int(bot.output().split("HTTP mode on 127.0.0.1:", 1)[1].split("/", 1)[0])
            sender = Sender(f"http://127.0.0.1:{port}/slack/events", standin)
            sender.verifier = SignatureVerifier(BOT_SECRET)
            with httpx.Client(timeout=60) as http:  # unmeasured: catalog, imports, pools
                sender.ask(http, -1, QUESTIONS[0], "U1")
            time.sleep(1.0)
            before = bot_threads(pid)
            peak, sampling = [before], threading.Event()

            def sample() -> None:
                while not sampling.wait(0.005):
                    try:
                        peak.append(bot_threads(pid))
                    except (OSError, IndexError):
                        return

            sampler = threading.Thread(target=sample)
            sampler.start()
            start = threading.Barrier(concurrency)
            acks: list[tuple[float, int]] = []
            lock = threading.Lock()

            def one(number: int) -> None:
                name = list(USERS)[number % len(USERS)]
                body = sender.body(number, QUESTIONS[number % len(QUESTIONS)], name)
                with httpx.Client(timeout=60) as http:
                    start.wait()
                    stamp = str(int(time.time()))
                    headers = {"Content-Type": "application/x-www-form-urlencoded",
                               "X-Slack-Request-Timestamp": stamp,
                               "X-Slack-Signature": sender.verifier.generate_signature(
                                   timestamp=stamp, body=body)}
                    sent = time.perf_counter()
                    try:
                        code = http.post(sender.url, content=body, headers=headers).status_code
                    except httpx.HTTPError:
                        code = 0
                    with lock:
                        acks.append((time.perf_counter() - sent, code))

            fired = time.perf_counter()
            senders = [threading.Thread(target=one, args=(n,)) for n in range(concurrency)]
            for thread in senders:
                thread.start()
            for thread in senders:
                thread.join()
            for number in range(concurrency):
                standin.expect(channel_id(number)).wait(ANSWER_DEADLINE)
            sampling.set()
            sampler.join()
            answered = [at - fired for n in range(concurrency)
                        if (found := standin.answer(channel_id(n))) is not None
                        for at in (found[0],)]
            told = Counter(t[:60] for n in range(concurrency)
                           if (t := standin.told(channel_id(n))) is not None)
    seconds = [a for a, _ in acks]
    in_time = sum(code == 200 and a <= SLACK_DEADLINE for a, code in acks)
    statuses = Counter(code for _, code in acks if code != 200)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; C = {concurrency} signed "
          f"/perf commands at once at perfbot run --http 0 (demo data)")
    print(f"acked with 200 within {SLACK_DEADLINE:g} s: {100 * in_time / len(acks):.1f}% "
          f"({in_time}/{len(acks)}); other statuses: {dict(statuses) or 'none'}")
    print(f"ack ms: p50 {1000 * statistics.median(seconds):.0f}, "
          f"p99 {1000 * quantile(seconds, 0.99):.0f}, max {1000 * max(seconds):.0f}")
    print(f"bot threads: {before} before, peak {max(peak)} during the burst")
    if answered:
        print(f"answered: {len(answered)}/{concurrency}; from the burst to answer: p50 "
              f"{statistics.median(answered):.1f} s, max {max(answered):.1f} s")
    else:
        print(f"answered: 0/{concurrency}")
    for text, count in told.most_common(3):
        print(f"  told {count}x: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=150, help="commands per run")
    parser.add_argument("--concurrency", default="1,10,50", help="comma-separated levels")
    parser.add_argument("--backends", default=None,
                        help="comma-separated: demo, prometheus, slow (default: demo, and "
                        "prometheus when installed)")
    parser.add_argument("--slow-delay", type=float, default=2.0,
                        help="seconds the slow proxy holds each query")
    parser.add_argument("--slow-requests", type=int, default=50, help="commands per slow run")
    parser.add_argument("--slow-concurrency", default="10,50",
                        help="levels on slow (at 1, each answer's seconds add up)")
    parser.add_argument("--answer-workers", type=int, default=SlackSettings().answer_workers,
                        help="answers computed at once (slack.answer_workers)")
    parser.add_argument("--burst", metavar="C", type=int, default=None,
                        help="instead: C commands at once at a real perfbot run --http process")
    args = parser.parse_args()
    if args.burst is not None:
        burst(args.burst)
        return
    levels = [int(level) for level in args.concurrency.split(",")]
    slow_levels = [int(level) for level in args.slow_concurrency.split(",")]
    binaries = find_prometheus()
    wanted = (args.backends.split(",") if args.backends
              else ["demo"] + (["prometheus"] if binaries else []))
    if binaries is None and set(wanted) & {"prometheus", "slow"}:
        parser.error("prometheus and promtool not found: apt-get install -y prometheus")
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {args.requests} commands per "
          f"run ({args.slow_requests} on slow); questions: {len(QUESTIONS)} kinds, in turn")
    print(HEADER)
    with ExitStack() as stack:
        backends = {"demo": "demo"} if "demo" in wanted else {}
        if binaries is not None and set(wanted) & {"prometheus", "slow"}:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="perfbot-slack-load-")))
            server = stack.enter_context(prometheus(binaries, workdir))
            if "prometheus" in wanted:
                backends["prometheus"] = server.url
            if "slow" in wanted:
                proxy = stack.enter_context(SlowProxy(server.url, args.slow_delay, every=True))
                backends[f"slow {args.slow_delay:g}s"] = proxy.url
        for name, backend in backends.items():
            slow = name.startswith("slow")
            requests = args.slow_requests if slow else args.requests
            for level in (slow_levels if slow else levels):
                run = run_load(name, backend, requests, level, args.answer_workers)
                print("\n".join([row(run), *notes(run)]), flush=True)


if __name__ == "__main__":
    main()
