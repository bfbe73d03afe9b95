"""The bot's alerting decision (``findings.decide``) on a NAB series: a grid, a batch, a score.

NAB scores a detector by an anomaly score per row and sweeps one threshold over the corpus.
The bot alerts where ``decide`` fires. The score of a row here is the largest z guard (of
``Z_LEVELS``) at which ``decide`` with the NAB profile fires at it (0: it fires at none), so
a NAB threshold is a z guard and the sweep picks the guard: the score is monotone in it by
construction (a higher z guard fires on a subset of the points).

NAB's series have no direction that hurts: each is judged twice, as a signal that hurts when
it rises (latency) and as one that hurts when it falls (throughput); a row's score is the
larger. Rows go onto a regular grid at the series' usual step (the median of its timestamp
differences): a cell holds the last row that falls into it, cells without a row are gaps
(NaN). A row gets its cell's decision when it is the cell's last row; an earlier row of the
same cell gets the previous cell's (the data after it are not used for it). The step is the
file's (like a source's scrape interval, known before its data). Negative values
are gaps to ``decide`` (a mishandled counter reset): that is the bot's behaviour too.
"""

from __future__ import annotations

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

# z guards tried per row, geometric: from the loosest to beyond any decision NAB rewards,
# and the bot's own (so NAB can be scored where the bot would alert).
Z_LEVELS: tuple[float, ...] = tuple(sorted({float(z) for z in np.geomspace(2.0, 200.0, 41)}
                                           | {NAB_Z}))
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


def cell_scores(batch: SeriesBatch, levels: tuple[float, ...] = Z_LEVELS) -> FloatArray:
    """Per cell: the largest z guard at which ``decide`` (NAB profile) fires, either way."""
    score = np.zeros(batch.values.shape[1])
    for z in sorted(levels):
        d = decide(batch, nab_profile(z), days_from_start=True)
        score = np.where(d.fire.any(axis=0), z, score)
    return score


def alert_scores(
    values: FloatArray, timestamps: npt.NDArray[np.datetime64],
    levels: tuple[float, ...] = Z_LEVELS,
) -> FloatArray:
    """Per NAB row: the largest z guard at which the bot's decision fires at it (0: none)."""
    grid = to_grid(values, timestamps)
    cells = cell_scores(to_batch(grid), levels)
    earlier = np.r_[0.0, cells[:-1]]  # the previous cell's, for a row its cell does not end
    scores: FloatArray = np.where(grid.own, cells[grid.cell], earlier[grid.cell])
    return scores
