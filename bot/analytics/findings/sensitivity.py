"""Sensitivity: the one setting a team turns per service or endpoint (low, normal, high),
mapped to the detector's thresholds here and nowhere else.

``find_sensitive`` is ``grouping.find`` with each series judged at its own level: the series
are split by level, each part goes through the same public pipeline (``find_anomalies``,
``silences``) with its thresholds, and the anomalies are grouped together. With every
series at ``normal`` it is ``find`` itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from bot.analytics.anomaly.config import DEFAULT_CONFIG
from bot.analytics.findings.anomalies import find_anomalies
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.grouping import find, group_findings
from bot.analytics.findings.model import (
    DEFAULT_FINDINGS,
    Anomaly,
    FindingsConfig,
    FindingsResult,
    SeriesBatch,
    SeriesKey,
    SeriesProblem,
)
from bot.analytics.findings.silence import silences
from bot.analytics.slo import SLO

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


def find_sensitive(
    batch: SeriesBatch,
    since: datetime,
    slos: Mapping[str, SLO] | None = None,
    config: FindingsConfig = DEFAULT_FINDINGS,
    levels: Mapping[str, Level] | None = None,
    cache: BaselineCache | None = None,
) -> FindingsResult:
    """``find`` with each series at its level (``level_of``)."""
    by_row = [level_of(k, levels or {}) for k in batch.keys]
    if all(level == "normal" for level in by_row):
        return find(batch, since, slos, config, cache)
    anomalies: list[Anomaly] = []
    problems: list[SeriesProblem] = []
    scored = 0
    for level, _, part in by_level(batch, levels):
        at_level = thresholds(level, config)
        found, trouble, n = find_anomalies(part, since, slos, at_level, cache=cache)
        anomalies += [*found, *silences(part, since, at_level)]
        problems += trouble
        scored += n
    return FindingsResult(findings=group_findings(anomalies, config), problems=problems,
                          series_checked=len(batch.keys), series_scored=scored)
