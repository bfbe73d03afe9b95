"""When a service's CPU or memory crosses its saturation threshold at its current growth.

Method, and why:

1. **Daily peaks.** Saturation hurts at the peak, and the daily cycle dwarfs slow growth, so
   each local day is reduced to a high quantile (99th percentile) of its samples, placed at
   the time of that day's maximum: the daily cycle is gone without a seasonal model, and a
   single spike does not count. Days with under 90% of a full day's samples (today; gaps)
   are left out of the fit: they may miss their peak hours.
2. **The weekly cycle** (busier Friday and Saturday evenings) is a classical additive
   decomposition of the daily peaks, period 7: peaks minus their centred 7-day moving
   average, the median per weekday. It needs 13 days of one regime; without them it is
   left in the peaks, where it widens the interval.
3. **The recent regime.** A leak that began 6 days ago must not be diluted by flat weeks
   before it. Every split leaving ``min_days`` (4) after it is tried; two separate lines
   (a change of level, of slope or both) are kept over one when the best split explains
   clearly more (F-test on the two added terms, p < 1%), and the trend is fitted after it.
4. **Robust trend with an interval.** Theil–Sen (``scipy.stats.theilslopes``), the median
   of pairwise slopes, ignores an outlying day; growth whose 95% interval on the slope
   includes zero is not growth ("no saturation in sight"), nor is one that moved the peak
   by less than the peaks' own scatter (below) over the fitted days.
5. **The crossing** is the first time, from now, that the line (through the median day and
   peak, where Theil–Sen anchors it) plus the weekly cycle plus that weekday's shape below
   its peak (per local time of day, from the whole history) reaches the threshold: it
   lands on the hour the evening ramp gets there. ``earliest`` and ``latest`` use the
   slope's 95% bounds, shifted up and down by the day-to-day scatter of the peaks around
   the line (1.96 × 1.4826 × MAD), and widened by one sample step (the data's resolution).
   Past ``horizon`` (90 days) no crossing is reported.

Limits: a straight line — no acceleration, no capacity change or deploy to come; the
interval is the slope's and the peaks' scatter, not a full predictive distribution; with
under two weeks of a regime the weekly cycle is not modelled (the interval is wider); a
threshold already reached is reported as such ("already"), from the first day of the run of
peaks at or above it, not forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats  # type: ignore[import-untyped]

Outcome = Literal["crossing", "already", "flat", "falling", "beyond horizon", "too little data"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DAY = timedelta(days=1)
EPOCH = pd.Timestamp(0, tz="UTC")
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


def daily_peaks(series: pd.Series, zone: tzinfo, *, full: float = 0.9) -> pd.DataFrame:
    """Per local day: ``peak`` (the 99th percentile), ``at`` (when the day's maximum was)
    and ``full`` (whether the day has at least ``full`` of a full day's samples: a partial
    day may miss its peak hours)."""
    values = series.dropna().astype(float)
    if values.empty:
        return pd.DataFrame({"peak": [], "at": [], "full": []})
    local = values.copy()
    local.index = pd.DatetimeIndex(values.index).tz_convert(zone)
    grouped = local.groupby(local.index.date)
    counts = grouped.size()
    per_day = DAY / _step(local.index)
    return pd.DataFrame({
        "peak": grouped.quantile(PEAK_QUANTILE),
        "at": grouped.idxmax(),
        "full": counts >= full * per_day,
    })


def _step(index: pd.DatetimeIndex) -> timedelta:
    step = pd.Series(index).diff().median()
    if isinstance(step, pd.Timedelta) and step > pd.Timedelta(0):
        return step.to_pytimedelta()
    return timedelta(hours=1)


def weekly_cycle(peaks: FloatArray, weekdays: IntArray) -> FloatArray:
    """Each weekday's typical deviation of the daily peak (classical additive decomposition,
    period 7): the peaks minus their centred 7-day moving average, the median per weekday,
    centred. A moving average follows any slow trend, a leak's included, so the cycle is
    not confused with growth. Zeros until every weekday has a centred average (13 days)."""
    effect = np.zeros(7)
    n = len(peaks)
    if n < 13:
        return effect
    average = np.convolve(peaks, np.ones(7) / 7, mode="valid")  # centred on days 3..n-4
    return _centred_medians(peaks[3:n - 3] - average, weekdays[3:n - 3])


def _centred_medians(residual: FloatArray, weekdays: IntArray) -> FloatArray:
    effect = np.zeros(7)
    for day in range(7):
        if np.any(weekdays == day):
            effect[day] = float(np.median(residual[weekdays == day]))
    centred: FloatArray = effect - effect.mean()
    return centred


def _regime(x: FloatArray, y: FloatArray, min_days: int) -> int:
    """Where the recent regime starts: 0 unless two separate lines (a change of level, of
    slope or both), split where they fit best leaving ``min_days`` after it, explain
    clearly more than one (F-test on the two added terms, p < 1%)."""
    n = len(x)
    if n <= 4:
        return 0
    sse_one = float(np.sum((y - np.polyval(np.polyfit(x, y, 1), x)) ** 2))
    best, best_sse = 0, sse_one
    for k in range(2, n - min_days + 1):
        fit = np.concatenate([np.polyval(np.polyfit(x[:k], y[:k], 1), x[:k]),
                              np.polyval(np.polyfit(x[k:], y[k:], 1), x[k:])])
        sse = float(np.sum((y - fit) ** 2))
        if sse < best_sse:
            best, best_sse = k, sse
    if best == 0:
        return 0
    f = ((sse_one - best_sse) / 2) / (max(best_sse, 1e-12) / (n - 4))
    return best if stats.f.sf(f, 2, n - 4) < 0.01 else 0


def _slot(index: pd.DatetimeIndex, zone: tzinfo, minutes: int) -> IntArray:
    """Local time of day of each time, floored to ``minutes``: the daily profile's key."""
    local = index.tz_convert(zone)
    of_day = local.hour.to_numpy() * 60 + local.minute.to_numpy()
    return np.asarray(of_day // minutes * minutes, dtype=np.int64)


def _days(times: pd.DatetimeIndex | pd.Series) -> FloatArray:
    """Days since the epoch, as floats (the trend's x axis)."""
    return np.asarray((pd.DatetimeIndex(times) - EPOCH) / pd.Timedelta(days=1), dtype=float)


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
    # Already there: the latest peak (today's counts once it is over) is at or above.
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

    x = _days(full["at"])
    y = full["peak"].to_numpy(dtype=float)
    weekdays = np.asarray(pd.DatetimeIndex(full.index.astype(str)).day_of_week, dtype=np.int64)
    # The weekly cycle, from the whole history, keeps a quiet Monday to a busy Saturday from
    # reading as a new regime. Once a regime is found, the cycle is taken from one regime
    # alone (its moving average bends at the change): the days before it, or the regime
    # itself, when either has the 13 days it needs; otherwise it is left in, and shows in
    # the scatter that widens the interval.
    effect = weekly_cycle(y, weekdays)
    start = _regime(x, y - effect[weekdays], min_days)
    if start:
        before = weekly_cycle(y[:start], weekdays[:start])
        effect = before if start >= 13 else weekly_cycle(y[start:], weekdays[start:])
    raw = y[start:]
    x, y = x[start:], (y - effect[weekdays])[start:]
    days = len(x)
    slope = float(stats.theilslopes(y, x, alpha=0.95)[0])
    # Whether it grows, and the interval, come from the peaks as measured: the weekly cycle
    # estimated from a week or two of days would also soak up noise and feign certainty.
    raw_slope, raw_intercept, low, high = (float(v) for v in stats.theilslopes(raw, x, 0.95))
    low, high = min(low, slope), max(high, slope)
    regime = (f"from {days} days of daily peaks"
              + (" since the trend changed" if start else ""))
    x0, y0 = float(np.median(x)), float(np.median(y))
    # A day's peak scatters around the trend: a robust 95% band of that scatter
    # (1.96 × 1.4826 × MAD of the fitted days' residuals) widens the crossing's interval,
    # and a trend that moved the peak by less than it over the fitted days is not material.
    residuals = raw - (raw_intercept + raw_slope * x)
    margin = 1.96 * 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    material = abs(slope) * float(x[-1] - x[0]) > margin
    if high < 0 and material:
        return Crossing("falling", threshold, current, slope, days=days,
                        sentence=f"No saturation in sight: falling {regime}.")
    if low <= 0 or slope <= 0 or not material:
        return Crossing("flat", threshold, current, slope, days=days,
                        sentence=f"No saturation in sight: no clear growth {regime}.")

    # The day's shape below its peak, per weekday and local time of day, from the whole
    # history (how far below that day's peak each sample sits, the trend within the day
    # taken out): a crossing lands on the hour that weekday's ramp reaches the threshold —
    # a busy Saturday evening, not a quiet Saturday lunch.
    values = series.dropna().astype(float)
    index = pd.DatetimeIndex(values.index)
    minutes = max(1, round(_step(index) / timedelta(minutes=1)))
    local = index.tz_convert(zone)
    dates = np.asarray(local.date)
    day_peak = peaks["peak"].reindex(dates).to_numpy(dtype=float)
    day_at = _days(pd.DatetimeIndex(peaks["at"].reindex(dates)))
    in_regime = local >= pd.Timestamp(full.index[start].isoformat()).tz_localize(zone)
    drift = np.where(in_regime, slope, 0.0) * (_days(index) - day_at)
    below = pd.Series(values.to_numpy() - day_peak - drift)
    slots = _slot(index, zone, minutes)
    weekday_of = np.asarray(local.day_of_week)
    by_day = below.groupby([weekday_of, slots]).median()
    by_slot = below.groupby(slots).median()
    future = pd.date_range(pd.Timestamp(now), pd.Timestamp(now) + horizon,
                           freq=pd.Timedelta(minutes=minutes))
    future_weekday = np.asarray(future.tz_convert(zone).day_of_week)
    future_slots = _slot(future, zone, minutes)
    keys = pd.MultiIndex.from_arrays([future_weekday, future_slots])
    fallback = by_slot.reindex(future_slots).fillna(by_slot.min()).to_numpy()
    profile = by_day.reindex(keys).to_numpy()
    shape = np.where(np.isnan(profile), fallback, profile) + effect[future_weekday]
    x_future = _days(future)

    def when(s: float, level: float = 0.0) -> datetime | None:
        hit = np.flatnonzero(y0 + level + s * (x_future - x0) + shape >= threshold)
        return None if hit.size == 0 else pd.Timestamp(future[hit[0]]).to_pydatetime()

    at, earliest, latest = when(slope), when(high, margin), when(low, -margin)
    # Samples average a step (a rate or a mean over it): a crossing is placed no finer.
    resolution = timedelta(minutes=minutes)
    earliest = earliest - resolution if earliest else None
    latest = latest + resolution if latest else None
    if at is None:
        return Crossing("beyond horizon", threshold, current, slope, days=days,
                        sentence=(f"No saturation in sight within {horizon.days} days: "
                                  f"growing {slope:.1%} of the limit a day {regime}."))
    return Crossing(
        "crossing", threshold, current, slope, at=at, earliest=earliest, latest=latest,
        days=days,
        sentence=(f"Growing {slope:.1%} of the limit a day {regime}; the interval is the "
                  f"slope's 95% interval ({low:.1%} to {high:.1%} a day) and the daily peaks' "
                  f"scatter (±{margin:.1%})"
                  + ("" if latest else f", whose slow end does not cross within "
                     f"{horizon.days} days") + "."),
    )
