"""Sensitivity: the one setting a team turns per service or endpoint (low, normal, high),
mapped to the detector's thresholds here and nowhere else.

``find_sensitive`` is ``grouping.find`` with each series judged at its own level: the series
are split by level, each part goes through the same public pipeline (``find_anomalies``,
``silences``) with its thresholds, and the anomalies are grouped together. With every
series at ``normal`` it is ``find`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from bot.analytics.anomaly.config import DEFAULT_CONFIG
from bot.analytics.findings.anomalies import find_anomalies
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.grouping import group_findings
from bot.analytics.findings.model import (
    DEFAULT_FINDINGS,
    Anomaly,
    FindingsConfig,
    FindingsResult,
    SeriesBatch,
    SeriesKey,
    SeriesProblem,
    Severity,
)
from bot.analytics.findings.silence import silences
from bot.analytics.slo import SLO
from bot.metrics.base import Signal

Level = Literal["low", "normal", "high"]
LEVELS: tuple[Level, ...] = ("low", "normal", "high")

# How far each level moves the guards: the z-score, the smallest absolute and relative change
# (scaled together), and how many of the last points must exceed. Low asks for a larger,
# longer change (fewer alerts); high for a smaller, shorter one (earlier, noisier).
_SCALE: dict[Level, float] = {"low": 1.5, "normal": 1.0, "high": 0.7}
_PERSIST: dict[Level, int] = {"low": +1, "normal": 0, "high": -1}


def thresholds(level: Level, config: FindingsConfig = DEFAULT_FINDINGS) -> FindingsConfig:
    """The detector's configuration at ``level``; ``normal`` is ``config`` unchanged."""
    if level == "normal":
        return config
    scale = _SCALE[level]
    guards = {signal: guard.model_copy(update={
        "z": guard.z * scale, "min_abs": guard.min_abs * scale, "min_rel": guard.min_rel * scale})
        for signal, guard in config.guards.items()}
    k = min(config.persist_n, max(1, config.persist_k + _PERSIST[level]))
    # The counting tier's surprise (nats, -ln of the tail) grows as z² / 2: scaled as z is.
    tail = config.count_tail ** (scale * scale)
    return config.model_copy(update={"guards": guards, "persist_k": k, "count_tail": tail,
                                     "surprise_alarm": _alarm(config.surprise_alarm, scale)})


def _alarm(alarm: float | None, scale: float) -> float | None:
    """The surprise tier's alarm at a level: its surprise in nats (score S / (S + half))
    scaled as z² is, like the counting tier's."""
    if alarm is None or alarm >= 1:
        return alarm
    half = DEFAULT_CONFIG.score_half
    nats = half * alarm / (1 - alarm) * scale * scale
    return nats / (nats + half)


def level_of(key: SeriesKey, levels: Mapping[str, Level]) -> Level:
    """A series' level: its endpoint's (``"SERVICE METHOD /route"`` or the endpoint's key
    alone) before its service's, else ``normal``."""
    if key.endpoint is not None:
        for name in (f"{key.service} {key.endpoint}", key.endpoint):
            if name in levels:
                return levels[name]
    return levels.get(key.service, "normal")


def by_level(batch: SeriesBatch, levels: Mapping[str, Level] | None
             ) -> Iterator[tuple[Level, npt.NDArray[np.intp], SeriesBatch]]:
    """The batch split by level: each level that has series, their rows, and those rows."""
    by_row = [level_of(k, levels or {}) for k in batch.keys]
    for level in LEVELS:
        rows = np.flatnonzero([lv == level for lv in by_row])
        if rows.size:
            yield level, rows, SeriesBatch([batch.keys[i] for i in rows], batch.times,
                                           batch.values[rows], batch.requests[rows])


@dataclass
class Judged:
    """One level's results over some series: what ``group_findings`` takes, kept apart so
    that the results of parts of a batch join into those of the whole (``join``)."""

    anomalies: list[Anomaly] = field(default_factory=list)
    silent: list[Anomaly] = field(default_factory=list)  # ``silences``' (before ``join``)
    traffic: int = 0  # throughput series: all of them silent makes each critical
    problems: list[SeriesProblem] = field(default_factory=list)
    scored: int = 0
    checked: int = 0

    def add(self, other: Judged) -> None:
        self.anomalies += other.anomalies
        self.silent += other.silent
        self.traffic += other.traffic
        self.problems += other.problems
        self.scored += other.scored
        self.checked += other.checked


def judge(
    batch: SeriesBatch,
    since: datetime,
    slos: Mapping[str, SLO] | None = None,
    config: FindingsConfig = DEFAULT_FINDINGS,
    levels: Mapping[str, Level] | None = None,
    cache: BaselineCache | None = None,
) -> dict[Level, Judged]:
    """Each series of ``batch`` judged at its level (``level_of``), by level. Series are
    judged one by one, so parts of a batch may be judged apart and joined (``join``)."""
    by_row = [level_of(k, levels or {}) for k in batch.keys]
    parts: Iterator[tuple[Level, object, SeriesBatch]] = (
        iter([("normal", None, batch)]) if all(lv == "normal" for lv in by_row)
        else by_level(batch, levels))  # all normal: the batch itself, not a copy
    out: dict[Level, Judged] = {}
    for level, _, part in parts:
        at_level = thresholds(level, config)
        found, trouble, n = find_anomalies(part, since, slos, at_level, cache=cache)
        out[level] = Judged(
            anomalies=found, silent=silences(part, since, at_level),
            traffic=sum(k.signal is Signal.THROUGHPUT for k in part.keys),
            problems=trouble, scored=n, checked=len(part.keys))
    return out


def join(parts: Iterable[dict[Level, Judged]], config: FindingsConfig = DEFAULT_FINDINGS
         ) -> FindingsResult:
    """The findings of the parts' series together, as ``find_sensitive`` of one batch of
    them all would give (in their order): a level's silences are critical only when every
    throughput series of that level went silent."""
    whole: dict[Level, Judged] = {}
    for part in parts:
        for level, judged in part.items():
            whole.setdefault(level, Judged()).add(judged)
    anomalies: list[Anomaly] = []
    problems: list[SeriesProblem] = []
    for level in LEVELS:
        if level not in whole:
            continue
        judged = whole[level]
        severity = (Severity.CRITICAL if judged.silent and len(judged.silent) == judged.traffic
                    else Severity.WARNING)
        anomalies += judged.anomalies
        anomalies += [a if a.severity is severity else a.model_copy(update={"severity": severity})
                      for a in judged.silent]
        problems += judged.problems
    return FindingsResult(findings=group_findings(anomalies, config), problems=problems,
                          series_checked=sum(j.checked for j in whole.values()),
                          series_scored=sum(j.scored for j in whole.values()))


def find_sensitive(
    batch: SeriesBatch,
    since: datetime,
    slos: Mapping[str, SLO] | None = None,
    config: FindingsConfig = DEFAULT_FINDINGS,
    levels: Mapping[str, Level] | None = None,
    cache: BaselineCache | None = None,
) -> FindingsResult:
    """``find`` with each series at its level (``level_of``)."""
    return join([judge(batch, since, slos, config, levels, cache)], config)
