"""Takeover: two ``perfbot run`` replicas on one PostgreSQL, the leader SIGKILLed again and
again while they escalate; how long until the other leads, and what Slack received.

Usage: ``python benchmarks/takeover.py [--kills 10] [--takeover 10s] [--speed 60] [--keep]``

Both replicas run as processes (``tests/bot_process.py``) on a throwaway PostgreSQL
(``tests/postgres_server.py``), the demo data and the Slack stand-in, with a policy paging
one user a minute, long enough to outlast the loop. Each round: wait a second or two of
real time, SIGKILL whichever replica leads, wait until the other logs "perfbot: leading",
start the killed one again (it stands by). Prints each takeover's time (from the kill to the
survivor's "leading" line, by its log's timestamp), their median and worst against
``leader.takeover``, and the DMs expected, sent, lost and duplicated. A kill that falls
between Slack's ok and the record of it sends that one DM again (at least once). Never
asserts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the stand-in and the process harness live in tests/

from bot.durations import parse_duration  # noqa: E402
from bot.storage.leader import LEADING  # noqa: E402
from tests.bot_process import (  # noqa: E402
    BotProcess,
    Tally,
    minutely_policy,
    standin,
    wait_until,
    write_config,
)
from tests.postgres_server import PostgresServer  # noqa: E402

FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


def leading_since(bot: BotProcess, after: datetime) -> datetime | None:
    """When ``bot``'s current run last logged LEADING at or after ``after`` (its log's
    clock, UTC), if it did."""
    found = None
    for line in bot.output().splitlines():
        if LEADING in line and line[:4].isdigit():
            at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
            if at >= after:
                found = at
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--takeover", default="10s", help="leader.takeover (default 10s)")
    parser.add_argument("--speed", type=float, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the folder with the logs")
    args = parser.parse_args()
    bound = parse_duration(args.takeover).total_seconds()
    folder = Path(tempfile.mkdtemp(prefix="perfbot-takeover-"))
    policy = minutely_policy(repeat=5 + args.kills * 3)
    takeovers: list[float] = []
    started = time.monotonic()
    with PostgresServer() as server, standin() as slack:
        url = server.create_database()
        config = write_config(folder / "perfbot.yaml", url, policy, takeover=args.takeover)
        tally = Tally.of(url, slack, policy)
        tally.read()
        since = datetime.now(UTC)
        bots = []
        for name in ("a", "b"):
            (folder / name).mkdir()
            bots.append(BotProcess(folder / name, slack, config, speed=args.speed,
                                   since=since))
        for bot in bots:
            bot.start()
        try:
            for kill in range(args.kills):
                time.sleep(1 + kill % 2)
                leader = max(bots, key=lambda b: leading_since(b, since) or since)
                other = bots[1 - bots.index(leader)]
                leader.kill()
                killed = datetime.now(UTC)

                def led(survivor: BotProcess = other, moment: datetime = killed) -> bool:
                    return leading_since(survivor, moment) is not None

                wait_until("the other replica leads", led, timeout=bound * 4 + 60,
                           alive=other)
                at = leading_since(other, killed)
                assert at is not None
                takeovers.append((at - killed).total_seconds())
                print(f"kill {kill + 1}: the other led {takeovers[-1]:.2f}s later", flush=True)
                leader.start()
            # No more kills: the survivors run to the end of the policy.
            wait_until("every step paged", lambda: tally.complete() and
                       tally.store.pending(FOREVER) == [], timeout=3600)
        finally:
            for bot in bots:
                bot.kill()
        dms = tally.dms()
        expected = tally.expected()
        print(f"\n{args.kills} kills in {time.monotonic() - started:.0f}s; leader.takeover "
              f"{args.takeover}; standby polls every {bound / 3:.2f}s")
        print(f"takeover: median {statistics.median(takeovers):.2f}s, worst "
              f"{max(takeovers):.2f}s (bound {bound:g}s)")
        print(f"DMs: expected {len(expected)}, sent {sum(dms.values())}, lost "
              f"{len(expected - set(dms))}, duplicated "
              f"{sum(c - 1 for c in dms.values() if c > 1)}")
        tally.close()
    if args.keep:
        print(f"logs: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
