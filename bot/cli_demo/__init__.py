"""``perfbot demo``: the whole loop, scripted, on a simulated clock.

The real bot (``bot.app``'s ``Perfbot``) on the embedded demo workload, a SQLite file in a
temporary directory (never ./perfbot.db) and a Slack that stays in the process
(``RecordingSlack``): the digest tick, the answers, the detection tick, the escalation sweep,
the acknowledgement, the recovery and the weekly digest run as ``perfbot run``'s loop runs
them, on a ``FakeClock`` moved from step to step. What the bot sends to Slack is printed as
it would read there. In a terminal a prompt follows (``help`` lists its commands).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from bot.cli_demo.prompt import prompt
from bot.cli_demo.walk import Walk
from bot.cli_demo.world import EXIT_OK, EXIT_USAGE, DemoError


def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    charts = Path(args.charts) if args.charts else Path(tempfile.mkdtemp(prefix="perfbot-demo-"))
    try:
        charts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"perfbot: --charts: cannot use {charts}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with _quiet_logs(), tempfile.TemporaryDirectory(prefix="perfbot-demo-db-") as db:
            walk = Walk.start(args, out, charts, Path(db))
            try:
                walk.run()
                if not args.no_prompt and sys.stdin.isatty():
                    prompt(walk, sys.stdin)
            finally:
                walk.close()
    except DemoError as exc:
        if not args.charts and not any(charts.iterdir()):
            charts.rmdir()  # made for this run, which wrote nothing
        print(f"perfbot: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:  # Ctrl-C during the walk: what was started is stopped above
        print("\nperfbot: demo interrupted", file=sys.stderr)
        return 130
    return EXIT_OK


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """The walk prints what matters; the parts' own log lines (a digest skipped as too
    old, a tick's summary) would interleave with it."""
    root = logging.getLogger("bot")
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
