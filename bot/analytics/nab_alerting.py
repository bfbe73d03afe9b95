"""The bot's alerting decision (``findings.decide``) on a NAB series: a grid, a batch, a score.

NAB scores a detector by an anomaly score per row and sweeps one threshold over the corpus.
The bot alerts where ``decide`` fires: its z rule (seasonal baseline, spread, persistence) or
its surprise tier (the anomaly scorer's score at or above ``surprise_alarm`` where the guards
other than z pass). With the NAB profile those guards are only the direction, so the score of
a row here is the scorer's score where ``decide`` lets the tier see it, or 1 where the z rule
(at the profile's z guard; ``None``: off) fires: a NAB threshold is a ``surprise_alarm`` and
the sweep picks it, exactly as ``decide`` with that alarm would fire.

NAB's series have no direction that hurts: each is judged twice, as a signal that hurts when
it rises (latency) and as one that hurts when it falls (throughput); a row's score is the
larger. Rows go onto a regular grid at the series' usual step (the median of its timestamp
differences): a cell holds the last row that falls into it, cells without a row are gaps
(NaN). A row gets its cell's decision when it is the cell's last row; an earlier row of the
same cell gets the previous cell's (the data after it are not used for it). The step is the
file's (like a source's scrape interval, known before its data). Negative values
are gaps to ``decide`` (a mishandled counter reset): that is the bot's behaviour too. The
scorer's scores are given per row (scored on the rows themselves, causally).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.analytics.findings.decision import decide
from bot.analytics.findings.model import SeriesBatch, SeriesKey
from bot.analytics.findings.profiles import NAB_Z, nab_profile
from bot.metrics.base import Signal

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# The z rule's guards a configuration may choose (None: the rule off), the bot's included.
Z_CHOICES: tuple[float | None, ...] = (None, NAB_Z, 20.0, 60.0)
# Up: judged as a latency (hurts when it rises); down: as a throughput (hurts when it falls).
_KEYS = [SeriesKey(signal=Signal.LATENCY, service="nab"),
         SeriesKey(signal=Signal.THROUGHPUT, service="nab")]


@dataclass(frozen=True)
class Grid:
    """A series on a regular grid and where each of its rows went."""

    times: pd.DatetimeIndex
    values: FloatArray  # per cell: the last row's value, NaN where no row fell
    cell: IntArray  # per row: its cell
    own: npt.NDArray[np.bool_]  # per row: it is its cell's last row


def to_grid(values: FloatArray, timestamps: npt.NDArray[np.datetime64]) -> Grid:
    """The rows on a regular grid at the series' median step (whole seconds, at least one)."""
    ts = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps))).as_unit("ns")
    if len(ts) == 0:
        raise ValueError("a series needs at least one row")
    diffs = np.diff(ts.asi8)
    diffs = diffs[diffs > 0]
    seconds = round(float(np.median(diffs)) / 1e9) if diffs.size else 300
    step_ns = max(1, seconds) * 10**9
    origin = int(ts.asi8.min()) // step_ns * step_ns
    cell = (ts.asi8 - origin) // step_ns
    last_row = np.full(int(cell.max()) + 1, -1)
    np.maximum.at(last_row, cell, np.arange(len(ts)))
    grid_values = np.full(last_row.size, np.nan)
    filled = last_row >= 0
    grid_values[filled] = np.asarray(values, dtype=float)[last_row[filled]]
    times = pd.DatetimeIndex(origin + step_ns * np.arange(last_row.size)).as_unit("ns")
    own = last_row[cell] == np.arange(len(ts))
    return Grid(times=times, values=grid_values, cell=cell.astype(np.int64), own=own)


def to_batch(grid: Grid) -> SeriesBatch:
    """The grid as a batch of two series (up and down), without traffic."""
    values = np.vstack([grid.values, grid.values])
    return SeriesBatch(keys=list(_KEYS), times=grid.times, values=values,
                       requests=np.full(values.shape, np.nan))


@dataclass(frozen=True)
class Gate:
    """Per NAB row: where ``decide`` lets the surprise tier see the row, where its z rule fires."""

    open: npt.NDArray[np.bool_]
    fired: npt.NDArray[np.bool_]

    def scores(self, surprise: FloatArray) -> FloatArray:
        """The row's score: the scorer's where the gate is open, 1 where the z rule fires."""
        out: FloatArray = np.where(self.fired, 1.0, np.where(self.open, surprise, 0.0))
        return out


def gate(
    values: FloatArray, timestamps: npt.NDArray[np.datetime64], z: float | None = NAB_Z
) -> Gate:
    """``decide`` (NAB profile, z guard ``z``; None: the z rule off) at each row, either way."""
    grid = to_grid(values, timestamps)
    batch = to_batch(grid)
    # A surprise of 1 everywhere: the tier's output is then where its guards pass.
    d = decide(batch, nab_profile(z if z is not None else math.inf), days_from_start=True,
               surprise=np.ones(batch.values.shape))
    per_cell = [d.surprise.max(axis=0) > 0, d.fire.any(axis=0)]
    if z is None:
        per_cell[1] = np.zeros_like(per_cell[1])
    rows = []
    for held in per_cell:
        earlier = np.r_[False, held[:-1]]  # the previous cell's, for a row its cell does not end
        rows.append(np.where(grid.own, held[grid.cell], earlier[grid.cell]))
    return Gate(open=rows[0], fired=rows[1])


def alert_scores(
    values: FloatArray, timestamps: npt.NDArray[np.datetime64], surprise: FloatArray,
    z: float | None = None,
) -> FloatArray:
    """Per NAB row: the score at which the bot's decision (surprise tier and, unless ``z`` is
    None, its z rule at guard ``z``) fires at it; ``surprise``: the scorer's, per row."""
    return gate(values, timestamps, z).scores(surprise)
