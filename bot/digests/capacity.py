"""Capacity forecasts for a digest: per service, when CPU or memory reaches saturation.

Reads the backend (one query per resource for all services) and turns the pure
``bot.analytics.forecast.Crossing`` into the digest's ``Forecast``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo

import pandas as pd

from bot.analytics.forecast import Crossing, forecast_crossing
from bot.digests.model import Forecast, Resource
from bot.metrics.base import MetricsBackend, NoDataError, Window

DEFAULT_THRESHOLDS: Mapping[str, float] = {"cpu": 0.9, "memory": 0.9}
STEP = timedelta(minutes=15)


def capacity_forecasts(
    backend: MetricsBackend,
    services: Sequence[str],
    end: datetime,
    *,
    history: timedelta = timedelta(days=14),
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    zone: tzinfo = UTC,
) -> list[Forecast]:
    """Each service's CPU and memory forecast, soonest crossing first (those with none
    after, by service). A service without data is skipped; a resource without any data is
    left out rather than failing the digest; NoDataError saying why when no resource has any
    (the digest notes it)."""
    if not services:
        return []
    window = Window(start=end - history, end=end, step=STEP)
    readers: dict[Resource, Callable[[Window, Sequence[str] | None], pd.DataFrame]] = {
        "cpu": backend.cpu, "memory": backend.memory,
    }
    forecasts: list[Forecast] = []
    missing: list[str] = []
    for resource, read in readers.items():
        threshold = thresholds.get(resource)
        if threshold is None:
            continue
        try:
            frame = read(window, list(services))
        except NoDataError as exc:
            # e.g. no memory metrics on this server: the other resource still counts
            missing.append(str(exc))
            continue
        for service in services:
            if service not in frame.columns or frame[service].dropna().empty:
                continue
            crossing = forecast_crossing(frame[service], threshold, end, zone=zone)
            forecasts.append(to_forecast(service, resource, crossing, history))
    if missing and len(missing) == sum(1 for r in readers if r in thresholds):
        # Neither resource has a figure (no limits, say): the digest says so, not nothing.
        raise NoDataError("; ".join(missing))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(forecasts, key=lambda f: (f.crossing or far, f.service, f.resource))


def to_forecast(
    service: str, resource: Resource, crossing: Crossing, history: timedelta
) -> Forecast:
    """The digest's view of one ``Crossing``."""
    return Forecast(
        service=service,
        resource=resource,
        current=crossing.current if crossing.current is not None else 0.0,
        threshold=crossing.threshold,
        growth_per_day=crossing.growth_per_day,
        crossing=crossing.at,
        earliest=crossing.earliest,
        latest=crossing.latest,
        confidence=crossing.sentence,
        method=f"{crossing.method} over {history.days} days",
    )
