"""``perfbot playbooks lint|test``: check the playbook files, and see what they match.

``lint`` loads every playbook of a folder and prints each problem as ``file:line: message``.
``test`` turns each incident injected into the demo into the ``Situation`` an alert would
carry (the evidence read from the demo's metrics where the incident is loudest) and prints
the playbooks that match it, most specific first, with the reasons.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

# The CLI registers these commands at every start: what they use is imported when they run.
if TYPE_CHECKING:
    import pandas as pd

    from bot.config import Settings
    from bot.metrics.base import Endpoint, MetricsBackend, Window
    from bot.metrics.demo import DemoWorkload
    from bot.metrics.demo.scenarios import Scenario
    from bot.playbooks.loading import LoadResult
    from bot.playbooks.matching import Situation
    from bot.playbooks.schema import Playbook

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# What the anomaly detector would call each kind of demo incident.
KIND_CHANGE = {
    "latency_step": "step",
    "error_spike": "spike",
    "cpu_saturation": "step",  # each request costs twice the CPU since the deploy
    "memory_leak": "trend",
}
_CHANGE_KINDS = frozenset({"latency_step", "error_spike"})
LOOKBACK = timedelta(minutes=15)
STEP = timedelta(minutes=5)


def add_playbook_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register ``playbooks lint`` and ``playbooks test`` on the CLI's subparsers."""
    playbooks = subparsers.add_parser(
        "playbooks",
        help="check the playbooks and see which ones match the demo's incidents",
        description="Playbooks are YAML files, one per file, in the playbooks folder: when "
        "each applies, the PromQL it runs for evidence, the steps and the links.",
        epilog="Examples:\n  perfbot playbooks lint\n  perfbot playbooks lint ./my-playbooks\n"
        "  perfbot playbooks test -v",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = playbooks.add_subparsers(title="actions", metavar="ACTION", required=True)
    folder_help = "folder of playbooks (default: playbooks_dir of the settings)"
    lint = actions.add_parser(
        "lint", parents=[common], help="report every problem in the playbooks, with file:line",
    )
    lint.add_argument("directory", nargs="?", metavar="DIR", help=folder_help)
    lint.set_defaults(func=cmd_lint)
    test = actions.add_parser(
        "test", parents=[common],
        help="show which playbooks match each incident of the demo, and why",
    )
    test.add_argument("directory", nargs="?", metavar="DIR", help=folder_help)
    test.add_argument("-v", "--verbose", action="store_true",
                      help="also say why the other playbooks did not match, and show the "
                           "first match's diagnostics")
    test.set_defaults(func=cmd_test)


def _folder(args: argparse.Namespace, settings: Settings) -> Path:
    return Path(args.directory) if args.directory else settings.playbooks_dir


def _print_problems(result: LoadResult, out: TextIO) -> None:
    for problem in result.problems:
        print(str(problem), file=out)


def cmd_lint(args: argparse.Namespace, out: TextIO) -> int:
    from bot.config import load_settings
    from bot.playbooks.loading import load_playbooks

    folder = _folder(args, load_settings(args.config))
    result = load_playbooks(folder)
    _print_problems(result, out)
    if not folder.is_dir():
        return EXIT_USAGE
    if result.problems:
        files = len({p.path for p in result.problems})
        print(f"✗ {_count(len(result.problems), 'problem')} in {_count(files, 'file')}; "
              f"{_count(len(result.playbooks), 'playbook')} valid", file=out)
        return EXIT_FAILED
    if not result.playbooks:
        print(f"✗ no playbooks (*.yaml) in {folder}", file=out)
        return EXIT_FAILED
    print(f"✓ {_count(len(result.playbooks), 'playbook')} in {folder}: no problems", file=out)
    return EXIT_OK


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def cmd_test(args: argparse.Namespace, out: TextIO) -> int:
    from bot.app import build
    from bot.clock import clock_at
    from bot.config import load_settings
    from bot.playbooks.loading import load_playbooks

    settings = load_settings(args.config)
    folder = _folder(args, settings)
    result = load_playbooks(folder)
    _print_problems(result, out)
    if not folder.is_dir():
        return EXIT_USAGE
    try:
        clock = clock_at(args.at, settings.zone)
    except ValueError as exc:
        print(f"perfbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bot = build(settings, clock=clock, demo=True)
    backend, workload = bot.backend, bot.demo
    assert workload is not None  # demo=True builds the demo
    scenarios = workload.scenarios
    print(f"{_count(len(result.playbooks), 'playbook')} from {folder} against the "
          f"{_count(len(scenarios), 'incident')} of the demo\n", file=out)
    for scenario in scenarios:
        situation = scenario_situation(scenario, workload, backend)
        _print_scenario(scenario, situation, result.playbooks, settings, args.verbose, out)
    return EXIT_FAILED if result.problems else EXIT_OK


def _print_scenario(
    scenario: Scenario, situation: Situation, playbooks: list[Playbook], settings: Settings,
    verbose: bool, out: TextIO,
) -> None:
    from bot.playbooks.evidence import format_evidence
    from bot.playbooks.matching import match_playbooks

    where = f" ({situation.endpoint.key})" if situation.endpoint else ""
    when = situation.at.astimezone(settings.zone).strftime("%a %d %b %H:%M %Z") \
        if situation.at else ""
    print(f"■ {scenario.title}", file=out)
    print(f"  {situation.signal} of {situation.service}{where} at {when}", file=out)
    evidence = " ".join(f"{k}={format_evidence(v)}" for k, v in situation.evidence.items())
    print(f"  evidence: {evidence}", file=out)
    matches = match_playbooks(playbooks, situation)
    for rank, match in enumerate(matches, start=1):
        score = "fallback" if match.playbook.fallback else f"score {match.score}"
        print(f"  {rank}. {match.playbook.id} — {match.playbook.title} ({score})", file=out)
        for reason in match.reasons:
            print(f"       ✓ {reason}", file=out)
        for condition in match.unknown:
            print(f"       ? `{condition}`: unknown, no evidence (ranked lower)", file=out)
    if not matches:
        print("  no playbook matches (add a fallback playbook)", file=out)
    if verbose:
        _print_details(situation, playbooks, matches[0].playbook if matches else None, out)
    print(file=out)


def _print_details(
    situation: Situation, playbooks: list[Playbook], first: Playbook | None, out: TextIO
) -> None:
    from bot.playbooks.matching import evaluate
    from bot.playbooks.rendering import render_diagnostics

    misses = [(p, evaluate(p, situation)) for p in playbooks]
    misses = [(p, e) for p, e in misses if not e.matched]
    if misses:
        print("  not matched:", file=out)
    for playbook, evaluation in misses:
        why = evaluation.failures + evaluation.unknown_reasons
        print(f"     {playbook.id}: {'; '.join(why)}", file=out)
    if first is None:
        return
    print(f"  diagnostics of {first.id}:", file=out)
    for diagnostic in render_diagnostics(first, situation):
        query = diagnostic.query or diagnostic.note
        print(f"     {diagnostic.name}: {' '.join(query.split())}", file=out)


# ---- the demo's incidents as alerts -------------------------------------------------------


def scenario_situation(
    scenario: Scenario, workload: DemoWorkload, backend: MetricsBackend
) -> Situation:
    """What an alert about ``scenario`` would know, read from ``backend``.

    ``backend`` serves ``workload``: the demo backend, or a Prometheus loaded with it.

    The moment is where the incident's signal peaks: within the hour after a change starts,
    or on the second day of a lasting condition (once it has lasted a day, so a day-over-day
    comparison sees it). A change is compared with the minutes just before it; a lasting
    condition with the same time the day before.
    """
    from bot.playbooks.diagnostics import gather_evidence
    from bot.playbooks.matching import Situation

    endpoint = next((e for e in backend.endpoints()
                     if e.key == scenario.endpoint_key and e.service == scenario.service), None)
    at = loudest_moment(scenario, workload, backend, endpoint)
    change = scenario.kind in _CHANGE_KINDS
    evidence = gather_evidence(
        backend, service=scenario.service, endpoint=endpoint, at=at,
        baseline_at=scenario.start if change else at - timedelta(days=1),
        since=scenario.start, deploys=workload.deploys, lookback=LOOKBACK,
    )
    evidence["change"] = KIND_CHANGE[scenario.kind]
    return Situation(signal=scenario.signal, service=scenario.service, endpoint=endpoint,
                     evidence=evidence, at=at)


def loudest_moment(
    scenario: Scenario, workload: DemoWorkload, backend: MetricsBackend, endpoint: Endpoint | None
) -> datetime:
    """When the incident's signal peaks (see ``scenario_situation``)."""
    from bot.metrics.base import Window

    day = timedelta(days=1)
    if scenario.kind in _CHANGE_KINDS:
        first, span = scenario.start, timedelta(hours=1)
    else:
        first, span = max(scenario.start + day, workload.start + day), day
    last = min(first + span, workload.end, scenario.end or workload.end)
    if last <= first + STEP:
        return min(workload.end, max(first, workload.start + LOOKBACK))
    window = Window(start=first, end=last, step=STEP, rate_window=LOOKBACK)
    series = _signal_frame(scenario, backend, endpoint, window).iloc[:, 0].dropna()
    if series.empty:
        return last
    loudest: datetime = series.index[int(series.to_numpy().argmax())].to_pydatetime()
    return loudest


def _signal_frame(
    scenario: Scenario, backend: MetricsBackend, endpoint: Endpoint | None, window: Window
) -> pd.DataFrame:
    from bot.metrics.base import Signal

    if scenario.signal is Signal.CPU:
        return backend.cpu(window, [scenario.service])
    if scenario.signal is Signal.MEMORY:
        return backend.memory(window, [scenario.service])
    if endpoint is None:
        raise ValueError(f"the {scenario.signal} incident {scenario.title!r} names no endpoint")
    if scenario.signal is Signal.LATENCY:
        return backend.latency(window, 0.95, [endpoint])
    if scenario.signal is Signal.ERROR_RATIO:
        return backend.error_ratio(window, [endpoint])
    return backend.throughput(window, [endpoint])
