"""Backtest: the detector run over a past period as the running bot would have, tick by tick,
feeding the same incident logic (``Incidents.cycle`` with ``schedule.firings`` and
``schedule.judged``, as ``detect_once`` does), on a store the caller gives (a temporary one:
nothing real is touched).

The metrics are read once for the whole period (``detection.read_batch``) and each tick sees
the slice a live cycle would have read (``history`` before it). The decision is causal, so
one pass over the whole period finds every series that fires at any tick, and when each is
active (fired within the recovery): the detector runs on those series only, and only at
the ticks where that changes. At the other ticks the last cycle's firings repeat (or, when
none is active, nothing fires, which the incidents are told, so they resolve).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.alerts.explained import DETECTION, CycleReport, Explained
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.decision import decide, rolling_sum
from bot.analytics.findings.model import (
    DEFAULT_FINDINGS,
    Change,
    Finding,
    FindingsConfig,
    FindingsResult,
    SeriesBatch,
)
from bot.analytics.findings.sensitivity import (
    Level,
    by_level,
    find_sensitive,
    thresholds,
)
from bot.analytics.slo import SLO
from bot.catalog import Catalog
from bot.detection import HISTORY, likely_cause, read_batch
from bot.incidents.service import CycleOutcome, Incidents
from bot.metrics.base import MetricsBackend, Signal
from bot.playbooks.matching import Situation
from bot.schedule import firings, judged


@dataclass
class ReplayedAlert:
    """An incident the bot would have opened (or reopened): when, for what, for how long."""

    raised_at: datetime  # the tick that opened it
    began_at: datetime  # the finding's start (the change)
    service: str
    signal: Signal
    endpoint: str | None
    severity: str
    title: str
    resolved_at: datetime | None = None  # None: still open at the end

    @property
    def duration(self) -> timedelta | None:
        return None if self.resolved_at is None else self.resolved_at - self.raised_at


@dataclass
class Replay:
    start: datetime
    end: datetime
    alerts: list[ReplayedAlert] = field(default_factory=list)
    ticks: int = 0
    cycles: int = 0  # ticks that ran the detector (the others had nothing near to judge)
    series: int = 0
    candidates: int = 0  # series that fired somewhere in the period
    problems: list[str] = field(default_factory=list)

    def per_day(self) -> dict[str, float]:
        """Alerts per day, by service (opened or reopened within the period)."""
        days = max((self.end - self.start) / timedelta(days=1), 1e-9)
        counts: dict[str, int] = {}
        for a in self.alerts:
            counts[a.service] = counts.get(a.service, 0) + 1
        return {service: n / days for service, n in sorted(counts.items())}


@dataclass(frozen=True)
class Period:
    """The metrics of a backtest, read once: the period and the history before it."""

    batch: SeriesBatch
    slos: dict[str, SLO]
    problems: list[str]
    history: timedelta


def read_period(
    backend: MetricsBackend, end: datetime, period: timedelta, window: timedelta, *,
    history: timedelta = HISTORY, catalog: Catalog | None = None,
    config: FindingsConfig = DEFAULT_FINDINGS,
) -> Period:
    """One read (``detection.read_batch``) of the period plus each tick's history."""
    history = max(history, window + config.min_history)  # as run_cycle reads
    batch, slos, problems = read_batch(backend, end, history + period, catalog)
    return Period(batch=batch, slos=slos, problems=problems, history=history)


def replay(
    data: Period,
    end: datetime,
    period: timedelta,
    incidents: Incidents,
    *,
    interval: timedelta,
    window: timedelta,
    zone: tzinfo,
    config: FindingsConfig = DEFAULT_FINDINGS,
    levels: Mapping[str, Level] | None = None,
) -> Replay:
    """Every detection tick every ``interval`` over the ``period`` before ``end``."""
    batch, slos, problems, history = data.batch, data.slos, data.problems, data.history
    start = end - period
    out = Replay(start=start, end=end, series=len(batch.keys), problems=problems)
    whole = find_sensitive(batch, start - window, slos, config, levels)
    anomalies = [a for f in whole.findings for a in f.anomalies]
    keys = {a.key for a in anomalies}
    rows = [i for i, k in enumerate(batch.keys) if k in keys]
    out.candidates = len(rows)
    part = SeriesBatch([batch.keys[i] for i in rows], batch.times, batch.values[rows],
                       batch.requests[rows])
    since_col = int(np.searchsorted(batch.times.as_unit("ns").asi8,
                                    pd.Timestamp(start - window).value, side="right"))
    activity = _activity(part, since_col, config, levels)
    times = part.times[since_col:]
    for a in anomalies:  # a silent series is found by its missing data, not by the decision
        if a.change is Change.SILENT:
            lo, hi = times.searchsorted(a.fired_at), times.searchsorted(a.end or end, "right")
            activity[rows.index(batch.keys.index(a.key)), lo:hi] = True
    quiet = CycleReport(at=start, since=start, explained=[], problems=problems,
                        result=FindingsResult(findings=[], problems=whole.problems,
                                              series_checked=len(batch.keys), series_scored=0))
    ns = batch.times.as_unit("ns").asi8
    width = round(history / batch.step)
    cache = BaselineCache()
    open_by_id: dict[int, ReplayedAlert] = {}
    tick = pd.Timestamp(start).ceil(interval).to_pydatetime()
    report, state = quiet, b""
    while tick <= end:
        out.ticks += 1
        col = int(np.searchsorted(ns, pd.Timestamp(tick).value, side="right")) - 1 - since_col
        now = activity[:, col].tobytes() if 0 <= col < activity.shape[1] else b""
        if now != state or (tick == start and activity[:, col].any()):
            state = now
            if activity[:, col].any():
                out.cycles += 1
                report = _cycle(part, ns, tick, width, window, slos, config, levels, cache,
                                problems)
            else:
                report = quiet
        active, how = firings(report, zone)
        outcome = incidents.cycle(active, DETECTION, tick, how, judged=judged(report))
        _record(outcome, tick, open_by_id, out.alerts)
        tick += interval
    return out


def _activity(
    batch: SeriesBatch, first: int, config: FindingsConfig,
    levels: Mapping[str, Level] | None,
) -> npt.NDArray[np.bool_]:
    """Per series and column from ``first``: whether a cycle ending there finds it active
    (it fired within the recovery before). A cycle's findings change only where this does,
    so the detector runs only there; between, the last cycle's firings repeat."""
    flags = np.zeros((len(batch.keys), len(batch.times) - first), dtype=bool)
    recovery = max(1, round(config.recovery / batch.step))
    for level, rows, part in by_level(batch, levels):
        d = decide(part, thresholds(level, config), first)
        fired = (d.fire | d.trend | d.surge).astype(float)
        flags[rows] = rolling_sum(fired, recovery) > 0
    return flags


def _cycle(
    batch: SeriesBatch, ns: np.ndarray, at: datetime, width: int, window: timedelta,
    slos: dict[str, SLO], config: FindingsConfig, levels: Mapping[str, Level] | None,
    cache: BaselineCache, problems: list[str],
) -> CycleReport:
    """What ``run_cycle`` at ``at`` finds, on the slice of the batch it would have read."""
    hi = int(np.searchsorted(ns, pd.Timestamp(at).value, side="right"))  # through ``at``
    lo = max(0, hi - width - 1)
    sl = SeriesBatch(batch.keys, batch.times[lo:hi], batch.values[:, lo:hi],
                     batch.requests[:, lo:hi])
    since = at - window
    result = find_sensitive(sl, since, slos, config, levels, cache)
    return CycleReport(at=at, since=since, result=result, problems=problems,
                       explained=[_explained(f) for f in result.findings])


def _explained(finding: Finding) -> Explained:
    """A finding as an alert without the backend's evidence and playbooks: the backtest
    counts alerts, it does not run diagnostics at every tick."""
    first = finding.first_mover
    situation = Situation(signal=first.key.signal, service=finding.service, at=first.peak_at)
    return Explained(finding=finding, situation=situation, cause=likely_cause(finding),
                     matches=[], diagnostics=[])


def _record(outcome: CycleOutcome, tick: datetime, open_by_id: dict[int, ReplayedAlert],
            alerts: list[ReplayedAlert]) -> None:
    for incident in [*outcome.opened, *outcome.reopened]:
        alert = incident.alert
        item = ReplayedAlert(
            raised_at=tick, began_at=alert.starts_at, service=alert.service,
            signal=alert.signal or Signal.LATENCY, endpoint=alert.labels.get("endpoint") or None,
            severity=str(alert.severity), title=alert.title)
        open_by_id[incident.id] = item
        alerts.append(item)
    for incident in outcome.resolved:
        found = open_by_id.pop(incident.id, None)
        if found is not None:
            found.resolved_at = tick
