"""When a service's CPU or memory crosses its saturation threshold at its current growth.

Method, and why:

1. **Daily peaks.** Saturation hurts at the peak, and the daily cycle dwarfs slow growth, so
   each local day is reduced to a high quantile (99th percentile) of its samples, placed at
   the time of that day's maximum. This removes the daily cycle without a seasonal model,
   and is robust to a single spike. Days with under 75% of a full day's samples (the
   current, partial day; gaps) are left out of the fit.
2. **The recent regime.** A leak that began 6 days ago must not be diluted by flat weeks
   before it. A two-segment (hinge) least-squares fit is tried at every day that leaves at
   least ``min_days`` days after it; the best hinge is kept when it explains clearly more
   than one straight line (an F-test, p < 1%), and the trend is fitted after it.
3. **Robust trend with an interval.** Theil–Sen (``scipy.stats.theilslopes``), the median
   of pairwise slopes, ignores outlying days; its 95% confidence interval on the slope
   gives the interval of the crossing (the line pivots on the median day and peak, where
   Theil–Sen anchors it). Growth whose interval includes zero is not growth.
4. **The crossing** is the first time the line plus the day's shape (the median distance
   below the line per local time of day, over the fitted days) reaches the threshold, so
   it lands on the hour the daily ramp gets there; the bounds are the same under the
   slope's upper and lower limit. Beyond ``horizon`` (90 days by default) it is "not in
   sight".

Limits: a straight-line extrapolation — no weekly cycle, no capacity changes to come, no
acceleration; the interval reflects the slope's uncertainty only (not the level's, which
with daily peaks is small next to it); a threshold crossed already is reported, not
forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats  # type: ignore[import-untyped]

Outcome = Literal["crossing", "already", "flat", "falling", "beyond horizon", "too little data"]

DAY = timedelta(days=1)
PEAK_QUANTILE = 0.99
METHOD = "Theil–Sen trend of daily peaks"


@dataclass(frozen=True)
class Crossing:
    """The forecast for one series: ``at`` is None when no crossing is in sight."""

    outcome: Outcome
    threshold: float
    current: float | None  # the latest full day's peak, share of the limit
    growth_per_day: float  # the trend's slope, share of the limit per day (0 when unknown)
    at: datetime | None = None
    earliest: datetime | None = None
    latest: datetime | None = None
    days: int = 0  # days of peaks the trend was fitted on
    sentence: str = ""  # how sure it is, for people
    method: str = METHOD


def daily_peaks(series: pd.Series, zone: tzinfo, *, full: float = 0.75) -> pd.DataFrame:
    """Per local day: ``peak`` (the 99th percentile), ``at`` (when the day's maximum was)
    and ``full`` (whether the day has at least ``full`` of a full day's samples)."""
    values = series.dropna().astype(float)
    if values.empty:
        return pd.DataFrame({"peak": [], "at": [], "full": []})
    local = values.copy()
    local.index = pd.DatetimeIndex(values.index).tz_convert(zone)
    grouped = local.groupby(local.index.date)
    counts = grouped.size()
    step = pd.Series(local.index).diff().median()
    per_day = DAY / step if isinstance(step, pd.Timedelta) and step > pd.Timedelta(0) else 1.0
    return pd.DataFrame({
        "peak": grouped.quantile(PEAK_QUANTILE),
        "at": grouped.idxmax(),
        "full": counts >= full * per_day,
    })


def _hinge_start(x: np.ndarray, y: np.ndarray, min_days: int) -> int:
    """Index of the first point of the recent regime: 0 unless a hinge fits clearly better
    than one line (F-test on the extra parameter, p < 1%)."""
    n = len(x)
    one = np.polyfit(x, y, 1)
    sse_one = float(np.sum((y - np.polyval(one, x)) ** 2))
    best, best_sse = 0, sse_one
    for k in range(1, n - min_days):
        design = np.column_stack([np.ones(n), x, np.maximum(x - x[k], 0)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        sse = float(np.sum((y - design @ coef) ** 2))
        if sse < best_sse:
            best, best_sse = k, sse
    if best == 0 or n <= 4:
        return 0
    # The hinge day itself may still be the old regime (a leak deployed after its peak).
    if best_sse > 1e-12:
        f = (sse_one - best_sse) / (best_sse / (n - 3))
        if stats.f.sf(f, 1, n - 3) >= 0.01:
            return 0
    return best + 1


def _slot(index: pd.DatetimeIndex, zone: tzinfo, minutes: int) -> np.ndarray:
    """Local time of day of each time, floored to ``minutes``: the daily profile's key."""
    local = index.tz_convert(zone)
    of_day = local.hour.to_numpy() * 60 + local.minute.to_numpy()
    return np.asarray(of_day // minutes * minutes)


def forecast_crossing(
    series: pd.Series,
    threshold: float,
    now: datetime,
    *,
    zone: tzinfo,
    horizon: timedelta = timedelta(days=90),
    min_days: int = 4,
) -> Crossing:
    """When ``series`` (a share of the limit on a tz-aware time index) crosses ``threshold``
    at its current growth. Pure; ``now`` is the end of the data."""
    peaks = daily_peaks(series, zone)
    full = peaks[peaks["full"]]
    if len(full) < min_days:
        return Crossing("too little data", threshold, None, 0.0,
                        sentence=f"Too little data: {len(full)} full days, {min_days} needed.")
    current = float(full["peak"].iloc[-1])
    # Already there: the latest peak (the partial day counts when it is over) is at or above.
    seen = peaks if bool(peaks["peak"].iloc[-1] >= threshold) else full
    latest_peak = float(seen["peak"].iloc[-1])
    if latest_peak >= threshold:
        above = seen["peak"].to_numpy() >= threshold
        first = len(above)
        while first > 0 and above[first - 1]:
            first -= 1
        since = pd.Timestamp(seen["at"].iloc[first]).tz_convert("UTC").to_pydatetime()
        days = len(above) - first
        return Crossing(
            "already", threshold, latest_peak, 0.0, at=since, earliest=since, latest=since,
            days=days,
            sentence=(f"Already at {latest_peak:.0%} of the limit at its daily peak, "
                      f"at or above {threshold:.0%} on {days} day{'s' if days != 1 else ''}."),
        )

    epoch = pd.Timestamp(0, tz="UTC")
    x = np.array([(pd.Timestamp(t) - epoch) / pd.Timedelta(days=1) for t in full["at"]])
    y = full["peak"].to_numpy(dtype=float)
    start = _hinge_start(x, y, min_days)
    x, y = x[start:], y[start:]
    days = len(x)
    slope, _, low, high = stats.theilslopes(y, x, alpha=0.95)
    slope, low, high = float(slope), float(low), float(high)
    regime = (f"from {days} days of daily peaks"
              + (" since the trend changed" if start else ""))
    if high < 0:
        return Crossing("falling", threshold, current, slope, days=days,
                        sentence=f"No saturation in sight: falling {regime}.")
    if low <= 0 or slope <= 0:
        return Crossing("flat", threshold, current, slope, days=days,
                        sentence=f"No saturation in sight: no clear growth {regime}.")

    # The day's shape below its peak, from the fitted days: the line is where peaks go, the
    # profile says how far below the peak each time of day sits, so a crossing lands on the
    # hour the day's ramp reaches the threshold, not only on the peak's hour.
    values = series.dropna().astype(float)
    index = pd.DatetimeIndex(values.index)
    step = pd.Series(index).diff().median()
    minutes = max(1, int(step / pd.Timedelta(minutes=1))) if isinstance(step, pd.Timedelta) else 60
    fitted = index >= pd.Timestamp(full["at"].iloc[start]).normalize() - pd.Timedelta(days=1)
    x_all = (index - epoch) / pd.Timedelta(days=1)
    x0, y0 = float(np.median(x)), float(np.median(y))
    below = values.to_numpy() - (y0 + slope * (np.asarray(x_all) - x0))
    profile = pd.Series(below[fitted]).groupby(_slot(index[fitted], zone, minutes)).median()
    future = pd.date_range(pd.Timestamp(now), pd.Timestamp(now) + horizon,
                           freq=pd.Timedelta(minutes=minutes))
    x_future = np.asarray((future - epoch) / pd.Timedelta(days=1))
    shape = profile.reindex(_slot(future, zone, minutes)).fillna(profile.min()).to_numpy()

    def when(s: float) -> datetime | None:
        hit = np.flatnonzero(y0 + s * (x_future - x0) + shape >= threshold)
        return None if hit.size == 0 else pd.Timestamp(future[hit[0]]).to_pydatetime()

    at, earliest, latest = when(slope), when(high), when(low)
    if at is None:
        return Crossing("beyond horizon", threshold, current, slope, days=days,
                        sentence=(f"No saturation in sight within {horizon.days} days: "
                                  f"growing {slope:.1%} of the limit a day {regime}."))
    return Crossing(
        "crossing", threshold, current, slope, at=at, earliest=earliest, latest=latest,
        days=days,
        sentence=(f"Growing {slope:.1%} of the limit a day {regime}; the interval is the "
                  f"slope's 95% interval ({low:.1%} to {high:.1%} a day)"
                  + ("" if latest else f", whose slow end does not cross within "
                     f"{horizon.days} days") + "."),
    )
