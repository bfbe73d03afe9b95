"""Silence as a finding: a traffic series that had data and stopped (pure, on arrays)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from bot.analytics.findings.grouping import find
from bot.analytics.findings.model import Change, SeriesBatch, SeriesKey, Severity
from bot.metrics.base import Signal

END = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
TIMES = pd.date_range(end=END, periods=48, freq="5min")


def batch(*rows: np.ndarray) -> SeriesBatch:
    keys = [SeriesKey(signal=Signal.THROUGHPUT, service="shop", endpoint=f"GET /api/{i}")
            for i in range(len(rows))]
    values = np.array(rows, dtype=float)
    return SeriesBatch(keys=keys, times=TIMES, values=values, requests=values * 300)


def stopped(at: int) -> np.ndarray:
    row = np.full(len(TIMES), 10.0)
    row[at + 1:] = np.nan
    return row


def test_one_endpoint_stopped_is_a_warning_naming_it_and_when() -> None:
    quiet_at = len(TIMES) - 1 - 6  # 30 minutes of nothing at the end
    result = find(batch(stopped(quiet_at), np.full(len(TIMES), 10.0)), TIMES[0])
    silent = [f for f in result.findings if f.change is Change.SILENT]
    assert [f.title for f in silent] == ["no data from GET /api/0 (shop) since 15:00 UTC"]
    assert silent[0].severity is Severity.WARNING


def test_everything_stopped_is_critical_and_a_short_gap_is_not_silence() -> None:
    quiet_at = len(TIMES) - 1 - 4
    result = find(batch(stopped(quiet_at), stopped(quiet_at)), TIMES[0])
    assert {f.severity for f in result.findings if f.change is Change.SILENT} == {
        Severity.CRITICAL}
    # 10 minutes without data is under the 15 minutes that make a silence.
    result = find(batch(stopped(len(TIMES) - 3)), TIMES[0])
    assert not [f for f in result.findings if f.change is Change.SILENT]
    # A series that never had data is not one that stopped.
    result = find(batch(np.full(len(TIMES), np.nan)), TIMES[0])
    assert not result.findings
