"""Time-of-day slots of rows, for the daily profile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

_DAY_SECONDS = 86_400
_MAX_DAILY_SLOTS = 1_440  # a profile finer than a slot a minute learns nothing more
EMPTY_SLOT = 1e-12  # profile weight below which a time-of-day slot counts as never seen


@dataclass(frozen=True)
class DailySlots:
    """The time-of-day slot of every row, for the daily profile."""

    slots: IntArray  # 0 <= slot < count
    count: int  # slots in a day


def daily_slots(timestamps: npt.ArrayLike) -> DailySlots | None:
    """Time-of-day slot (UTC) of each timestamp, or None when a day holds too few rows.

    A slot is as wide as the median step between rows (at least a minute), so a regular series
    visits each slot once a day; irregular, duplicate or missing rows do no harm.
    """
    ts = np.asarray(timestamps)
    if ts.size < 2:
        return None
    seconds = ts.astype("datetime64[s]").astype(np.int64)
    steps = np.diff(seconds)
    steps = steps[steps > 0]
    if steps.size == 0:
        return None
    width = max(int(np.median(steps)), _DAY_SECONDS // _MAX_DAILY_SLOTS)
    count = -(-_DAY_SECONDS // width)
    if count < 6:  # coarser than four-hourly: no daily shape worth learning
        return None
    return DailySlots(slots=((seconds % _DAY_SECONDS) // width).astype(np.int64), count=count)


def check_slots(
    slots: npt.ArrayLike, shape: tuple[int, ...], slots_per_day: int | None
) -> tuple[IntArray, int]:
    """The slots as integers of ``shape``, and the slot count, or a clear error."""
    slot = np.asarray(slots)
    if slot.ndim == 0:
        slot = np.broadcast_to(slot, shape)  # one slot for every series
    if slot.shape != shape:
        raise ValueError(f"slots have shape {slot.shape}, values {shape}")
    if not np.issubdtype(slot.dtype, np.integer):
        raise ValueError("slots must be integers")
    if slots_per_day is None or slots_per_day < 1:
        raise ValueError("slots need slots_per_day, a positive count")
    if slot.size and (slot.min() < 0 or slot.max() >= slots_per_day):
        raise ValueError(f"slots must lie in 0..{slots_per_day - 1}")
    return slot.astype(np.int64), slots_per_day


