"""What services and endpoints cost: reads the metrics backend, prices with ``analytics.cost``.

CPU and memory cost comes from OpenCost's metrics when Prometheus has them (``cost.source:
auto``), else from the price table applied to each service's CPU and memory limits (its
usage where no limits are found: cAdvisor's, or the client libraries' ``process_*``). The
per-request price and each service's fixed monthly cost are added either way. A service's
cost is shared out to its endpoints by busy time. With nothing to price at all, the answer
is that there is no resource data, not a cost of 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pandas as pd

from bot.analytics.cost import (
    GIB,
    Basis,
    CostFigures,
    ServiceUsage,
    coverage,
    integrate,
    integration_window,
    price_endpoints,
    price_service,
)
from bot.analytics.prices import CostSettings
from bot.metrics.base import (
    Endpoint,
    MetricsBackend,
    MetricsError,
    NoDataError,
    Resource,
    Window,
    format_utc,
)

__all__ = ["CostFigures", "endpoint_costs", "service_costs"]

_HOUR_SECONDS = 3600.0

# ``backend.throughput`` or ``backend.busy_time``: a per-second rate per endpoint.
_EndpointQuery = Callable[[Window, Sequence[Endpoint]], pd.DataFrame]


def service_costs(
    backend: MetricsBackend,
    settings: CostSettings,
    start: datetime,
    end: datetime,
    services: Sequence[str] | None = None,
    known: Sequence[Endpoint] | None = None,
) -> list[CostFigures]:
    """The cost of each service over ``[start, end]``.

    ``services`` are returned in the order given; None means every service that serves
    HTTP traffic or has a fixed cost in the settings, most expensive first. ``known``: the
    endpoints already discovered (the bot's catalog), else they are discovered here.
    """
    window, start, end = _span(start, end)
    by_service = _group(_discover(backend, known))
    names = (
        sorted(set(by_service) | set(settings.services))
        if services is None
        else list(dict.fromkeys(services))
    )
    if not names:
        raise NoDataError("no services to cost: no endpoints found and none in cost.services")
    usages = _measure(backend, settings, window, start, end, names, by_service, busy=False,
                      strict=services is not None)
    figures = [price_service(usages[name], settings, start, end) for name in usages]
    if services is None:
        figures.sort(key=lambda f: -f.total)
    return figures


def endpoint_costs(
    backend: MetricsBackend,
    settings: CostSettings,
    start: datetime,
    end: datetime,
    endpoints: Sequence[Endpoint] | None = None,
    known: Sequence[Endpoint] | None = None,
) -> list[CostFigures]:
    """The cost of each endpoint over ``[start, end]``: its share of its service's cost.

    ``endpoints`` are returned in the order given; None means every endpoint, most
    expensive first. ``known``: as for ``service_costs``.
    """
    window, start, end = _span(start, end)
    if known is not None:
        discovered = list(known)
    else:
        discovered = backend.endpoints() if endpoints is None else _discover(backend)
    wanted = discovered if endpoints is None else list(dict.fromkeys(endpoints))
    if not wanted:
        raise NoDataError("no endpoints to cost")
    # Every endpoint of a service takes part in sharing its cost, asked for or not.
    by_service = _group(discovered)
    extra = _group([e for e in wanted if e not in discovered])
    names = list(dict.fromkeys(e.service for e in wanted))
    usages = _measure(backend, settings, window, start, end, names, by_service, busy=True,
                      strict=endpoints is not None, extra=extra)
    figures = [
        price_endpoints(usages[e.service], settings, start, end, [e.key])[0].model_copy(
            update={"endpoint": e})
        for e in wanted
        if e.service in usages
    ]
    if endpoints is None:
        figures.sort(key=lambda f: -f.total)
    return figures


def _span(start: datetime, end: datetime) -> tuple[Window, datetime, datetime]:
    """The integration window and its ends in UTC: elapsed time, even across a DST change
    (subtracting two times of one zone gives wall-clock time)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise MetricsError("the cost window's times must be timezone-aware")
    if end <= start:
        raise MetricsError(
            "the cost window must end after it starts, got "
            f"{format_utc(start)} to {format_utc(end)}"
        )
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return integration_window(start, end), start, end


def _discover(backend: MetricsBackend, known: Sequence[Endpoint] | None = None
              ) -> list[Endpoint]:
    """Endpoints with traffic (``known``, when already discovered: a discovery is one
    more request per answer, issue 13); none (rather than an error) when no HTTP metrics
    are found."""
    if known is not None:
        return list(known)
    try:
        return backend.endpoints()
    except NoDataError:
        return []


def _group(endpoints: Sequence[Endpoint]) -> dict[str, list[Endpoint]]:
    grouped: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        members = grouped.setdefault(endpoint.service, [])
        if endpoint not in members:
            members.append(endpoint)
    return grouped


def _measure(
    backend: MetricsBackend,
    settings: CostSettings,
    window: Window,
    start: datetime,
    end: datetime,
    services: list[str],
    by_service: dict[str, list[Endpoint]],
    *,
    busy: bool,
    strict: bool,
    extra: dict[str, list[Endpoint]] | None = None,
) -> dict[str, ServiceUsage]:
    """Each service's integrated usage.

    A service with nothing at all (no CPU or memory figures, no requests, no fixed cost) is
    a NoDataError when ``strict`` (it was asked for by name), else left out; NoDataError
    when every service is left out.

    ``by_service`` holds discovered endpoints, ``extra`` asked-for ones that were not
    discovered: they are queried apart, so that one without data leaves the others' alone.
    """
    compute = _compute(backend, settings, window, start, end, services)
    usages = {}
    for service in services:
        groups = [g for g in (by_service.get(service), (extra or {}).get(service)) if g]
        requests = _endpoint_amounts(backend.throughput, window, groups, start, end)
        busy_seconds = (
            _endpoint_amounts(backend.busy_time, window, groups, start, end) if busy else {}
        )
        usage = compute[service].model_copy(
            update={"requests": requests, "busy_seconds": busy_seconds}
        )
        nothing = usage.compute == "none" and not usage.total_requests
        if nothing and service not in settings.services:
            if strict:
                raise NoDataError(
                    f"no cost figures for service {service!r} between {format_utc(start)} and "
                    f"{format_utc(end)}: no CPU or memory figures, no requests, and no fixed cost "
                    "in cost.services"
                )
            continue
        usages[service] = usage
    if not usages:
        raise NoDataError(
            f"no cost figures for any service between {format_utc(start)} and {format_utc(end)}"
        )
    if _nothing_priced(usages, settings):
        # Every figure would be 0.00 for want of data, which reads as "free".
        raise NoDataError(
            f"no resource data for {_names(list(usages))} between {format_utc(start)} and "
            f"{format_utc(end)}: no CPU or memory metrics to price (perfbot check-config says "
            "which it looks for), no cost.per_million_requests and no fixed cost in "
            "cost.services"
            + ("; cost.source is opencost: set it to auto or prices to use the price table"
               if settings.source == "opencost" else "")
        )
    return usages


def _nothing_priced(usages: dict[str, ServiceUsage], settings: CostSettings) -> bool:
    """No CPU or memory figures, and no price on requests or fixed costs to use instead."""
    return (
        all(u.compute == "none" for u in usages.values())
        and not settings.per_million_requests
        and not any(settings.services[s].fixed_monthly for s in usages if s in settings.services)
    )


def _names(services: list[str]) -> str:
    if len(services) == 1:
        return f"service {services[0]!r}"
    if len(services) <= 3:
        return "services " + ", ".join(repr(s) for s in services)
    return f"{len(services)} services"


def _compute(
    backend: MetricsBackend,
    settings: CostSettings,
    window: Window,
    start: datetime,
    end: datetime,
    services: list[str],
) -> dict[str, ServiceUsage]:
    """CPU and memory per service: from OpenCost where it has figures, else the price table."""
    usages: dict[str, ServiceUsage] = {}
    if settings.source != "prices":
        try:
            hourly = backend.opencost_hourly(window, services)
        except NoDataError as exc:
            if settings.source == "opencost":
                raise NoDataError(
                    f"{exc}; set cost.source to auto or prices to use the price table"
                ) from None
        else:
            money = integrate(hourly, window.step, start, end) / _HOUR_SECONDS
            covered = coverage(hourly, window.step, start, end)
            for service in services:
                if covered.get(service, 0.0) > 0:
                    usages[service] = ServiceUsage(
                        service=service, compute="opencost", opencost=float(money[service]),
                        covered=float(covered[service]),
                    )
    rest = [s for s in services if s not in usages]
    if settings.source == "opencost":
        return {**usages, **{s: ServiceUsage(service=s, compute="none") for s in rest}}
    if rest:
        cpu = _held(backend, window, start, end, rest, Resource.CPU_LIMIT_CORES,
                    Resource.CPU_CORES)
        memory = _held(backend, window, start, end, rest, Resource.MEMORY_LIMIT_BYTES,
                       Resource.MEMORY_BYTES)
        for service in rest:
            cpu_basis, core_seconds, cpu_covered = cpu.get(service, (None, 0.0, 0.0))
            memory_basis, byte_seconds, memory_covered = memory.get(service, (None, 0.0, 0.0))
            if cpu_basis is None and memory_basis is None:
                usages[service] = ServiceUsage(service=service, compute="none")
                continue
            usages[service] = ServiceUsage(
                service=service,
                compute="prices",
                core_hours=core_seconds / _HOUR_SECONDS,
                cpu_basis=cpu_basis,
                gib_hours=byte_seconds / GIB / _HOUR_SECONDS,
                memory_basis=memory_basis,
                covered=cpu_covered if cpu_basis is not None else memory_covered,
            )
    return usages


def _held(
    backend: MetricsBackend,
    window: Window,
    start: datetime,
    end: datetime,
    services: list[str],
    limit: Resource,
    usage: Resource,
) -> dict[str, tuple[Basis, float, float]]:
    """Per service: whether limits or usage were found, their integral and coverage."""
    found: dict[str, tuple[Basis, float, float]] = {}
    bases: tuple[tuple[Basis, Resource], ...] = (("limits", limit), ("usage", usage))
    for basis, resource in bases:
        todo = [s for s in services if s not in found]
        if not todo:
            break
        frame = _resource(backend, window, resource, todo)
        if frame is None:
            continue
        amounts = integrate(frame, window.step, start, end)
        covered = coverage(frame, window.step, start, end)
        for service in todo:
            if covered.get(service, 0.0) > 0:
                found[service] = (basis, float(amounts[service]), float(covered[service]))
    return found


def _resource(
    backend: MetricsBackend, window: Window, resource: Resource, services: list[str]
) -> pd.DataFrame | None:
    try:
        return backend.resource(window, resource, services)
    except NoDataError:
        return None


def _endpoint_amounts(
    query: _EndpointQuery,
    window: Window,
    groups: list[list[Endpoint]],
    start: datetime,
    end: datetime,
) -> dict[str, float]:
    """A per-second rate (requests, busy seconds) integrated per endpoint key; 0 without data.

    One query per group of endpoints, all of one service (so their keys are unique).
    """
    amounts: dict[str, float] = {}
    for members in groups:
        try:
            frame = query(window, members)
        except NoDataError:
            amounts.update(dict.fromkeys((e.key for e in members), 0.0))
            continue
        totals = integrate(frame, window.step, start, end)
        amounts.update({e.key: float(totals.get(e.column, 0.0)) for e in members})
    return amounts


