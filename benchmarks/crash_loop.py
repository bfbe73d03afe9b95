"""Crash loop: ``perfbot run`` SIGKILLed and restarted again and again while it escalates.

Usage: ``python benchmarks/crash_loop.py [--kills 20] [--seed 7] [--speed 60]
[--alive 1,6] [--aim S] [--keep]``

The bot runs as a process of its own (``tests/bot_process.py``: ``python -m bot run --http 0``
on the demo data, against the loopback Slack stand-in, a SQLite file) on a clock ``--speed``
times faster than real time, with a policy paging one user a minute (three users, repeated
for long enough to outlast the loop). Each run lives a random time drawn from ``--alive``
seconds of real time after its loop is on (seeded; with ``--aim S``, then on to within S
seconds after the next step falls due, when pages are in flight), is SIGKILLed, and the
next one starts on the same database. After the last kill one more run goes to the end of
the policy.

Prints the notifications (DMs) expected (every step of every pass, for every incident),
sent (what Slack took), lost, duplicated; the kills that fell between Slack's ok and the
bot's record of it (the only duplicates allowed: at least once, never lost), by kind; and
the same for the "Paged …" lines in the threads and the channel messages. Never asserts.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the stand-in and the process harness live in tests/

from tests.bot_process import (  # noqa: E402
    BotProcess,
    Page,
    Tally,
    minutely_policy,
    page_of,
    standin,
    wait_until,
    write_config,
)


@dataclass
class Windows:
    """What Slack took and the store had not recorded when a kill fell: sent again after
    the restart, by kind."""

    dms: int = 0
    lines: int = 0
    posts: int = 0
    kills_in_a_window: int = 0
    pages_in_flight: list[int] = field(default_factory=list)  # decided, not done, per kill


def unrecorded(tally: Tally) -> tuple[Counter[Page], int, int]:
    """After a kill: the DMs, thread lines and channel posts Slack took whose record the
    store does not have (so the restarted bot sends them again)."""
    items = {item.key: item for item in tally.store.outbox()}
    dms: Counter[Page] = Counter()
    lines = 0
    for call in tally.slack.calls("chat.postMessage", delivered=True):
        page = page_of(call)
        if page is not None:
            user, incident, number, step = page
            item = items.get(f"{incident}:{number}:{step}")
            if item is not None and item.sent_at is None and user not in item.done:
                dms[page] += 1
    incidents = {i.name: i for i in tally.read()}
    # A line is in the thread of a message; the page is marked once the line is out.
    for (_channel, thread, text), count in tally.lines().items():
        incident = next((i for i in incidents.values() if i.message_ts == thread), None)
        if incident is None:
            continue
        step, number = (int(part) - 1 for part in text.rsplit("(step ", 1)[1]
                        .rstrip(")").split(", pass "))
        item = items.get(f"{incident.name}:{number}:{step}")
        if item is not None and item.sent_at is None:
            lines += count
    posted = tally.posts()
    posts = sum(1 for name, incident in incidents.items()
                if incident.message_ts is None and posted.get(name))
    return dms, lines, posts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=60)
    parser.add_argument("--alive", default="1,6",
                        help="each run lives between these many real seconds (uniform)")
    parser.add_argument("--aim", type=float, default=0, metavar="S",
                        help="then kill within S real seconds after the next step falls due "
                        "(when pages are in flight) rather than anywhere")
    parser.add_argument("--keep", action="store_true", help="keep the folder with the logs")
    args = parser.parse_args()
    # Stopped from outside: leave through the `with`s, so the bot's process is not left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    low, high = (float(x) for x in args.alive.split(","))
    chance = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="perfbot-crash-loop-"))
    url = f"sqlite:///{workdir / 'perfbot.db'}"
    # Long enough to outlast the loop: each restart takes a few seconds (minutes here).
    policy = minutely_policy(repeat=100)
    config = write_config(workdir / "perfbot.yaml", url, policy)
    windows = Windows()
    began = time.monotonic()
    with standin() as slack, BotProcess(workdir, slack, config, speed=args.speed) as bot:
        tally = Tally.of(url, slack, policy)
        tally.read()  # the schema, before the first bot opens the file
        for kill in range(args.kills):
            bot.start()
            time.sleep(chance.uniform(low, high))
            if args.aim:  # on to just after the next step falls due: pages in flight
                _due, upcoming = tally.due(bot.now())
                if upcoming is not None:
                    time.sleep(max(0.0, bot.real_seconds(upcoming - bot.now()))
                               + chance.uniform(0, args.aim))
            bot.kill()
            time.sleep(0.3)  # a request Slack was still answering is answered now
            dms, lines, posts = unrecorded(tally)
            windows.dms += sum(dms.values())
            windows.lines += lines
            windows.posts += posts
            windows.kills_in_a_window += bool(dms or lines or posts)
            windows.pages_in_flight.append(len(tally.unmarked_pages()))
            print(f"kill {kill + 1:>2}: {len(tally.sent_pages()):>4} pages marked sent, "
                  f"{len(tally.unmarked_pages()):>2} in flight; Slack took and the store "
                  f"missed: {sum(dms.values())} DM, {lines} line, {posts} post", flush=True)
        bot.start()
        # The policy runs on for minutes after the last kill: stop once it has no more due.
        policy_minutes = len(policy["steps"]) * (policy["repeat"] + 1)
        last = max(i.opened_at for i in tally.read())
        rest = bot.real_seconds(last + _minutes(policy_minutes) - bot.now())
        wait_until("the policy's end", lambda: tally.complete() and not tally.store.pending(
            _far()), timeout=max(rest, 0) + 300, every=0.2, alive=bot)
        bot.stop()
        elapsed = time.monotonic() - began
        report(tally, windows, args, elapsed)
        tally.close()
    if args.keep:
        print(f"logs and database: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def report(tally: Tally, windows: Windows, args: argparse.Namespace, elapsed: float) -> None:
    expected = tally.expected()
    sent = tally.dms()
    lost = expected - set(sent)
    extra = set(sent) - expected
    duplicated = sum(count - 1 for count in sent.values() if count > 1)
    lines = tally.lines()
    posts = tally.posts()
    print()
    aim = f", aimed within {args.aim:g} s after a step fell due" if args.aim else ""
    print(f"{args.kills} SIGKILLs (seed {args.seed}, each run alive {args.alive} s{aim}, "
          f"clock at {args.speed:g}x), {len(tally.incidents)} incidents, {elapsed:.0f} s in "
          "all")
    print()
    print("| notifications | expected | sent | lost | duplicated | kills between Slack's ok "
          "and the record |")
    print("|---|---|---|---|---|---|")
    print(f"| DMs (pages) | {len(expected)} | {sum(sent.values())} | {len(lost)} | "
          f"{duplicated} | {windows.dms} |")
    line_dups = sum(count - 1 for count in lines.values() if count > 1)
    print(f"| \"Paged\" lines in threads | {len(expected)} | {sum(lines.values())} | "
          f"{len(expected) - len(lines)} | {line_dups} | {windows.lines} |")
    post_dups = sum(count - 1 for count in posts.values() if count > 1)
    print(f"| channel messages | {len(tally.incidents)} | {sum(posts.values())} | "
          f"{len(tally.incidents) - len(posts)} | {post_dups} | {windows.posts} |")
    print()
    print(f"kills that fell in such a window: {windows.kills_in_a_window} of {args.kills}; "
          f"pages decided and not yet marked at a kill: median "
          f"{sorted(windows.pages_in_flight)[len(windows.pages_in_flight) // 2]}, max "
          f"{max(windows.pages_in_flight)}")
    print(f"duplicates outside those windows: DMs {duplicated - windows.dms}, lines "
          f"{line_dups - windows.lines}, messages {post_dups - windows.posts} (goal 0)")
    if extra:
        print(f"DMs nobody expected: {sorted(extra)[:5]}")
    late = tally.schedule_kept()
    print(f"pages off the policy's schedule (due time not the policy's, or decided early): "
          f"{len(late)}")


def _minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


def _far() -> datetime:
    return datetime(9999, 1, 1, tzinfo=UTC)


if __name__ == "__main__":
    main()
