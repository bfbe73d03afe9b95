"""``perfbot run`` as a process of its own, for the tests and benchmarks that kill it.

It is started as an operator would (``python -m bot run --http 0 --slack-api-url …``) on the
demo data held at ``--at``, with a clock ``--speed`` times faster than real time counted
from one ``--speed-from`` moment shared by every run, so a restarted bot's time goes on
from where the killed one's was. Each run writes its output to a log file of its own.

``Tally`` reads what the Slack stand-in received and what the store decided, to count the
notifications expected, sent, lost and duplicated.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from bot.clock import accelerated
from bot.incidents.lifecycle import Incident
from bot.storage import Database
from bot.storage.incidents import IncidentStore
from tests.slack_standin import APP_TOKEN, TOKEN, Call, SlackStandIn

REPO = Path(__file__).resolve().parents[1]
SECRET = "test-signing-secret"
AT = "2026-11-23T12:00:00+00:00"  # the demo's data ends and is held here
DEMO_DAYS = 8  # enough history for the missing index to stand out three days on
USERS = ("UFIRST", "USECOND", "UTHIRD")
CHANNELS = ("#orders", "#search", "#menu", "#payments", "#web", "#identity", "#delivery",
            "#incidents")
LOOP_ON = "perfbot: incidents loop on"
_STEP = re.compile(r"Step (\d+), pass (\d+)")
_OPS = re.compile(r"perfbot: webhooks on ([0-9.]+):(\d+)")

Page = tuple[str, str, int, int]  # (user, incident, pass, step), both counted from 0


def minutely_policy(repeat: int = 1, users: Sequence[str] = USERS) -> dict[str, Any]:
    """One step a minute, one user each, the whole policy ``repeat`` more times."""
    return {"name": "minutely", "repeat": repeat,
            "steps": [{"notify_users": [user], "wait": "1m"} for user in users]}


def write_config(path: Path, storage_url: str, policy: dict[str, Any], *,
                 detection: str = "1h", takeover: str | None = None,
                 extra: dict[str, Any] | None = None) -> Path:
    """A perfbot.yaml: the demo, the store at ``storage_url``, ``policy`` for every
    incident, detection every ``detection`` (of the fast clock's time); ``takeover``:
    ``leader.takeover`` (real time: the leader lock's polls do not follow ``--speed``);
    ``extra``: more top-level sections (they replace the ones above)."""
    settings: dict[str, Any] = {
        "metrics": {"backend": "demo", "demo_days": DEMO_DAYS},
        "storage": {"url": storage_url},
        "detection": {"interval": detection},
        "oncall": {"policies": [policy], "routing": {"default": policy["name"]}},
    }
    if takeover is not None:
        settings["leader"] = {"takeover": takeover}
    settings.update(extra or {})
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def standin() -> SlackStandIn:
    """The stand-in with the demo's channels and the policy's users."""
    return SlackStandIn(channels=dict.fromkeys(CHANNELS, True),
                        users=dict.fromkeys(USERS, "UTC"))


class BotProcess:
    """``perfbot run`` against ``slack``, with ``config``, in ``workdir``; ``start`` and
    ``kill`` it as often as needed. Left running, it is killed on exit."""

    def __init__(self, workdir: Path, slack: SlackStandIn, config: Path, *,
                 speed: float = 60, since: datetime | None = None,
                 socket_mode: bool = False, args: Sequence[str] = ()) -> None:
        """``socket_mode``: Socket Mode through the stand-in (the operational port is the
        config's ``server.listen``) instead of ``--http 0``; ``args``: more options."""
        self.workdir, self.slack, self.config, self.speed = workdir, slack, config, speed
        self.socket_mode, self.args = socket_mode, list(args)
        self.since = since or datetime.now(UTC)
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / f"perfbot-run-{self.runs}.log"

    def start(self, timeout: float = 120) -> None:
        """Start a run and return once its loop is on (its first ticks are under way)."""
        assert self.process is None, "already running"
        self._spawn()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while LOOP_ON not in self.log.read_text(encoding="utf-8", errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                self.kill()
                raise AssertionError(f"perfbot run (run {self.runs}) never started its loop "
                                     f"(exit {code}); its output:\n{self.output()}")
            time.sleep(0.02)

    def exit_code(self, timeout: float = 120) -> int:
        """Start a run and wait for it to exit by itself (one that refuses to start)."""
        assert self.process is None, "already running"
        self._spawn()
        try:
            return self.process.wait(timeout=timeout) if self.process is not None else -1
        finally:
            self.kill()  # still running after ``timeout``: it did not refuse

    def _spawn(self) -> None:
        self.runs += 1
        # This checkout's bot, whatever the virtualenv has installed.
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
               "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
        env.pop("PERFBOT_CONFIG", None)
        mode = ["--http", "0", "--host", "127.0.0.1"]
        if self.socket_mode:
            env["SLACK_APP_TOKEN"], mode = APP_TOKEN, []
        args = [sys.executable, "-m", "bot", "run", "--config", str(self.config.resolve()),
                *mode, "--slack-api-url", self.slack.api_url,
                "--at", AT, "--speed", f"{self.speed:g}",
                "--speed-from", self.since.isoformat(), *self.args]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(args, cwd=self.workdir, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last words, as a crash or the OOM killer."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
        if process is not None:
            process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as ``docker stop``: the loop stops, the bot exits 0."""
        process = self.process
        assert process is not None, "not running"
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()  # never left running after the test (it held ports and CPU)
            raise
        self.process = None
        return code

    def ops_url(self) -> str:
        """The operational port's base URL (``--http``'s port, or ``server.listen``'s)."""
        found = _OPS.search(self.output())
        assert found, f"no operational port in the output:\n{self.output()}"
        return f"http://{found.group(1)}:{found.group(2)}"

    def now(self) -> datetime:
        """The bot's time now (any run's: they share ``since``)."""
        return accelerated(self.since, self.speed)()

    def real_seconds(self, span: timedelta) -> float:
        """How long ``span`` of the bot's time lasts in real time."""
        return span.total_seconds() / self.speed

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self, run: int | None = None) -> str:
        """The output of ``run`` (default: the latest)."""
        path = self.workdir / f"perfbot-run-{run or self.runs}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def __enter__(self) -> BotProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()


def wait_until(what: str, done: Callable[[], bool], timeout: float = 120,
               every: float = 0.02, alive: BotProcess | None = None) -> None:
    """Poll ``done`` until it is true (a deadline, not a measurement); fail at once if
    ``alive``'s process exited."""
    deadline = time.monotonic() + timeout
    while not done():
        if alive is not None and not alive.running:
            raise AssertionError(f"perfbot run exited while waiting for {what}:\n"
                                 f"{alive.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(every)


@dataclass
class Tally:
    """What the policy says each incident should have paged, what Slack received, and
    what the store recorded."""

    store: IncidentStore
    slack: SlackStandIn
    policy: dict[str, Any]
    incidents: list[Incident] = field(default_factory=list)

    @classmethod
    def of(cls, url: str, slack: SlackStandIn, policy: dict[str, Any]) -> Tally:
        return cls(IncidentStore(Database(url)), slack, policy)

    def close(self) -> None:
        self.store.database.close()

    def read(self) -> list[Incident]:
        self.incidents = self.store.listed(open_only=False, limit=1000)
        return self.incidents

    def expected(self) -> set[Page]:
        """Every step of every pass for every incident (none is acknowledged here)."""
        steps = [step["notify_users"][0] for step in self.policy["steps"]]
        return {(user, incident.name, number, index) for incident in self.read()
                for number in range(self.policy["repeat"] + 1)
                for index, user in enumerate(steps)}

    def dms(self) -> Counter[Page]:
        """The pages Slack took (answered ok), by whom, for what, which step of which pass."""
        found: Counter[Page] = Counter()
        for call in self.slack.calls("chat.postMessage", delivered=True):
            page = page_of(call)
            if page is not None:
                found[page] += 1
        return found

    def lines(self) -> Counter[tuple[str, str, str]]:
        """The "Paged …" lines in the incidents' threads: (channel, thread, text)."""
        return Counter((c.args["channel"], str(c.args.get("thread_ts")), c.args["text"])
                       for c in self.slack.calls("chat.postMessage", delivered=True)
                       if c.args.get("thread_ts") and "Paged <@" in c.args.get("text", ""))

    def posts(self) -> Counter[str]:
        """Top-level channel messages, by the incident they show."""
        found: Counter[str] = Counter()
        for call in self.slack.calls("chat.postMessage", delivered=True):
            if call.args["channel"].startswith("#") and not call.args.get("thread_ts"):
                header = call.args["blocks"][0]["text"]["text"]
                found[header.rsplit("· ", 1)[-1]] += 1
        return found

    def due(self, now: datetime) -> tuple[set[str], datetime | None]:
        """The pages the policy has due by ``now`` (keys ``INC-n:pass:step``), and when
        the next one falls due (None: no more)."""
        width, passes = len(self.policy["steps"]), self.policy["repeat"] + 1
        keys: set[str] = set()
        later: list[datetime] = []
        for incident in self.read():
            for number in range(passes):
                for index in range(width):
                    due = incident.opened_at + timedelta(minutes=number * width + index)
                    if due <= now:
                        keys.add(f"{incident.name}:{number}:{index}")
                    else:
                        later.append(due)
        return keys, min(later, default=None)

    def complete(self) -> bool:
        return set(self.dms()) >= self.expected() and bool(self.incidents)

    def unmarked_pages(self) -> set[str]:
        """The page effects decided and not marked sent (keys ``INC-n:pass:step``)."""
        return {item.key for item in self.store.outbox()
                if item.effect.kind == "page" and item.sent_at is None}

    def sent_pages(self) -> set[str]:
        return {item.key for item in self.store.outbox()
                if item.effect.kind == "page" and item.sent_at is not None}

    def schedule_kept(self) -> list[str]:
        """Pages whose due time is not the policy's (opening + k minutes), or that were
        decided before they were due: each as a sentence; empty when all kept it."""
        wrong = []
        opened = {incident.name: incident.opened_at for incident in self.read()}
        width = len(self.policy["steps"])
        for item in self.store.outbox():
            note = item.effect.notify
            if item.effect.kind != "page" or note is None:
                continue
            due = opened[note.incident] + timedelta(minutes=note.pass_number * width + note.step)
            if note.due != due:
                wrong.append(f"{item.key} was due at {note.due}, the policy says {due}")
            if item.created_at < due:
                wrong.append(f"{item.key} was decided at {item.created_at}, before {due}")
        return wrong


def page_of(call: Call) -> Page | None:
    """(user, incident, pass, step) of a page's DM; None for any other message."""
    channel, text = call.args["channel"], call.args.get("text", "")
    if not channel.startswith("D") or not text.startswith("Paged: "):
        return None
    found = _STEP.search(json.dumps(call.args.get("blocks") or []))
    assert found is not None, f"a page without its step: {call.args}"
    return (channel[1:], text.split()[1], int(found.group(2)) - 1, int(found.group(1)) - 1)
