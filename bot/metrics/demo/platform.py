"""The demo platform: its services and routes, traffic shape and latency distribution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.metrics.base import Endpoint

# numpy only where the data is drawn: `check-config` reads the routes and services alone.
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

# OpenTelemetry's default HTTP duration buckets (seconds); +Inf is implicit.
BUCKET_BOUNDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)

# Platform-wide requests per second when the traffic shape is 1 (a weekday dinner is ~1.36).
BASE_RPS = 100.0
TYPICAL_PEAK = 1.36
ERROR_LATENCY_FACTOR = 0.5  # failures answer faster than successes


@dataclass(frozen=True)
class Route:
    """One endpoint of the demo platform and the figures its traffic is drawn from."""

    endpoint: Endpoint
    share: float  # of platform traffic; 0 for probes
    median: float  # seconds, at quiet times
    sigma: float  # of log-latency
    error_ratio: float  # base share of 5xx
    not_found_ratio: float = 0.0  # share of 404
    fixed_rps: float = 0.0  # traffic that does not follow users (health probes)


def _route(service: str, method: str, route: str, *figures: float, **extra: float) -> Route:
    share, median, sigma, error_ratio = figures
    return Route(
        Endpoint(service=service, route=route, method=method), share, median, sigma, error_ratio,
        **extra,
    )


ROUTES: tuple[Route, ...] = (
    _route("web", "GET", "/", 0.10, 0.035, 0.50, 0.001),
    _route("web", "GET", "/healthz", 0.0, 0.002, 0.30, 0.0, fixed_rps=0.5),
    _route("search", "GET", "/api/search", 0.16, 0.080, 0.60, 0.002),
    _route("menu", "GET", "/api/restaurants", 0.12, 0.045, 0.50, 0.001),
    _route("menu", "GET", "/api/menu/{restaurant_id}", 0.18, 0.030, 0.50, 0.001),
    _route("orders", "POST", "/api/orders", 0.035, 0.120, 0.50, 0.004),
    _route("orders", "GET", "/api/orders/history", 0.05, 0.060, 0.55, 0.002),
    _route("orders", "GET", "/api/orders/{order_id}", 0.06, 0.025, 0.45, 0.002,
           not_found_ratio=0.02),
    _route("payments", "POST", "/api/checkout", 0.035, 0.140, 0.50, 0.003),
    _route("payments", "POST", "/api/payments/refund", 0.002, 0.180, 0.55, 0.005),
    _route("users", "POST", "/api/login", 0.03, 0.120, 0.35, 0.002),
    _route("users", "GET", "/api/users/me", 0.09, 0.015, 0.45, 0.001),
    _route("delivery", "GET", "/api/delivery/track/{order_id}", 0.12, 0.020, 0.50, 0.001),
)

_MIB = 1024**2


@dataclass(frozen=True)
class Service:
    """One service of the demo platform: its CPU and memory, limits and use."""

    name: str
    cpu_limit: float  # cores
    cpu_base: float  # cores when idle
    cpu_per_request: float  # core-seconds per request
    memory_limit: int  # bytes
    memory_base: float  # share of the limit when idle


SERVICES: tuple[Service, ...] = (
    Service("web", 1.0, 0.05, 0.012, 512 * _MIB, 0.35),
    Service("search", 2.0, 0.15, 0.040, 2048 * _MIB, 0.55),
    Service("menu", 2.0, 0.10, 0.020, 1024 * _MIB, 0.40),
    Service("orders", 1.5, 0.10, 0.030, 1024 * _MIB, 0.45),
    Service("payments", 1.0, 0.05, 0.060, 512 * _MIB, 0.40),
    Service("users", 1.0, 0.05, 0.025, 512 * _MIB, 0.38),
    Service("delivery", 1.0, 0.05, 0.020, 512 * _MIB, 0.42),
)


def traffic_shape(hours: npt.ArrayLike, weekdays: npt.ArrayLike) -> FloatArray:
    """Relative traffic at local hour-of-day ``hours`` (float) on ``weekdays`` (Monday=0).

    A quiet night floor, a daytime plateau, a lunch peak around 12:45 (12:00-13:30) and a
    dinner peak around 19:45 (18:30-21:00) that is busier on Fridays and Saturdays.
    """
    import numpy as np

    h = np.asarray(hours, dtype=np.float64)
    day = np.asarray(weekdays, dtype=np.int64)
    lunch_by_day = np.array([1.1, 1.1, 1.1, 1.1, 1.15, 0.9, 0.95])
    dinner_by_day = np.array([1.0, 1.0, 1.05, 1.1, 1.35, 1.4, 1.15])
    daytime = _logistic((h - 8.5) / 0.7) * _logistic((22.5 - h) / 0.7)
    lunch = 0.55 * np.exp(-0.5 * ((h - 12.75) / 0.55) ** 2) * lunch_by_day[day]
    dinner = np.exp(-0.5 * ((h - 19.75) / 0.75) ** 2) * dinner_by_day[day]
    shape: FloatArray = 0.06 + 0.3 * daytime + lunch + dinner
    return shape


def lognormal_cdf(bounds: Sequence[float], median: FloatArray, sigma: float) -> FloatArray:
    """P(latency <= bound) for each median (any shape); the bound axis is added last."""
    import numpy as np

    log_bounds = np.log(np.asarray(bounds, dtype=np.float64))
    z = (log_bounds - np.log(median)[..., None]) / sigma
    return 0.5 * _erfc(-z / np.sqrt(2.0))


def _erfc(x: FloatArray) -> FloatArray:
    # Numerical Recipes' erfcc (fractional error < 1.2e-7): numpy has no erf, scipy is
    # not a dependency, and this is exact enough for bucket probabilities.
    import numpy as np

    a = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    y = t * np.exp(-a * a + poly)
    result: FloatArray = np.where(x >= 0, y, 2.0 - y)
    return result


def _logistic(x: FloatArray) -> FloatArray:
    import numpy as np

    result: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return result

