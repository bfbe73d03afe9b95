"""One detection cycle: read the signals from the backend, find, and explain each finding.

I/O lives here; the decisions are in ``bot.analytics.findings`` (pure). A signal that cannot
be read is reported and the others still run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from bot.alerts.explained import CycleReport, Explained
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.model import (
    DEFAULT_FINDINGS,
    Change,
    Finding,
    FindingsConfig,
    SeriesBatch,
    SeriesKey,
)
from bot.analytics.findings.sensitivity import Level, join, judge
from bot.analytics.slo import SLO
from bot.catalog import Catalog
from bot.metrics.base import (
    Endpoint,
    InstantQueries,
    MetricsBackend,
    MetricsError,
    NamedMetrics,
    NoDataError,
    Resolution,
    Signal,
    Window,
)
from bot.metrics.deploys import Deploy
from bot.playbooks.diagnostics import DiagnosticResult, gather_evidence, run_diagnostics
from bot.playbooks.evidence import AFTER_DEPLOY_WINDOW, CHANGES, EvidenceValue
from bot.playbooks.matching import Situation, match_playbooks
from bot.playbooks.rendering import QueryNames, render_diagnostics
from bot.playbooks.schema import Playbook

STEP = timedelta(minutes=5)
HISTORY = timedelta(days=28)
WINDOW = timedelta(days=7)
EVIDENCE_SPAN = timedelta(minutes=15)  # the rates and levels the evidence reads


FINEST = timedelta(minutes=1)
MAX_POINTS = 10_000  # per series and query (Prometheus refuses more than 11,000)
# Points (series × steps) a cycle lays out and judges at once: 2 MB an array of float64, of
# which the decision keeps ~12 alive (~25 MB); ~12 series on 28 days at 1 minute, ~60 at 5.
# Smaller parts cost no measurable time (the decision is vectorised within a part).
PART = 250_000


def source_step(backend: MetricsBackend, at: datetime) -> timedelta:
    """The step to read at: the source's own resolution (1 minute where its data has it),
    so the recent minutes are seen as they happen; ``STEP`` when it cannot tell."""
    if not isinstance(backend, Resolution):
        return STEP
    try:
        found = backend.resolution(at)
    except MetricsError:
        return STEP
    if found is None:
        return STEP
    # Whole minutes dividing a day (the baseline's grid), from 1 to 5 minutes.
    minutes = min(5, max(1, math.ceil(found / FINEST)))
    while 1440 % minutes:
        minutes += 1
    return timedelta(minutes=minutes)


def _read_chunked(
    read: Callable[[Window], pd.DataFrame], window: Window
) -> pd.DataFrame:
    """One signal over ``window`` in queries of at most ``MAX_POINTS`` steps each. A part
    with no data before the last one is a gap (the data may begin later)."""
    span = window.step * (MAX_POINTS - 1)
    parts: list[pd.DataFrame] = []
    start = window.start
    while start <= window.end:
        stop = min(window.end, start + span)
        part = Window(start=start, end=stop, step=window.step, rate_window=window.rate_window
                      ) if stop > start else None
        if part is not None:
            try:
                parts.append(read(part))
            except NoDataError:
                if stop >= window.end and not parts:
                    raise
        start = stop + window.step
    if not parts:
        raise NoDataError(f"no data between {window.start} and {window.end}")
    frame = pd.concat(parts)
    return frame[~frame.index.duplicated(keep="last")]


def splice(held: pd.DataFrame, fresh: pd.DataFrame, start: datetime) -> pd.DataFrame:
    """``held`` (an earlier read of a signal) brought up to date by ``fresh`` (a read of its
    newest steps, on the same grid): ``fresh``'s rows replace ``held``'s from ``fresh``'s
    first time on (late samples move a rate's newest points), rows before ``start`` are
    dropped. Columns are ``held``'s then ``fresh``'s new ones; a column of ``held`` that
    ``fresh`` lacks and that has no value left is dropped, as a read from ``start`` would
    not have it."""
    if fresh.empty:
        kept = held[held.index >= pd.Timestamp(start)]
    else:
        first = fresh.index[0]
        kept = held[(held.index >= pd.Timestamp(start)) & (held.index < first)]
    columns = list(held.columns) + [c for c in fresh.columns if c not in held.columns]
    frame = pd.concat([kept.reindex(columns=columns), fresh.reindex(columns=columns)])
    gone = [c for c in held.columns if c not in fresh.columns and kept[c].isna().all()]
    return frame.drop(columns=gone)


@dataclass(frozen=True)
class _Held:
    """One signal's last read: what it asked (backend, step, endpoints), its window, frame."""

    asked: tuple[object, ...]
    start: datetime
    end: datetime
    frame: pd.DataFrame


class ReadCache:
    """The raw frames of the last detection read, per signal, so that the next tick reads
    only its newest steps (``overlap`` before the held end, to the new end) instead of the
    whole history. A changed step, backend or endpoint set, a start off the held grid, a
    gap longer than the history or a failed read: the signal is read whole again. Memory:
    one history per signal (what the tick's batch holds anyway). One tick at a time."""

    def __init__(self) -> None:
        self._held: dict[Signal, _Held] = {}

    def read(
        self, signal: Signal, read: Callable[[Window], pd.DataFrame], window: Window,
        asked: tuple[object, ...],
    ) -> pd.DataFrame:
        """``signal`` over ``window``: spliced from the held frame and a read of the newest
        steps when they line up, else read whole. Raises ``MetricsError`` as a read does
        (and forgets the signal: its next read is whole)."""
        held = self._held.pop(signal, None)
        since = self._since(held, window, asked)
        frame: pd.DataFrame | None = None
        if held is not None and since is not None:
            recent = Window(start=since, end=window.end, step=window.step,
                            rate_window=window.rate_window)
            try:
                frame = splice(held.frame, _read_chunked(read, recent), window.start)
            except NoDataError:
                frame = None  # nothing new: a whole read tells whether anything is left
        if frame is None:
            frame = _read_chunked(read, window)
        self._held[signal] = _Held(asked=asked, start=window.start, end=window.end,
                                   frame=frame)
        return frame

    @staticmethod
    def _since(held: _Held | None, window: Window, asked: tuple[object, ...]
               ) -> datetime | None:
        """Where the read of the newest steps starts, or None: read whole."""
        if held is None or held.asked != asked:
            return None
        step = window.step
        # The newest points of a rate move as late samples arrive: re-read a few steps
        # and the rate's window, on the held grid.
        overlap = step * (3 + math.ceil(window.lookback / step))
        since = held.end - overlap
        if (held.start > window.start or held.end > window.end or since <= window.start
                or (window.start - held.start) % step):
            return None
        return since


def read_frames(
    backend: MetricsBackend, at: datetime, history: timedelta, catalog: Catalog | None = None,
    step: timedelta | None = None, reads: ReadCache | None = None,
) -> tuple[_Frames, dict[str, SLO], list[str]]:
    """Every signal of every endpoint and service over ``history`` before ``at``, as read
    (one frame per signal, only the steps with data), at ``step`` (default: the source's
    own resolution, ``source_step``). ``reads``: the earlier ticks' frames (``ReadCache``):
    only the newest steps are read."""
    if step is None:
        step = source_step(backend, at)
    end = pd.Timestamp(at).floor(step).to_pydatetime()
    window = Window(start=end - history, end=end, step=step, rate_window=step)
    endpoints = catalog.entries if catalog is not None else None
    eps: list[Endpoint] = ([e.endpoint for e in endpoints] if endpoints is not None
                           else backend.endpoints())
    # SLOs and endpoints by frame column (``Endpoint.column``): keys may be shared.
    slos = {e.column: e.slo for e in endpoints} if endpoints is not None else {}
    problems: list[str] = []
    frames: dict[Signal, pd.DataFrame] = {}
    readers: dict[Signal, Callable[[Window], pd.DataFrame]] = {
        Signal.LATENCY: lambda w: backend.latency(w, 0.95, eps),
        Signal.THROUGHPUT: lambda w: backend.throughput(w, eps),
        Signal.ERROR_RATIO: lambda w: backend.error_ratio(w, eps),
        Signal.CPU: lambda w: backend.cpu(w),
        Signal.MEMORY: lambda w: backend.memory(w),
    }
    columns = tuple(e.column for e in eps)
    for signal, read in readers.items():
        try:
            if reads is None:
                frames[signal] = _read_chunked(read, window)
            else:
                endpoint = signal not in (Signal.CPU, Signal.MEMORY)
                asked = (backend, step, columns if endpoint else ())
                frames[signal] = reads.read(signal, read, window, asked)
        except MetricsError as exc:
            problems.append(f"could not read {signal}: {exc}")
    index = pd.date_range(window.start, window.end, freq=step, tz="UTC")
    return _Frames(frames, index, {e.column: e for e in eps}), slos, problems


@dataclass(frozen=True)
class _Frames:
    """What ``read_frames`` read: a frame per signal (rows: the steps with data), the
    whole grid, and the endpoints by frame column. ``batch`` lays series out on the grid."""

    frames: dict[Signal, pd.DataFrame]
    index: pd.DatetimeIndex
    by_column: dict[str, Endpoint]

    def keys(self) -> list[tuple[Signal, str, SeriesKey]]:
        """(signal, frame column, key) of each series, signal by signal in reading order;
        endpoint columns not in the catalog are left out (excluded)."""
        out = []
        for signal, frame in self.frames.items():
            endpoint = signal not in (Signal.CPU, Signal.MEMORY)
            for column in frame.columns:
                name = str(column)
                found = self.by_column.get(name) if endpoint else None
                if endpoint and found is None:
                    continue
                out.append((signal, column, SeriesKey(
                    signal=signal, service=found.service if found else name,
                    endpoint=found.key if found else None)))
        return out

    def batch(self, series: Sequence[tuple[Signal, str, SeriesKey]]) -> SeriesBatch:
        """``series`` (from ``keys``) on the whole grid: NaN where a frame has no row. Fills
        two arrays in place (values, and requests from the throughput of endpoint series)
        rather than reindexing whole frames to the grid and stacking copies of them."""
        shape = (len(series), len(self.index))
        values = np.full(shape, np.nan)
        requests = np.full(shape, np.nan)
        seconds = (self.index[1] - self.index[0]).total_seconds() if len(self.index) > 1 \
            else 0.0
        thru = self.frames.get(Signal.THROUGHPUT)
        at: dict[Signal, tuple[np.ndarray, np.ndarray]] = {}

        def placed(signal: Signal, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            """The frame's rows that lie on the grid, and their columns of it."""
            if signal not in at:
                where = self.index.get_indexer(frame.index)
                rows = np.flatnonzero(where >= 0)
                at[signal] = rows, where[rows]
            return at[signal]

        for i, (signal, column, key) in enumerate(series):
            frame = self.frames[signal]
            rows, cols = placed(signal, frame)
            values[i, cols] = frame[column].to_numpy(dtype=float)[rows]
            if key.endpoint is not None and thru is not None and column in thru:
                trows, tcols = placed(Signal.THROUGHPUT, thru)
                requests[i, tcols] = thru[column].to_numpy(dtype=float)[trows] * seconds
        return SeriesBatch(keys=[k for _, _, k in series], times=self.index, values=values,
                           requests=requests)


def read_batch(
    backend: MetricsBackend, at: datetime, history: timedelta, catalog: Catalog | None = None,
    step: timedelta | None = None, reads: ReadCache | None = None,
) -> tuple[SeriesBatch, dict[str, SLO], list[str]]:
    """``read_frames``' series as one batch (every series at once: ``run_cycle`` lays out a
    part at a time instead)."""
    read, slos, problems = read_frames(backend, at, history, catalog, step, reads)
    return read.batch(read.keys()), slos, problems


def run_cycle(
    backend: MetricsBackend,
    at: datetime,
    window: timedelta = WINDOW,
    *,
    history: timedelta = HISTORY,
    catalog: Catalog | None = None,
    playbooks: Sequence[Playbook] = (),
    deploys: Sequence[Deploy] = (),
    config: FindingsConfig = DEFAULT_FINDINGS,
    cache: BaselineCache | None = None,
    step: timedelta | None = None,
    levels: Mapping[str, Level] | None = None,
    reads: ReadCache | None = None,
) -> CycleReport:
    """Findings active in the ``window`` before ``at``, each explained. A scheduler that
    runs cycles keeps one ``cache`` for them all (the earlier days' baselines). ``step``:
    the read's (default: the source's resolution). ``levels``: ``detection.sensitivity``,
    each series at its service's or endpoint's level. ``reads``: the raw frames kept
    between cycles (``ReadCache``), so a cycle reads only the newest steps."""
    history = max(history, window + config.min_history)
    read, slos, problems = read_frames(backend, at, history, catalog, step, reads)
    since = at - window
    # A part of the series at a time on the whole grid, judged and dropped: the grid is
    # long (28 days at 1-2 minutes), so every series at once would be GBs at 1,000 endpoints.
    series = read.keys()
    rows = max(1, PART // len(read.index))
    parts = (judge(read.batch(series[lo : lo + rows]), since, slos, config, levels, cache)
             for lo in range(0, len(series), rows))
    result = join(parts, config)
    explained = [explain(f, backend, playbooks, deploys, at) for f in result.findings]
    return CycleReport(at=at, since=since, result=result, explained=explained,
                       problems=problems)


def explain(
    finding: Finding, backend: MetricsBackend, playbooks: Sequence[Playbook],
    deploys: Sequence[Deploy] = (), now: datetime | None = None,
) -> Explained:
    """Evidence from the backend at the finding's worst point against the same time of day
    before its start, the likely cause, and the matching playbooks. ``now``: the cycle's
    time (no evidence is read after it)."""
    first = finding.first_mover
    endpoint = next((a.key for a in finding.anomalies if a.key.endpoint), None)
    ep = (Endpoint(service=finding.service, route=_route(endpoint.endpoint or ""),
                   method=_method(endpoint.endpoint or "")) if endpoint else None)
    at = first.peak_at
    # The evidence is read over the span centred on the worst point (a rate's window ending
    # at it would mostly see the minutes before it), up to the cycle's time.
    read_at = min(at + EVIDENCE_SPAN / 2, now) if now is not None else at
    read_at = max(read_at, at)
    # A short spike is compared with just before it; the rest with the same time of day
    # before the onset (which cancels the daily rhythm, and for a step that stayed is not
    # already part of the new level): the baseline is always before the change.
    days_back = (read_at - finding.start) // timedelta(days=1) + 1
    before = (finding.start if first.change is Change.SPIKE
              else read_at - timedelta(days=days_back))
    try:
        evidence: dict[str, EvidenceValue] = gather_evidence(
            backend, service=finding.service, endpoint=ep, at=read_at, baseline_at=before,
            since=finding.start, deploys=deploys, lookback=EVIDENCE_SPAN)
    except MetricsError:
        evidence = {}
    if str(first.change) in CHANGES:
        evidence["change"] = str(first.change)
    situation = Situation(signal=first.key.signal, service=finding.service, endpoint=ep,
                          evidence=evidence, at=at)
    matches = match_playbooks(playbooks, situation)
    names = query_names(backend)
    diagnostics = render_diagnostics(matches[0].playbook, situation, names) if matches else []
    results: list[DiagnosticResult] = []
    if matches and isinstance(backend, InstantQueries):
        # Each diagnostic that fails says so in its result; none stops the alert.
        results = run_diagnostics(matches[0].playbook, situation, backend.instant, at,
                                  names=names)
    return Explained(finding=finding, situation=situation, cause=likely_cause(finding, deploys),
                     matches=matches, diagnostics=diagnostics, results=results)


def query_names(backend: MetricsBackend) -> QueryNames | None:
    """The metric and label names the backend found (None: it knows none; the defaults)."""
    if not isinstance(backend, NamedMetrics):
        return None
    try:
        return QueryNames.of(backend.http_metrics(), backend.saturation)
    except MetricsError:
        return None  # the diagnostics then say what failed, with the default names


def _method(key: str) -> str:
    head, _, rest = key.partition(" ")
    return head if rest else ""


def _route(key: str) -> str:
    head, _, rest = key.partition(" ")
    return rest or head


def likely_cause(finding: Finding, deploys: Sequence[Deploy] = ()) -> str:
    """A sentence from the correlated signals (and a deploy just before, if any)."""
    first = finding.first_mover
    signals = {a.key.signal for a in finding.anomalies}
    parts = []
    release = [d for d in deploys if d.service == finding.service
               and timedelta(0) <= finding.start - d.time <= AFTER_DEPLOY_WINDOW]
    if release:
        d = max(release, key=lambda d: d.time)
        parts.append(f"began {_minutes(finding.start - d.time)} after {d.service} {d.version} "
                     f"was deployed" + (f" ({d.note})" if d.note else ""))
    if first.change is Change.SILENT:
        parts.append("its series stopped reporting: the service, its exporter or the scrape "
                     "is down (an absent series is not an idle one)")
    elif first.change is Change.TREND and first.key.signal is Signal.MEMORY:
        parts.append("memory grows day after day: a leak (cache or objects never freed)")
    elif first.key.signal is Signal.CPU and signals & {Signal.LATENCY, Signal.ERROR_RATIO}:
        parts.append("CPU rose first and the endpoints slowed after: saturation")
    elif first.key.signal is Signal.CPU:
        parts.append("CPU per request rose (more work per request, or less capacity)")
    elif first.key.signal is Signal.THROUGHPUT and first.change is Change.SURGE:
        parts.append("more traffic than usual")
    elif first.key.signal is Signal.THROUGHPUT:
        parts.append("less traffic than usual: a client, the load balancer or upstream")
    elif first.key.signal is Signal.ERROR_RATIO:
        parts.append("the service started failing requests" + (
            " and got slower" if Signal.LATENCY in signals else ""))
    elif first.key.signal is Signal.LATENCY and len(signals) == 1:
        parts.append("only latency moved (CPU and errors did not): a slower query or "
                     "dependency rather than load")
    else:
        parts.append(finding.moved_first())
    return "; ".join(parts)


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"
