"""The terminal transport: ``perfbot <command>``. Parses arguments, calls the core, prints."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from bot import __version__
from bot.cli_config import add_config_commands
from bot.cli_detect import add_detect_commands
from bot.cli_digest import add_digest_commands
from bot.cli_incidents import add_incident_commands
from bot.cli_playbooks import add_playbook_commands
from bot.cli_slack import add_slack_commands

# Only the standard library at import: `perfbot --help` must not pay for pandas, scipy and
# matplotlib. Each command imports what it needs when it runs.
if TYPE_CHECKING:
    from bot.app import Perfbot
    from bot.catalog import EndpointInfo
    from bot.clock import Clock
    from bot.config import Settings
    from bot.metrics.base import Signal

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# The words of `perfbot query SIGNAL`, listed here for --help; _signal_words() maps them.
SIGNAL_NAMES = ("latency", "p50", "p75", "p90", "p95", "p99", "throughput", "traffic", "rps",
                "error_ratio", "errors", "cpu", "memory")


def _signal_words() -> dict[str, tuple[Signal, float]]:
    from bot.figures import STATISTICS
    from bot.metrics.base import Signal

    return {
        "latency": (Signal.LATENCY, 0.95),
        **{name: (Signal.LATENCY, q) for name, q in STATISTICS.items()},
        "throughput": (Signal.THROUGHPUT, 0.0),
        "traffic": (Signal.THROUGHPUT, 0.0),
        "rps": (Signal.THROUGHPUT, 0.0),
        "error_ratio": (Signal.ERROR_RATIO, 0.0),
        "errors": (Signal.ERROR_RATIO, 0.0),
        "cpu": (Signal.CPU, 0.0),
        "memory": (Signal.MEMORY, 0.0),
    }


class UsageError(Exception):
    """Bad arguments; the message says which and what was expected."""


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace, TextIO], int] = args.func
    try:
        return command(args, out)
    except BrokenPipeError:
        # The reader went away (perfbot ... | head): not worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except UsageError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        return _failed(exc)


def _failed(exc: Exception) -> int:
    """The exit status and one line for the errors a command may raise; others propagate.
    Imported here, not at the top: a command that raised them has loaded them already."""
    from bot.config import ConfigError
    from bot.metrics.base import MetricsError

    if isinstance(exc, ConfigError):
        print(f"perfbot: configuration error\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, MetricsError):
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    raise exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perfbot",
        description="Performance insights from Prometheus metrics, in Slack and in the terminal.",
        epilog="Examples:\n  perfbot demo\n  perfbot endpoints\n"
        "  perfbot ask \"p95 of checkout vs last week\" --chart checkout.png\n"
        "  perfbot query p95 checkout --window 24h\n  perfbot check-config --config perfbot.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"perfbot {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help="YAML settings (default: $PERFBOT_CONFIG, then ./perfbot.yaml, then built-in demo)",
    )
    common.add_argument(
        "--at",
        metavar="TIME",
        help="answer as if it were this time (ISO 8601, e.g. 2026-11-20T14:00; default now)",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo", parents=[common],
        help="the whole loop on the embedded demo workload: no Slack, no Prometheus",
        description="A scripted walk on a simulated clock: the morning digest, three "
        "questions, the missing index detected and posted, escalated, acknowledged, fixed and "
        "resolved, then the weekly digest; in a terminal, a prompt follows.",
    )
    demo.add_argument("--no-prompt", action="store_true",
                      help="end after the walk (no prompt, even in a terminal)")
    demo.add_argument("--prometheus", action="store_true",
                      help="load the demo data into a throwaway local Prometheus and walk "
                           "through PromQL, printing each query")
    demo.add_argument("--charts", metavar="DIR",
                      help="where to write the charts (default: a new temporary directory)")
    demo.set_defaults(func=cmd_demo)

    check = sub.add_parser(
        "check-config", parents=[common], help="validate settings and check the metrics server"
    )
    check.set_defaults(func=cmd_check_config)

    endpoints = sub.add_parser(
        "endpoints", parents=[common], help="the endpoint catalog with current p95, errors, traffic"
    )
    endpoints.add_argument("--lookback", default="1h", help="window of the figures (default 1h)")
    endpoints.set_defaults(func=cmd_endpoints)

    query = sub.add_parser(
        "query",
        parents=[common],
        help="one signal of one endpoint over a window",
        description="One signal of one endpoint (or its service, for cpu/memory) over a window.",
        epilog="Examples:\n  perfbot query latency checkout --window 24h\n"
        "  perfbot query p99 'GET /api/orders/history' --window 7d\n"
        "  perfbot query errors payments --window 1h\n  perfbot query cpu search",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("signal", metavar="SIGNAL", help=f"one of: {', '.join(SIGNAL_NAMES)}")
    query.add_argument("endpoint", metavar="ENDPOINT", help="key, route, alias or a near miss")
    query.add_argument("--window", default="24h", help="how far back (default 24h)")
    query.set_defaults(func=cmd_query)

    question = sub.add_parser(
        "ask",
        parents=[common],
        help="answer a question in plain words, as the Slack bot does",
        description="Answer a question about latency, errors, traffic, cost or SLOs.",
        epilog="Examples:\n  perfbot ask \"p95 latency of checkout over the last 24h\"\n"
        "  perfbot ask \"top 5 slowest endpoints today\" --chart slowest.png\n"
        "  perfbot ask \"did the fix help? order history before and after 14:00\"\n"
        "  perfbot ask \"error budget left for payments this month\"\n"
        "  perfbot ask \"how much does checkout cost per day?\"\n  perfbot ask help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    question.add_argument("question", nargs="+", metavar="QUESTION",
                          help="the question (quote it, or give it as several words)")
    question.add_argument("--chart", metavar="PNG", help="also draw the answer's chart here")
    question.set_defaults(func=cmd_ask)
    add_detect_commands(sub, common)
    add_playbook_commands(sub, common)
    add_slack_commands(sub, common)
    add_incident_commands(sub, common)
    add_digest_commands(sub, common)
    add_config_commands(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    from bot.config import load_settings

    return load_settings(args.config)


def _build(args: argparse.Namespace, *, demo: bool = False) -> Perfbot:
    """The bot for this command; ``--at`` holds its data at that moment."""
    from bot.app import build

    settings, clock = _settings_and_clock(args)
    return build(settings, clock=clock, demo=demo)


def _settings_and_clock(args: argparse.Namespace) -> tuple[Settings, Clock]:
    from bot.clock import clock_at

    settings = _settings(args)
    try:
        return settings, clock_at(getattr(args, "at", None), settings.zone)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _duration(option: str, text: str) -> timedelta:
    from bot.durations import parse_duration

    try:
        span = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if span < timedelta(minutes=1):
        raise UsageError(f"{option}: expected at least 1m, got {text!r}")
    return span


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from bot.cli_demo import run_demo

    return run_demo(args, out)


def cmd_check_config(args: argparse.Namespace, out: TextIO) -> int:
    from bot.app import metrics_checks
    from bot.config import resolve_config_path
    from bot.metrics.base import MetricsError

    source = resolve_config_path(args.config)
    checks, catalog_of = metrics_checks(*_settings_and_clock(args))
    print(f"✓ settings: {source or 'built-in defaults (demo workload, SQLite)'} is valid", file=out)
    for check in checks:
        mark = "✗" if not check.ok else "⚠" if check.warning else "✓"
        print(f"{mark} {check.name}: {check.detail}", file=out)
    # Only what the bot cannot work without fails; missing optional metrics are warnings.
    ok = all(check.ok for check in checks)
    if ok:
        try:
            catalog = catalog_of()
        except MetricsError as exc:
            print(f"✗ catalog: {exc}", file=out)
            return EXIT_FAILED
        print(f"✓ catalog: {len(catalog.entries)} endpoints in "
              f"{len(catalog.services)} services", file=out)
        for override in catalog.unmatched:
            print(f"! catalog: '{override}' in the settings matches no endpoint", file=out)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_endpoints(args: argparse.Namespace, out: TextIO) -> int:
    lookback = _duration("--lookback", args.lookback)
    bot = _build(args)
    _print_endpoints(bot, bot.data_now(), lookback, out)
    return EXIT_OK


def _print_endpoints(bot: Perfbot, at: datetime, lookback: timedelta, out: TextIO) -> None:
    from bot.durations import human_span
    from bot.render.text import format_rate, format_ratio, format_seconds, table

    catalog = bot.catalog
    summary = bot.backend.summary(at, lookback, [e.endpoint for e in catalog.entries])
    by_key = summary.to_dict("index")
    rows = []
    for entry in catalog.entries:
        figures = by_key.get(entry.column, {})
        rows.append([
            entry.key,
            entry.endpoint.service,
            format_seconds(float(figures.get("p95", math.nan))),
            format_ratio(float(figures.get("error_ratio", math.nan))),
            format_rate(float(figures.get("throughput", math.nan))),
            _slo_text(entry),
            entry.owner or "",
        ])
    local = at.astimezone(bot.settings.zone).strftime("%Y-%m-%d %H:%M %Z")
    print(f"{len(rows)} endpoints — last {human_span(lookback)} to {local}", file=out)
    from bot.ask.coverage import last_sample, stale_words  # lazily: the CLI starts fast

    stale = stale_words(last_sample(bot.backend, at), bot.settings.zone, at)
    if stale:  # an average over a mostly empty hour would look like a quiet one
        print(f"⚠ {stale}: the figures are over the part of the window before that", file=out)
    headers = ["ENDPOINT", "SERVICE", "P95", "ERRORS", "TRAFFIC", "SLO", "OWNER"]
    print(table(headers, rows, right=(2, 3, 4)), file=out)


def _slo_text(entry: EndpointInfo) -> str:
    from bot.render.text import format_ratio, format_seconds

    parts = []
    if entry.slo.latency:
        q = f"p{entry.slo.latency.quantile * 100:g}"
        parts.append(f"{q}≤{format_seconds(entry.slo.latency.threshold.total_seconds())}")
    if entry.slo.error_ratio is not None:
        parts.append(f"err≤{format_ratio(entry.slo.error_ratio)}")
    return ", ".join(parts)


def cmd_query(args: argparse.Namespace, out: TextIO) -> int:
    from bot.figures import signal_figures
    from bot.metrics.base import SERVICE_SIGNALS
    from bot.render.text import render_figures

    words = _signal_words()
    word = args.signal.strip().lower().replace("-", "_")
    if word not in words:
        raise UsageError(
            f"SIGNAL: expected one of {', '.join(words)}, got {args.signal!r}"
        )
    signal, quantile = words[word]
    span = _duration("--window", args.window)
    bot = _build(args)
    per_service = signal in SERVICE_SIGNALS
    entry = _resolve(bot, args.endpoint, per_service=per_service, out=out)
    figures = signal_figures(bot.backend, entry, signal, span, bot.data_now(), quantile or 0.95)
    print(render_figures(figures), file=out)
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, out: TextIO) -> int:
    """Exit 0 for an answer or help; 1 when the metrics failed or had nothing."""
    from bot.ask.answer import ask
    from bot.render.message import AnswerKind
    from bot.render.text import render_answer

    bot = _build(args)
    reply = ask(" ".join(args.question), bot.sources, bot.data_now(), chart=bool(args.chart))
    written = None
    if args.chart and reply.chart is not None:
        try:
            with open(args.chart, "wb") as file:
                file.write(reply.chart.png)
        except OSError as exc:
            raise UsageError(f"--chart: cannot write {args.chart}: {exc.strerror}") from None
        written = args.chart
    text = render_answer(reply, chart_path=written)
    if reply.kind in (AnswerKind.ERROR, AnswerKind.NO_DATA):
        print(f"perfbot: {text}", file=sys.stderr)
        return EXIT_FAILED
    print(text, file=out)
    if args.chart and written is None:
        print("\n(no chart for this answer)", file=out)
    return EXIT_OK


def _resolve(bot: Perfbot, text: str, *, per_service: bool = False, out: TextIO) -> EndpointInfo:
    """The one endpoint ``text`` names (any endpoint of the service, for service signals).

    A corrected near miss is answered, with a line that says how it was read.
    """
    resolution = bot.catalog.resolve(text)
    if per_service and resolution.service and resolution.matches:
        return resolution.matches[0]
    entry = resolution.single
    if entry is None or resolution.status == "ambiguous":
        hint = " Name one of them." if len(resolution.matches) > 1 else ""
        raise UsageError(resolution.message + hint)
    if resolution.status == "fuzzy":
        print(f"(read '{resolution.text}' as {entry.label})", file=out)
    return entry
