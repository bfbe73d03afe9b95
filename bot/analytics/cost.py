"""Cost arithmetic, pure: integrate usage over a window, price it, share it out to endpoints.

A series point at ``t`` stands for the interval ``(t - step, t]`` (see ``metrics.base``), so
the amount over ``[start, end]`` is the sum of each point's value times the seconds of its
interval inside the window. A service's cost is shared out to its endpoints by their share
of its busy time (the seconds spent answering requests, the histogram's ``_sum``): an
endpoint that keeps the service busy twice as long is taken to cost twice as much.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict

from bot.analytics.prices import CostSettings
from bot.metrics.base import Endpoint, Window

FloatArray = npt.NDArray[np.float64]

HOURS_PER_MONTH = 730.0  # the cloud billing convention: 8760 hours a year / 12
DAY = timedelta(days=1)
GIB = 2.0**30
# The integration step by window length: queries of at most ~1100 points that follow the
# daily traffic shape (counters are exact at any step; gauges are sampled at each point).
_STEPS = (
    (timedelta(days=2), timedelta(minutes=5)),
    (timedelta(days=45), timedelta(hours=1)),
)
_LONG_STEP = timedelta(days=1)

Basis = Literal["limits", "usage"]


class CostFigures(BaseModel):
    """What one service or endpoint cost over a window, and how the figure was made."""

    model_config = ConfigDict(frozen=True)

    subject: str  # endpoint key, or service name
    service: str
    endpoint: Endpoint | None = None  # set for an endpoint's figures (keys may be shared)
    start: datetime
    end: datetime
    total: float  # money spent in [start, end], in ``currency``
    requests: float  # requests served in [start, end]
    currency: str
    note: str  # one line: how the figure was made

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY

    @property
    def per_day(self) -> float:
        return self.total / self.days

    @property
    def per_1k_requests(self) -> float | None:
        """Money per thousand requests; None when nothing was served."""
        if self.requests <= 0:
            return None
        return self.total / self.requests * 1000

    def projected_month(self, now: datetime, tz: tzinfo) -> float:
        """The window's daily run rate over the whole month ``now`` falls in (local time)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        local = now.astimezone(tz)
        return self.per_day * calendar.monthrange(local.year, local.month)[1]


class ServiceUsage(BaseModel):
    """What one service held and served over a window, integrated: the inputs of its price."""

    model_config = ConfigDict(frozen=True)

    service: str
    compute: Literal["opencost", "prices", "none"]
    opencost: float = 0.0  # money, from OpenCost's allocation at node prices
    core_hours: float = 0.0
    cpu_basis: Basis | None = None  # None: no CPU figures
    gib_hours: float = 0.0
    memory_basis: Basis | None = None  # None: no memory figures
    covered: float = 1.0  # share of the window that the compute figures cover
    busy_seconds: dict[str, float] = {}  # per endpoint key
    requests: dict[str, float] = {}  # per endpoint key

    @property
    def total_requests(self) -> float:
        return sum(self.requests.values())

    @property
    def total_busy(self) -> float:
        return sum(self.busy_seconds.values())


# ---- integration ------------------------------------------------------------------------


def integration_step(span: timedelta) -> timedelta:
    """The step (and rate window) of the queries behind a cost over ``span``."""
    for longest, step in _STEPS:
        if span <= longest:
            return step
    return _LONG_STEP


def integration_window(start: datetime, end: datetime) -> Window:
    """The query grid for a cost over ``[start, end]``: whole steps ending at ``end``.

    The grid may begin before ``start``; ``overlap_seconds`` weighs its first point by the
    part of its interval inside the window.
    """
    span = end - start
    if span <= timedelta(0):
        raise ValueError("the window must end after it starts")
    step = integration_step(span)
    last = end.replace(microsecond=0)  # Prometheus evaluates at whole seconds
    count = max(1, math.ceil((last - start) / step))
    return Window(start=last - count * step, end=last, step=step, rate_window=step)


def overlap_seconds(
    index: pd.DatetimeIndex, step: timedelta, start: datetime, end: datetime
) -> FloatArray:
    """For each point ``t``: seconds of ``(t - step, t]`` that fall inside ``[start, end]``."""
    ends = index.as_unit("ns").asi8.astype(np.float64) / 1e9
    first, last = start.timestamp(), end.timestamp()
    seconds: FloatArray = (
        np.minimum(ends, last) - np.maximum(ends - step.total_seconds(), first)
    ).clip(0, None)
    return seconds


def integrate(frame: pd.DataFrame, step: timedelta, start: datetime, end: datetime) -> pd.Series:
    """Per column: the sum of value × seconds over ``[start, end]``; gaps count as nothing."""
    weights = overlap_seconds(pd.DatetimeIndex(frame.index), step, start, end)
    values = frame.to_numpy(dtype=float)
    totals = np.nansum(values * weights[:, None], axis=0)
    return pd.Series(totals, index=frame.columns, dtype=float)


def coverage(frame: pd.DataFrame, step: timedelta, start: datetime, end: datetime) -> pd.Series:
    """Per column: the share of ``[start, end]`` covered by points with a value."""
    weights = overlap_seconds(pd.DatetimeIndex(frame.index), step, start, end)
    present = ~np.isnan(frame.to_numpy(dtype=float))
    span = (end - start).total_seconds()
    return pd.Series((present * weights[:, None]).sum(axis=0) / span, index=frame.columns,
                     dtype=float)


# ---- pricing ----------------------------------------------------------------------------


def compute_cost(usage: ServiceUsage, prices: CostSettings) -> float:
    """CPU and memory: OpenCost's figure, or the price table applied to core- and GiB-hours."""
    if usage.compute == "opencost":
        return usage.opencost
    return usage.core_hours * prices.core_hour + usage.gib_hours * prices.gib_hour


def fixed_cost(service: str, prices: CostSettings, start: datetime, end: datetime) -> float:
    """The service's fixed monthly cost for the hours of the window."""
    extra = prices.services.get(service)
    if extra is None:
        return 0.0
    return extra.fixed_monthly * ((end - start) / timedelta(hours=1)) / HOURS_PER_MONTH


def request_cost(requests: float, prices: CostSettings) -> float:
    return requests * prices.per_million_requests / 1e6


def price_service(
    usage: ServiceUsage, prices: CostSettings, start: datetime, end: datetime
) -> CostFigures:
    """The whole service's cost over the window."""
    requests = usage.total_requests
    total = (
        compute_cost(usage, prices)
        + fixed_cost(usage.service, prices, start, end)
        + request_cost(requests, prices)
    )
    return CostFigures(
        subject=usage.service,
        service=usage.service,
        start=start,
        end=end,
        total=total,
        requests=requests,
        currency=prices.currency,
        note=describe(usage, prices),
    )


def price_endpoints(
    usage: ServiceUsage,
    prices: CostSettings,
    start: datetime,
    end: datetime,
    keys: Sequence[str] | None = None,
) -> list[CostFigures]:
    """The service's endpoints' costs (``keys``, default all with figures), in that order.

    CPU, memory and fixed costs are shared by busy time; the per-request price follows each
    endpoint's own requests. With no busy time at all nothing is shared out: the cost stays
    with the service.
    """
    shared = compute_cost(usage, prices) + fixed_cost(usage.service, prices, start, end)
    busy = usage.total_busy
    base_note = describe(usage, prices)
    figures = []
    for key in keys if keys is not None else sorted(usage.busy_seconds):
        share = usage.busy_seconds.get(key, 0.0) / busy if busy > 0 else 0.0
        requests = usage.requests.get(key, 0.0)
        if busy > 0:
            how = f"shared by busy time: {_percent(share)} of the {usage.service} service's"
        else:
            how = f"the {usage.service} service was never busy: its cost stays with it"
        figures.append(
            CostFigures(
                subject=key,
                service=usage.service,
                start=start,
                end=end,
                total=shared * share + request_cost(requests, prices),
                requests=requests,
                currency=prices.currency,
                note=f"{base_note}; {how}",
            )
        )
    return figures


def describe(usage: ServiceUsage, prices: CostSettings) -> str:
    """One line saying how the service's figure was made."""
    money = prices.currency
    if usage.compute == "opencost":
        parts = ["OpenCost: CPU and memory allocation at node_cpu_hourly_cost and "
                 "node_ram_hourly_cost"]
    elif usage.compute == "prices":
        cpu = _resource_part(prices.core_hour, money, "core", "CPU", usage.cpu_basis)
        memory = _resource_part(prices.gib_hour, money, "GiB", "memory", usage.memory_basis)
        parts = [f"price table: {cpu}, {memory}"]
    else:
        parts = ["no CPU or memory figures for this service"]
    extra = prices.services.get(usage.service)
    if extra is not None and extra.fixed_monthly:
        parts.append(f"{_amount(extra.fixed_monthly)} {money}/month fixed")
    if prices.per_million_requests:
        parts.append(f"{_amount(prices.per_million_requests)} {money} per million requests")
    note = " + ".join(parts)
    if usage.compute != "none" and usage.covered < 0.99:
        note += f"; figures cover {_percent(usage.covered)} of the window"
    return note


def _resource_part(price: float, money: str, unit: str, what: str, basis: Basis | None) -> str:
    if basis is None:
        return f"no {what} figures"
    on = f"{what} limits" if basis == "limits" else f"{what} in use (no limits found)"
    return f"{_amount(price)} {money}/{unit}-hour on {on}"


def _amount(value: float) -> str:
    return f"{value:g}"


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 or share == 0 else "<1%"
