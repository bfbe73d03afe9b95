"""``perfbot run``: the Slack bot, in Socket Mode (default) or HTTP mode (``--http PORT``).

Before connecting it checks what it needs and says exactly what is missing: the variable
to set, or what Slack's ``auth.test`` answered for the token. Never a traceback.
``--at`` holds the bot's data at that moment, as for the other commands (wall time goes
on, so deadlines pass). ``--speed N``, for testing and demos, runs wall time N times faster
than real time (from ``--speed-from``, so a restarted bot's time goes on where it was).

Once Slack is connected the incidents loop runs beside the answers (``bot.schedule``:
detection, escalation sweep, catalog refresh); ``--no-loop`` only answers questions. On the
way out (SIGTERM, Ctrl-C) the loop stops first, so no tick starts while the answers in
progress finish; the leader's writes in progress and the answers get ``server.stop_within``
together, and the leadership goes as soon as no tick can write as leader. A tick still
running then (detection stuck on a metrics server) is cut: the process exits without it.

Several replicas may run on one PostgreSQL: all answer, the leader alone runs the loop's
detection, escalation and digests (``bot.storage.leader``; each logs "perfbot: leading" or
"perfbot: standing by"). A second ``perfbot run`` on one SQLite file refuses to start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import datetime
from threading import Event, current_thread, main_thread
from typing import TYPE_CHECKING, TextIO

# Serving Slack and the operational port (``serve``) is there; it is imported by every
# command, as this module is: it imports nothing heavy before the bot runs.
from bot.cli_slack_ports import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    NotReady,
    operational_apps,
    serve,
)

# The CLI registers `run` at every start (--help too): Slack, the bot and its loop are
# imported when it runs.
if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.app import Perfbot
    from bot.config import Settings
    from bot.digests.service import Post as PostDigest
    from bot.schedule import Deliver, Loop, Stopped
    from bot.storage.leader import Leadership, SoleProcess

log = logging.getLogger(__name__)

PING_INTERVAL = 10.0  # seconds between Socket Mode pings (slack_bolt's default)
GRACE = 10.0  # seconds answers in progress get when the bot stops
# --speed: beyond this, one real millisecond is minutes of the bot's time, and the loop's
# sweep could not keep up with the waits it is meant to keep.
MAX_SPEED = 3600.0


def add_slack_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register ``perfbot run`` on the CLI's subparsers."""
    run = subparsers.add_parser(
        "run", parents=[common], help="run the Slack bot (Socket Mode, or HTTP with --http)",
        description="Connect to Slack and answer /perf, mentions and DMs. Socket Mode needs "
        "SLACK_BOT_TOKEN and SLACK_APP_TOKEN; HTTP mode needs SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET, and Slack must reach POST /slack/events on PORT.",
        epilog="Examples:\n  perfbot run\n  perfbot run --http 3000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--http", metavar="PORT", type=int,
                     help="HTTP mode on this port instead of Socket Mode")
    run.add_argument("--host", default="0.0.0.0", help="HTTP mode: address to listen on")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                     default="info", help="what the bot logs to stderr (default: info)")
    run.add_argument("--log-format", choices=["text", "json"], default="text",
                     help="log lines as text, or one JSON object a line (time, level, "
                     "logger, message); secrets are masked in both (default: text)")
    run.add_argument("--slack-api-url", metavar="URL", default=None,
                     help="Slack Web API base URL (default Slack's; for tests and proxies)")
    run.add_argument("--no-loop", action="store_true",
                     help="only answer questions: no detection, no incidents, no escalation")
    run.add_argument("--demo-data", action="store_true",
                     help="answer and detect on the embedded demo workload whatever "
                          "metrics.backend says: try the bot in a workspace before "
                          "connecting Prometheus")
    testing = run.add_argument_group(
        "for testing and demos",
        "A clock faster than real time, so escalation waits pass in seconds. Data time\n"
        "is as usual (real time, or --at). Not for a bot people rely on: its deadlines\n"
        "are not theirs.")
    testing.add_argument("--speed", metavar="N", type=_speed, default=1.0,
                         help="wall time runs N times faster than real time (waits, snoozes, "
                         "the loop's intervals); default 1")
    testing.add_argument("--speed-from", metavar="TIME", type=_moment, default=None,
                         help="the real moment the fast clock counts from (default: when the "
                         "bot starts); give a restarted bot the same one and its time goes "
                         "on from where the last one's was")
    run.set_defaults(func=cmd_run)


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 60, got {text!r}") from None
    if not 0 < speed <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"expected a speed above 0 and at most {MAX_SPEED:g}, "
                                         f"got {text!r}")
    return speed


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a time like 2026-11-20T14:00:00+00:00, got {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"expected a time with its offset (+00:00), got "
                                         f"{text!r}")
    return moment


def cmd_run(
    args: argparse.Namespace, out: TextIO, stop: Event | None = None, *,
    ping_interval: float = PING_INTERVAL, grace: float = GRACE, deliver: Deliver | None = None,
) -> int:
    """Run until Ctrl-C, or until ``stop`` is set (tests: the bot then closes its connection
    and threads and returns). ``ping_interval`` is how often Socket Mode checks its
    WebSocket, hence how soon a silently dropped connection is replaced (about twice it).
    On the way out, answers in progress get ``grace`` seconds; the askers of the others are
    told to ask again. ``deliver``: how the loop carries out the outbox (default:
    ``delivery``)."""
    from bot.config import ConfigError
    from bot.memory import limit_arenas

    limit_arenas()  # before the answer, HTTP and scheduler threads each take an arena
    cut: list[Stopped] = []  # what the loop's stop left running
    try:
        code = _run(args, out, stop or Event(), ping_interval, grace, deliver, cut,
                    exits=stop is None)
    except ConfigError as exc:
        print(f"perfbot: configuration error\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotReady as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return exc.code
    if stop is None and any(s.writing or s.reading for s in cut):  # not a test's run
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """Exit with ``code`` though a cut tick's thread still runs: the interpreter would
    wait for it at exit (the scheduler's pool threads are joined there). The logs and the
    output are flushed first; the store was closed."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _log_to_stderr(level: str, form: str, secrets: list[str]) -> None:
    """Log to stderr as ``form`` with ``secrets`` masked; where logging is already set up
    (tests in one process) the handlers there stay, and only mask."""
    from bot.observability import SecretMask, log_handler

    root = logging.getLogger()
    if root.handlers:
        mask = SecretMask(secrets)
        for handler in root.handlers:
            for old in [f for f in handler.filters if isinstance(f, SecretMask)]:
                handler.removeFilter(old)  # an earlier run's, in the same process
            handler.addFilter(mask)
        return
    root.addHandler(log_handler(sys.stderr, form, secrets))
    root.setLevel(level)


def _secrets(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Every secret this process holds, to mask in its logs: the tokens and passwords of
    the settings, the database's password, the PagerDuty keys and webhook URLs and
    secrets of the policies (from the environment)."""
    from pydantic import SecretStr
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    found = [value.get_secret_value().strip() for value in dict(settings).values()
             if isinstance(value, SecretStr)]
    with suppress(ArgumentError, ValueError):
        found.append(make_url(settings.storage.url).password or "")
    for policy in settings.oncall.policies:
        for step in policy.steps:
            names = [step.notify_pagerduty.routing_key_env] if step.notify_pagerduty else []
            if step.notify_webhook is not None:
                names += [step.notify_webhook.url_env, step.notify_webhook.secret_env or ""]
            found += [environ.get(name, "").strip() for name in names if name]
    return [secret for secret in found if secret]


def _secret(settings: Settings, field: str, variable: str, why: str) -> str:
    value = getattr(settings, field)
    if value is None or not value.get_secret_value().strip():
        raise NotReady(f"{variable} is not set: {why}")
    return str(value.get_secret_value()).strip()


def start_loop(perfbot: Perfbot, deliver: Deliver | None,
               post_digest: PostDigest | None = None,
               leadership: Leadership | SoleProcess | None = None) -> Loop:
    """The incidents loop of ``perfbot``, started; ``deliver`` sends the outbox (None: the
    effects wait in the outbox, nothing is lost); ``post_digest`` posts scheduled digests
    (None: none are posted); ``leadership`` says whether this replica runs the leader's
    ticks (None: it always does)."""
    from bot.schedule import Loop

    loop = Loop(perfbot, deliver, post_digest=post_digest,
                leading=(lambda: leadership.is_leader) if leadership is not None else None)
    loop.start()
    return loop


def delivery(perfbot: Perfbot, client: WebClient) -> Deliver:
    """How the loop carries out the outbox: posting through ``client`` (the same delivery
    the buttons use, so one process never sends an effect twice)."""
    return perfbot.delivery_for(client).deliver


def _run(args: argparse.Namespace, out: TextIO, stop: Event, ping_interval: float,
         grace: float, deliver: Deliver | None, cut: list[Stopped], *, exits: bool) -> int:

    from bot.app import build
    from bot.clock import clock_at
    from bot.config import load_settings
    from bot.notify.pagerduty import missing_variables
    from bot.observability import Telemetry, install
    from bot.storage import StorageError
    from bot.storage.leader import SoleProcess, leadership_for

    install(Telemetry())  # this run's metrics start from zero
    level = getattr(args, "log_level", "info").upper()
    settings = load_settings(args.config)
    _log_to_stderr(level, getattr(args, "log_format", "text"), _secrets(settings, os.environ))
    if level != "DEBUG":  # APScheduler says "Running job…" at every tick (every 2 s)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        clock = clock_at(getattr(args, "at", None), settings.zone,
                         speed=getattr(args, "speed", 1.0),
                         since=getattr(args, "speed_from", None))
    except ValueError as exc:
        raise NotReady(str(exc)) from None
    if clock.rate != 1 and level != "DEBUG":
        # Ticks N times as often: one still running when the next is due is the rule, and
        # APScheduler would warn of each one skipped.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    _secret(settings, "slack_bot_token", "SLACK_BOT_TOKEN",
            "the bot token (xoxb-…) from your app's OAuth & Permissions page")
    app_token: str | None = None
    if args.http is None:
        app_token = _secret(settings, "slack_app_token", "SLACK_APP_TOKEN",
                            "Socket Mode needs an app-level token (xapp-…) with "
                            "connections:write; or run with --http PORT")
        signing_secret = None
    else:
        signing_secret = _secret(settings, "slack_signing_secret", "SLACK_SIGNING_SECRET",
                                 "HTTP mode checks every request with the app's signing "
                                 "secret (Basic Information page)")
    if unset := missing_variables(settings.oncall, os.environ):  # before any page needs them
        raise NotReady("; ".join(unset))
    perfbot = build(settings, clock, demo=args.demo_data, slack_api_url=args.slack_api_url)
    leadership = leadership_for(perfbot.database, settings.leader.takeover)
    if isinstance(leadership, SoleProcess):  # SQLite: refused before anything is written
        try:
            leadership.start()
        except StorageError as exc:
            raise NotReady(str(exc), EXIT_FAILED) from None
    try:
        return _run_with(args, out, stop, ping_interval, grace, deliver, perfbot,
                         signing_secret, app_token, leadership, cut)
    finally:
        # A tick cut while writing may still write as leader: the lock goes with the
        # process, which exits at once (``cmd_run``).
        if not (exits and any(s.writing for s in cut)):
            leadership.stop()
        perfbot.database.close()  # its idle connections; a cut tick's stays its own


def _run_with(args: argparse.Namespace, out: TextIO, stop: Event, ping_interval: float,
              grace: float, deliver: Deliver | None, perfbot: Perfbot,
              signing_secret: str | None, app_token: str | None,
              leadership: Leadership | SoleProcess, cut: list[Stopped]) -> int:
    from slack_sdk.errors import SlackApiError, SlackClientError

    from bot.durations import format_duration
    from bot.memory import freeze_startup
    from bot.notify.digests import SlackDigestPoster
    from bot.slack.app import AfterAck, build_slack_app
    from bot.slack.replier import Replier
    from bot.storage import StorageError
    from bot.storage.leader import Leadership

    clock = perfbot.clock
    try:  # every press is recorded before it is shown: a store that cannot be written is fatal
        perfbot.database.check_writable()
    except StorageError as exc:
        raise NotReady(f"{exc}. Every incident action is recorded there before Slack shows "
                       "it: give perfbot a database it can write (storage.url)",
                       EXIT_FAILED) from None
    client = perfbot.slack_client
    try:
        identity = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        raise NotReady(f"Slack refused SLACK_BOT_TOKEN: auth.test said {error!r}") from None
    except (SlackClientError, OSError) as exc:
        raise NotReady(f"could not reach Slack to check SLACK_BOT_TOKEN: {exc}",
                       EXIT_FAILED) from None
    print(f"perfbot: connected to {identity.get('team')} as {identity.get('user')}", file=out)
    replier = Replier(perfbot, client)
    after = AfterAck()
    app = build_slack_app(perfbot, client=client, replier=replier, after=after)
    if current_thread() is main_thread():  # a process of its own, not a test's thread
        # `docker stop` and systemd send SIGTERM: stop as after Ctrl-C, answers first.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        freeze_startup()  # what is loaded now stays: each answer's collection skips it
    loops: list[Loop] = []

    def connected() -> None:
        if getattr(args, "no_loop", False):
            print("perfbot: --no-loop: answering questions only", file=out)
            return
        if isinstance(leadership, Leadership):
            leadership.start()  # tries at once: a lone replica leads from its first tick
        loops.append(start_loop(perfbot, deliver if deliver is not None
                                else delivery(perfbot, client),
                                SlackDigestPoster(client, perfbot.settings.zone), leadership))
        every = loops[0].every
        fast = f" (the clock runs at {clock.rate:g}x)" if clock.rate != 1 else ""
        print(f"perfbot: incidents loop on: detection every "
              f"{format_duration(every['detect'])}, escalation sweep every "
              f"{format_duration(every['sweep'])}{fast}; leader: {_leader_line(leadership)}",
              file=out)

    settings = perfbot.settings
    slack_up: list[Callable[[], bool]] = []  # serve says how to tell, once it can

    def leads() -> bool:  # with --no-loop (no loop), this replica leads nothing
        return bool(loops) and leadership.is_leader

    webhooks = operational_apps(perfbot, slack_up, leads)
    try:
        serve(args, app, app_token, signing_secret, stop, ping_interval, out, connected,
              webhooks, settings, slack_up)
    finally:
        within = settings.server.stop_within.total_seconds()
        deadline = time.monotonic() + within
        cut += [loop.stop(within) for loop in loops]  # no tick starts from here on
        writing = sorted({name for s in cut for name in s.writing})
        reading = sorted({name for s in cut for name in s.reading})
        if isinstance(leadership, Leadership) and not writing:
            # As soon as no tick here can write as leader, not after the answers: another
            # replica need not wait out the takeover. SQLite's lock stays to the end: a
            # second process on the file must not start while this one still writes.
            leadership.stop()
            log.info("perfbot: leadership released")
        if reading:
            log.warning("perfbot: stopping: cut the %s tick(s), still reading; they wrote "
                        "nothing, the next leader's do it again", ", ".join(reading))
        if writing:  # its claims on the outbox run out; the next leader sends what is left
            log.warning("perfbot: stopping: cut the %s tick(s), still writing after %s; "
                        "what they stored is sent by the next leader (the leadership goes "
                        "with the process)", ", ".join(writing),
                        format_duration(settings.server.stop_within))
        after.close()  # the askers of the work not started are told to ask again
        unanswered = replier.finish(max(0.0, min(grace, deadline - time.monotonic())))
        print("perfbot: stopped" + (f"; {unanswered} unanswered question(s) were told to "
                                    "ask again" if unanswered else ""), file=out)
    return EXIT_OK


def _leader_line(leadership: Leadership | SoleProcess) -> str:
    from bot.durations import format_duration
    from bot.storage.leader import LEADING, TAKING_OVER, SoleProcess

    if isinstance(leadership, SoleProcess):
        return "this process (SQLite is for one process)"
    now = {LEADING: "this replica", TAKING_OVER: "this replica, once the last leader's "
           "lease is over"}.get(leadership.state, "another replica (this one stands by)")
    return (f"{now}; with several replicas on this PostgreSQL one leads, another takes "
            f"over within {format_duration(leadership.takeover)}")
