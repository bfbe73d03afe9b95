"""``perfbot detect --at TIME [--window 7d]``: one detection cycle, its findings and alerts;
``--replay 7d [--sensitivity SCOPE=LEVEL]``: the backtest."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
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
    detect.add_argument(
        "--replay", metavar="PERIOD",
        help="backtest: run the detector over this past period before --at, tick by tick as "
             "the bot would have, and print every alert it would have raised (e.g. 7d)")
    detect.add_argument(
        "--sensitivity", metavar="SCOPE=LEVEL", action="append", default=[],
        help="with --replay: a service (or 'SERVICE METHOD /route') at low, normal or high, "
             "over detection.sensitivity; prints alerts per day at each level. Repeatable")
    detect.add_argument(
        "--feedback", action="store_true",
        help="print the noise rate per signal and per service from the Useful / Noise answers")
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
    if getattr(args, "feedback", False):
        return cmd_feedback(args, out)
    if getattr(args, "replay", None) is not None or getattr(args, "sensitivity", None):
        return cmd_replay(args, out)
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
                           playbooks=bot.playbooks, deploys=bot.deploys,
                           levels=settings.detection.sensitivity)
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


def parse_levels(items: list[str]) -> dict[str, str]:
    """``["orders=low"]`` → ``{"orders": "low"}``; ValueError saying which item is wrong."""
    from bot.analytics.findings.sensitivity import LEVELS

    levels: dict[str, str] = {}
    for item in items:
        scope, sep, level = item.rpartition("=")
        scope, level = scope.strip(), level.strip()
        if not sep or not scope:
            raise ValueError(f"--sensitivity {item!r}: expected SCOPE=LEVEL, e.g. orders=low")
        if level not in LEVELS:
            raise ValueError(f"--sensitivity {item!r}: the level must be one of "
                             f"{', '.join(LEVELS)}, got {level!r}")
        levels[scope] = level
    return levels


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    """``perfbot detect --replay 7d``: the backtest."""
    import time

    from bot.analytics.findings.sensitivity import LEVELS, Level
    from bot.app import build
    from bot.clock import clock_at
    from bot.config import load_settings
    from bot.detection import HISTORY
    from bot.detection_replay import Replay, read_period, replay
    from bot.durations import format_duration, parse_duration
    from bot.incidents.memory import MemoryIncidents
    from bot.incidents.service import Incidents
    from bot.metrics.base import MetricsError

    settings = load_settings(args.config)
    try:
        if args.replay is None:
            raise ValueError("--sensitivity goes with --replay PERIOD (e.g. --replay 7d)")
        period = parse_duration(args.replay)
        history = HISTORY if args.history is None else parse_duration(args.history)
        asked = parse_levels(args.sensitivity)
        clock = clock_at(getattr(args, "at", None), settings.zone)
    except ValueError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    detection = settings.detection
    base: dict[str, Level] = {**detection.sensitivity, **asked}  # type: ignore[dict-item]
    bot = build(settings, clock=clock)
    end = bot.data_now()
    tz = settings.zone

    def run(levels: dict[str, Level]) -> Replay:
        # A fresh in-memory store each run: the bot's database is never touched.
        incidents = Incidents(store=MemoryIncidents(), oncall=settings.oncall,
                              default_channel=settings.incidents.default_channel,
                              reopen_within=settings.incidents.reopen_within)
        return replay(data, end, period, incidents, interval=detection.interval,
                      window=detection.window, zone=tz, levels=levels)

    began = time.perf_counter()
    try:
        data = read_period(bot.backend, end, period, detection.window, history=history,
                           catalog=bot.catalog)
    except MetricsError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    read = time.perf_counter() - began
    result = run(base)
    took = time.perf_counter() - began
    print(f"Backtest of {format_duration(period)} to {end.astimezone(tz):%Y-%m-%d %H:%M %Z}: "
          f"a detection every {format_duration(detection.interval)} over the last "
          f"{format_duration(detection.window)}, {result.ticks} ticks on {result.series} "
          f"series ({result.candidates} fired somewhere, the detector ran at {result.cycles} "
          f"ticks) in {took:.1f} s ({read:.1f} s reading)", file=out)
    for problem in result.problems:
        print(f"  ! {problem}", file=out)
    if base:
        print("Sensitivity: " + ", ".join(f"{k}={v}" for k, v in sorted(base.items())),
              file=out)
    print(f"\nAlerts it would have raised: {len(result.alerts)}", file=out)
    for a in result.alerts:
        lasted = (f"lasted {format_duration(a.duration)}" if a.duration is not None
                  else "still open at the end")
        print(f"  {a.raised_at.astimezone(tz):%a %Y-%m-%d %H:%M}  {a.severity:<8} {a.title} "
              f"(began {a.began_at.astimezone(tz):%H:%M}; {lasted})", file=out)
    print("\nAlerts per day by service:", file=out)
    per_day = result.per_day()
    for service, rate in per_day.items():
        print(f"  {service:<24} {rate:6.2f}", file=out)
    print(f"  {'all':<24} {sum(per_day.values()):6.2f}", file=out)
    for scope in asked:
        rates = []
        for level in LEVELS:
            at_level = run({**base, scope: level})
            days = period / timedelta(days=1)
            n = sum(1 for a in at_level.alerts if _in_scope(scope, a.service, a.endpoint))
            rates.append(f"{level} {n / days:.2f}")
        print(f"\nAlerts per day for {scope} at each level: " + ", ".join(rates), file=out)
    return EXIT_OK



def _in_scope(scope: str, service: str, endpoint: str | None) -> bool:
    """Whether an alert is of ``scope``: its service, or its endpoint (with or without the
    service before it)."""
    return scope in {service, endpoint, f"{service} {endpoint}"}


def cmd_feedback(args: argparse.Namespace, out: TextIO) -> int:
    """``perfbot detect --feedback``: the noise rate per signal and per service."""
    from bot.config import load_settings
    from bot.storage import Database, StorageError
    from bot.storage.feedback import FeedbackStore

    settings = load_settings(args.config)
    database = Database(settings.storage.url)
    try:
        store = FeedbackStore(database)
        tables = {by: store.rates(by) for by in ("signal", "service")}
    except StorageError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        database.close()
    if not tables["signal"]:
        print("No answers yet: the Useful / Noise buttons on alerts in Slack record them.",
              file=out)
        return EXIT_OK
    for by, rates in tables.items():
        print(f"Noise rate per {by}:", file=out)
        for r in rates:
            print(f"  {r.name:<24} {r.rate:5.0%} noise ({r.noise} of {r.noise + r.useful} "
                  "answers)", file=out)
    return EXIT_OK
