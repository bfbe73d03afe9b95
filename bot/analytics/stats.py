"""Descriptive statistics of a time series, pure."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from bot.metrics.base import Signal


class SeriesStats(BaseModel):
    """What a person asks of a series: where it ended, its typical level and its extremes."""

    points: int
    last: float
    mean: float
    median: float
    minimum: float
    maximum: float


def describe_series(series: pd.Series) -> SeriesStats | None:
    """Stats over the finite points of ``series``; None when it has none."""
    values = series.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    return SeriesStats(
        points=int(finite.size),
        last=float(finite[-1]),
        mean=float(finite.mean()),
        median=float(np.median(finite)),
        minimum=float(finite.min()),
        maximum=float(finite.max()),
    )


def relative_change(new: float, old: float) -> float | None:
    """(new - old) / old, or None when it means nothing (old zero or not finite)."""
    if not (math.isfinite(new) and math.isfinite(old)) or old == 0:
        return None
    return (new - old) / old


class SignalFigures(BaseModel):
    """One signal of one subject over a window: the overall figure, the series, the SLO verdict."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    signal: Signal
    subject: str
    statistic: str
    span: timedelta
    end: datetime
    overall: float
    series: pd.Series
    stats: SeriesStats
    slo_target: float | None = None

    @property
    def slo_met(self) -> bool | None:
        if self.slo_target is None:
            return None
        return self.overall <= self.slo_target
