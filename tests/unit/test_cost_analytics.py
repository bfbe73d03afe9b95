"""Cost arithmetic with hand-computed numbers: integration over a grid, prices, sharing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from bot.analytics.cost import (
    CostFigures,
    ServiceUsage,
    coverage,
    integrate,
    integration_step,
    integration_window,
    overlap_seconds,
    price_endpoints,
    price_service,
)
from bot.analytics.prices import CostSettings, ServiceCost

T0 = datetime(2027, 2, 10, 10, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def frame(values: dict[str, list[float]], first: float, step_minutes: float = 5) -> pd.DataFrame:
    count = len(next(iter(values.values())))
    index = pd.DatetimeIndex([at(first + i * step_minutes) for i in range(count)], name="time")
    return pd.DataFrame(values, index=index, dtype=float)


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (timedelta(minutes=1), FIVE),
        (timedelta(days=2), FIVE),
        (timedelta(days=2, seconds=1), timedelta(hours=1)),
        (timedelta(days=31), timedelta(hours=1)),
        (timedelta(days=45), timedelta(hours=1)),
        (timedelta(days=46), timedelta(days=1)),
        (timedelta(days=1000), timedelta(days=1)),
    ],
)
def test_integration_step_keeps_queries_small(span: timedelta, step: timedelta) -> None:
    assert integration_step(span) == step
    window = integration_window(T0 - span, T0)
    assert window.step == window.lookback == step
    assert window.end == T0
    assert window.start <= T0 - span < window.start + step  # covers the start, by < a step
    assert (window.end - window.start) / step <= 1100


def test_integration_window_ends_on_a_whole_second_and_refuses_empty_spans() -> None:
    window = integration_window(at(-12), at(0) + timedelta(microseconds=700_000))
    assert window.end == at(0)
    assert window.start == at(-15)
    with pytest.raises(ValueError, match="end after it starts"):
        integration_window(at(0), at(0))


def test_overlap_counts_only_the_part_of_each_interval_inside_the_window() -> None:
    index = pd.DatetimeIndex([at(0), at(5), at(10), at(15)])
    # Window 09:57 .. 10:12: (09:55, 10:00] has 3 minutes in it, (10:10, 10:15] has 2.
    seconds = overlap_seconds(index, FIVE, at(-3), at(12))
    np.testing.assert_allclose(seconds, [180, 300, 300, 120])
    assert seconds.sum() == (at(12) - at(-3)).total_seconds()
    outside = overlap_seconds(pd.DatetimeIndex([at(-10), at(30)]), FIVE, at(0), at(12))
    np.testing.assert_allclose(outside, [0, 0])


def test_integrate_sums_value_times_seconds_and_skips_gaps() -> None:
    data = frame({"a": [2.0, 4.0, np.nan], "b": [np.nan, np.nan, np.nan]}, first=0)
    # Window 10:00 .. 10:10: the point at 10:00 has no seconds inside; 4 × 300 at 10:05,
    # and the 10:10 point is a gap.
    totals = integrate(data, FIVE, at(0), at(10))
    assert totals["a"] == pytest.approx(4.0 * 300)
    assert totals["b"] == 0
    shares = coverage(data, FIVE, at(0), at(10))
    assert shares["a"] == pytest.approx(0.5)
    assert shares["b"] == 0


PRICES = CostSettings(
    currency="EUR",
    core_hour=0.05,
    gib_hour=0.01,
    per_million_requests=0.5,
    services={"shop": ServiceCost(fixed_monthly=73)},
)
TEN_HOURS = (at(0), at(600))


def shop_usage(**update: object) -> ServiceUsage:
    usage = ServiceUsage(
        service="shop",
        compute="prices",
        core_hours=48.0,
        cpu_basis="limits",
        gib_hours=24.0,
        memory_basis="limits",
        busy_seconds={"GET /a": 300.0, "POST /b": 100.0, "GET /idle": 0.0},
        requests={"GET /a": 1_500_000.0, "POST /b": 500_000.0, "GET /idle": 0.0},
    )
    return usage.model_copy(update=update)


def test_service_price_adds_resources_fixed_share_and_requests() -> None:
    figures = price_service(shop_usage(), PRICES, *TEN_HOURS)
    # 48 core-h × 0.05 + 24 GiB-h × 0.01 + 73/month × 10 h / 730 h + 2M requests × 0.5/M
    assert figures.total == pytest.approx(2.4 + 0.24 + 1.0 + 1.0)
    assert figures.requests == 2_000_000
    assert (figures.subject, figures.service, figures.currency) == ("shop", "shop", "EUR")
    assert figures.note == (
        "price table: 0.05 EUR/core-hour on CPU limits, 0.01 EUR/GiB-hour on memory limits"
        " + 73 EUR/month fixed + 0.5 EUR per million requests"
    )
    assert "\n" not in figures.note


def test_endpoints_share_by_busy_time_and_pay_their_own_requests() -> None:
    a, b, idle = price_endpoints(shop_usage(), PRICES, *TEN_HOURS, ["GET /a", "POST /b",
                                                                       "GET /idle"])
    shared = 2.4 + 0.24 + 1.0
    assert a.total == pytest.approx(shared * 0.75 + 0.75)
    assert b.total == pytest.approx(shared * 0.25 + 0.25)
    assert idle.total == 0
    assert a.total + b.total + idle.total == pytest.approx(
        price_service(shop_usage(), PRICES, *TEN_HOURS).total
    )
    assert a.note.endswith("; shared by busy time: 75% of the shop service's")
    assert (a.subject, a.service, a.requests) == ("GET /a", "shop", 1_500_000)


def test_a_service_never_busy_keeps_its_cost() -> None:
    quiet = shop_usage(busy_seconds={"GET /a": 0.0}, requests={"GET /a": 0.0})
    (endpoint,) = price_endpoints(quiet, PRICES, *TEN_HOURS)
    assert endpoint.total == 0
    assert "never busy" in endpoint.note
    assert price_service(quiet, PRICES, *TEN_HOURS).total == pytest.approx(2.4 + 0.24 + 1.0)


def test_notes_say_where_figures_came_from() -> None:
    plain = CostSettings()
    opencost = ServiceUsage(service="x", compute="opencost", opencost=3.0, covered=0.5)
    figures = price_service(opencost, plain, *TEN_HOURS)
    assert figures.total == 3.0
    assert figures.note.startswith("OpenCost: CPU and memory allocation")
    assert figures.note.endswith("; figures cover 50% of the window")
    usage = ServiceUsage(service="x", compute="prices", core_hours=10, cpu_basis="usage")
    note = price_service(usage, plain, *TEN_HOURS).note
    assert "on CPU in use (no limits found)" in note
    assert "no memory figures" in note
    assert price_service(usage, plain, *TEN_HOURS).total == pytest.approx(10 * 0.0316)
    nothing = price_service(ServiceUsage(service="x", compute="none"), plain, *TEN_HOURS)
    assert (nothing.total, nothing.note) == (0, "no CPU or memory figures for this service")


def test_rates_per_day_per_request_and_projected_month() -> None:
    figures = CostFigures(
        subject="shop", service="shop", start=at(0), end=at(0) + timedelta(days=2),
        total=10.0, requests=4000.0, currency="USD", note="n",
    )
    assert figures.per_day == pytest.approx(5.0)
    assert figures.per_1k_requests == pytest.approx(2.5)
    assert figures.projected_month(T0, UTC) == pytest.approx(5.0 * 28)  # February 2027
    # 02:00 UTC on 1 March is still February in New York.
    early = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
    assert figures.projected_month(early, UTC) == pytest.approx(5.0 * 31)
    assert figures.projected_month(early, ZoneInfo("America/New_York")) == pytest.approx(5 * 28)
    idle = figures.model_copy(update={"requests": 0.0})
    assert idle.per_1k_requests is None
    with pytest.raises(ValueError, match="timezone-aware"):
        figures.projected_month(datetime(2027, 3, 1), UTC)
    assert math.isfinite(figures.days) and figures.days == 2
