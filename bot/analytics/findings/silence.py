"""Silence: a series that had data and stopped reporting. Pure.

An absent series is not zero traffic (a counter that is still scraped gives a rate of 0):
it means the service, its exporter or the scrape stopped, and every other guard, which needs
data to judge, stays quiet. So silence is a finding of its own, on the traffic series.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from bot.analytics.findings.model import (
    Anomaly,
    Change,
    FindingsConfig,
    SeriesBatch,
    Severity,
)
from bot.metrics.base import Signal


def silences(batch: SeriesBatch, since: datetime, config: FindingsConfig) -> list[Anomaly]:
    """Each endpoint's traffic series silent for at least ``config.silence_after`` up to the
    batch's last point, after data before; critical when every one of them went silent."""
    if len(batch.times) < 2:
        return []
    quiet = max(1, int(config.silence_after / batch.step))
    found: list[Anomaly] = []
    rows = [i for i, k in enumerate(batch.keys) if k.signal is Signal.THROUGHPUT]
    for i in rows:
        seen = np.flatnonzero(np.isfinite(batch.values[i]))
        if not seen.size or seen[-1] >= len(batch.times) - quiet:
            continue
        last = seen[-1]
        stopped = batch.times[last].to_pydatetime()  # the last point with data
        end = batch.times[-1].to_pydatetime()
        if end < since:
            continue
        recent = batch.values[i][seen[-min(seen.size, 12):]]
        found.append(Anomaly(
            key=batch.keys[i], change=Change.SILENT, start=stopped, fired_at=end, peak_at=end,
            end=None, value=0.0, baseline=float(np.median(recent)), z=0.0, onset_score=1.0,
            severity=Severity.WARNING,
        ))
    if found and len(found) == len(rows):
        found = [a.model_copy(update={"severity": Severity.CRITICAL}) for a in found]
    return found
