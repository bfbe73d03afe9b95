"""``perfbot detect --at TIME [--window 7d]``: one detection cycle, its findings and alerts."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_detect_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register ``detect`` on the CLI's subparsers (``common`` gives --config and --at)."""
    detect = subparsers.add_parser(
        "detect", parents=[common],
        help="run one detection cycle and print the findings and their alerts",
        epilog="Examples:\n  perfbot detect\n  perfbot detect --at 2026-11-23T12:00Z --window 2d",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Defaults are filled in by cmd_detect: bot.detection is not imported for --help.
    detect.add_argument("--window",
                        help="report findings active in this span before --at (default 7d)")
    detect.add_argument("--history", help="history read for the baselines (default 28d)")
    detect.set_defaults(func=cmd_detect)


def cmd_detect(args: argparse.Namespace, out: TextIO) -> int:
    from bot.app import build
    from bot.clock import clock_at
    from bot.config import load_settings
    from bot.detection import HISTORY, WINDOW, run_cycle
    from bot.durations import format_duration, parse_duration
    from bot.metrics.base import MetricsError
    from bot.render.alert import alert_text, build_alert

    settings = load_settings(args.config)
    try:
        window = WINDOW if args.window is None else parse_duration(args.window)
        history = HISTORY if args.history is None else parse_duration(args.history)
    except ValueError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        clock = clock_at(getattr(args, "at", None), settings.zone)
    except ValueError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bot = build(settings, clock=clock)
    at = bot.data_now()
    try:
        report = run_cycle(bot.backend, at, window, history=history, catalog=bot.catalog,
                           playbooks=bot.playbooks, deploys=bot.deploys)
    except MetricsError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    result = report.result
    tz = settings.zone
    print(f"Detection at {at.astimezone(tz):%Y-%m-%d %H:%M %Z} over the last "
          f"{format_duration(window)}: {len(result.findings)} finding(s) from "
          f"{result.series_checked} series ({result.series_scored} scored)", file=out)
    for problem in report.problems:
        print(f"  ! {problem}", file=out)
    for p in result.problems:
        print(f"  ! {p.key.label}: {p.message}", file=out)
    for item in report.explained:
        print(file=out)
        print(alert_text(build_alert(item, tz, chart=False)), file=out)
    return EXIT_OK
