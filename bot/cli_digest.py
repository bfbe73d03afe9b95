"""``perfbot digest daily|weekly``: a digest in the terminal, as the scheduled post reads.

The period ends at ``--at`` (default now; the demo holds its data time): the same
``Perfbot.build_digest`` the schedule calls, rendered by ``digest_text``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

EXIT_USAGE = 2


def add_digest_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    digest = subparsers.add_parser(
        "digest", parents=[common], help="print the daily or weekly digest",
        description="The daily or weekly digest ending now (or --at), as Slack shows it.",
        epilog="Examples:\n  perfbot digest weekly\n  perfbot digest daily --team payments\n"
        "  perfbot digest weekly --service checkout --chart digest.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    digest.add_argument("kind", choices=("daily", "weekly"), help="which digest")
    scope = digest.add_mutually_exclusive_group()
    scope.add_argument("--team", metavar="TEAM", help="one team's (a catalog owner)")
    scope.add_argument("--service", metavar="SERVICE", help="one service's")
    digest.add_argument("--chart", metavar="PNG", help="also write the digest's chart here")
    digest.set_defaults(func=cmd_digest)


def cmd_digest(args: argparse.Namespace, out: TextIO) -> int:
    from bot.app import build
    from bot.clock import clock_at
    from bot.config import load_settings
    from bot.digests.model import Scope
    from bot.render.digest import digest_chart, digest_text

    settings = load_settings(args.config)
    try:
        clock = clock_at(getattr(args, "at", None), settings.zone)
    except ValueError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bot = build(settings, clock=clock)
    digest = bot.build_digest(args.kind, bot.data_now(),
                              Scope(team=args.team, service=args.service))
    print(digest_text(digest, settings.zone), file=out)
    if args.chart:
        chart = digest_chart(digest)
        if chart is None:
            print("perfbot: this digest has no chart; nothing written", file=sys.stderr)
        else:
            Path(args.chart).write_bytes(chart)
            print(f"chart written to {args.chart}", file=out)
    return 0
