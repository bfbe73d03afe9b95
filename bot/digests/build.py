"""A digest's content: figures of a day or a week against the one before, read from the
backend once per series for all endpoints, priced, compared, tied to their causes.

Each section is read on its own: one that fails leaves a note, the others stay. Its parts:
``reading`` (the sources and both periods' figures), ``movements``, ``slos`` and
``incident_summary``; the headline, the cost, the recommendations and the chart are here.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from bot.catalog.catalog import Catalog
from bot.catalog.model import EndpointInfo
from bot.cost import endpoint_costs, service_costs
from bot.digests.incident_summary import incident_summary
from bot.digests.model import (
    CostLine,
    CostSection,
    Digest,
    DigestChart,
    DigestKind,
    Forecast,
    Headline,
    Movement,
    Period,
    Recommendation,
    Scope,
)
from bot.digests.movements import find_movements
from bot.digests.reading import TOP, DigestSources, Frames, Notes, read_frames, unread
from bot.digests.slos import slo_lines
from bot.metrics.base import MetricsError

__all__ = ["DigestSources", "build_digest", "period_of", "scoped_entries"]


def period_of(kind: DigestKind, end: datetime) -> Period:
    length = timedelta(days=1) if kind == "daily" else timedelta(days=7)
    return Period(kind=kind, start=end - length, end=end)


def scoped_entries(catalog: Catalog, scope: Scope) -> list[EndpointInfo]:
    entries = list(catalog.entries)
    if scope.service:
        entries = [e for e in entries if e.endpoint.service == scope.service]
    if scope.team:
        entries = [e for e in entries if e.owner == scope.team]
    return entries


def build_digest(
    sources: DigestSources,
    kind: DigestKind,
    end: datetime,
    scope: Scope = Scope(),  # noqa: B008 - frozen model, never mutated
    audience: Literal["team", "manager"] | None = None,
) -> Digest:
    period = period_of(kind, end)
    audience = audience or ("manager" if kind == "weekly" else "team")
    entries = scoped_entries(sources.catalog, scope)
    notes = Notes()
    services = sorted({e.endpoint.service for e in entries})
    if not entries:
        notes.append(f"no endpoint in the catalog for {scope.label}")
        return Digest(period=period, scope=scope, audience=audience, notes=tuple(notes),
                      incidents=incident_summary(sources, period, scope, services, notes))
    frames = read_frames(sources.backend, entries, period, notes)
    headline = list(_headline(frames, period)) if frames else []
    if frames:
        notes.append("p95 headline: the p95 of all the requests in scope over the period "
                      "(the endpoints' histograms merged); its sparkline per "
                      f"{_minutes(frames.step)}-minute step; change points are dated to the "
                      "5-minute step")
    regressions: list[Movement] = []
    improvements: list[Movement] = []
    if frames:
        regressions, improvements = find_movements(sources, frames, entries, period)
    cost = _cost(sources, entries, services, period, notes)
    if cost is not None and frames:
        requests = next(h for h in headline if h.name == "requests")
        headline.append(Headline(name="cost", unit="money", value=cost.total,
                                 previous=cost.previous_total, better="lower"))
        headline.append(Headline(
            name="cost per 1k requests", unit="money",
            value=_per_1k(cost.total, requests.value),
            previous=_per_1k(cost.previous_total, requests.previous), better="lower"))
    slos = slo_lines(sources, entries, period, notes)
    forecasts: list[Forecast] = []
    if sources.forecasts is not None:
        try:
            forecasts = sources.forecasts(services, period.end)
        except MetricsError as error:
            unread(notes, "no capacity forecast", error)
    incidents = incident_summary(sources, period, scope, services, notes)
    recommendations = _recommend(regressions, cost)
    chart = _chart(frames, regressions, entries) if frames and audience == "manager" else None
    return Digest(
        period=period, scope=scope, audience=audience, headline=tuple(headline), slos=tuple(slos),
        regressions=tuple(regressions), improvements=tuple(improvements), cost=cost,
        forecasts=tuple(forecasts), incidents=incidents,
        recommendations=tuple(recommendations), chart=chart, notes=tuple(notes),
        complete=not notes.unread, built_at=end,
    )


def _minutes(step: timedelta) -> int:
    return int(step / timedelta(minutes=1))


def _headline(frames: Frames, period: Period) -> list[Headline]:
    step_s = frames.step.total_seconds()
    cols = [c for c in frames.rps.columns]
    rps = frames.rps[cols].fillna(0.0)
    # Per step: requests, errors and the p95 of all the requests in scope.
    requests = rps.sum(axis=1) * step_s
    bad = (rps * frames.errors.reindex(columns=cols).fillna(0.0)).sum(axis=1) * step_s
    pooled = (frames.pooled if frames.pooled is not None
              else pd.Series(np.nan, index=requests.index)).reindex(requests.index)
    before, after = (requests.index <= frames.split), (requests.index > frames.split)

    def ratio(mask: np.ndarray) -> float | None:
        total = float(requests[mask].sum())
        return float(bad[mask].sum()) / total if total else None

    def avail(value: float | None) -> float | None:
        return None if value is None else 1 - value

    spark_err = (bad / requests.replace(0, np.nan))[after]
    return [
        Headline(name="requests", unit="count", value=float(requests[after].sum()),
                 previous=float(requests[before].sum()), spark=_spark(requests[after]),
                 better="none"),
        Headline(name="p95", unit="seconds", value=frames.pooled_now,
                 previous=frames.pooled_before, spark=_spark(pooled[after]), better="lower"),
        Headline(name="error ratio", unit="ratio", value=ratio(after), previous=ratio(before),
                 spark=_spark(spark_err), better="lower"),
        Headline(name="availability", unit="ratio", value=avail(ratio(after)),
                 previous=avail(ratio(before)), spark=_spark(1 - spark_err), better="higher"),
    ]


def _spark(series: pd.Series, points: int = 24) -> tuple[float, ...]:
    values = series.dropna().to_numpy(dtype=float)
    if values.size == 0:
        return ()
    chunks = np.array_split(values, min(points, values.size))
    return tuple(float(c.mean()) for c in chunks)


def _per_1k(cost: float | None, requests: float | None) -> float | None:
    if cost is None or not requests:
        return None
    return cost / requests * 1000


def _cost(sources: DigestSources, entries: Sequence[EndpointInfo], services: list[str],
          period: Period, notes: Notes) -> CostSection | None:
    try:
        now = service_costs(sources.backend, sources.cost, period.start, period.end, services)
        before = service_costs(sources.backend, sources.cost, period.previous_start,
                               period.start, services)
        endpoints = [e.endpoint for e in entries]
        ep_now = endpoint_costs(sources.backend, sources.cost, period.start, period.end,
                                endpoints)
        ep_before = endpoint_costs(sources.backend, sources.cost, period.previous_start,
                                   period.start, endpoints)
    except MetricsError as error:
        unread(notes, "no cost", error)
        return None
    if not now:
        return None
    prev_by = {f.subject: f for f in before}
    lines = sorted((CostLine(subject=f.subject, cost=f.total,
                             previous=prev_by[f.subject].total if f.subject in prev_by else None,
                             per_1k=f.per_1k_requests,
                             per_1k_previous=(prev_by[f.subject].per_1k_requests
                                              if f.subject in prev_by else None))
                    for f in now), key=lambda line: -line.cost)
    labels = {e.endpoint: e.label for e in entries}
    ep_prev = {f.endpoint: f for f in ep_before}
    ep_lines = [CostLine(subject=labels.get(f.endpoint, f.subject) if f.endpoint else f.subject,
                         cost=f.total,
                         previous=ep_prev[f.endpoint].total if f.endpoint in ep_prev else None,
                         per_1k=f.per_1k_requests,
                         per_1k_previous=(ep_prev[f.endpoint].per_1k_requests
                                          if f.endpoint in ep_prev else None))
                for f in ep_now]
    grew = [line for line in ep_lines if line.per_1k and line.per_1k_previous
            and line.per_1k > line.per_1k_previous * 1.10]
    grew.sort(key=lambda line: -((line.per_1k or 0) / (line.per_1k_previous or 1)))
    total = sum(f.total for f in now)
    days = period.length / timedelta(days=1)
    local = period.end.astimezone(sources.tz)
    month_days = calendar.monthrange(local.year, local.month)[1]
    return CostSection(
        currency=now[0].currency, total=total,
        previous_total=sum(f.total for f in before) if before else None,
        month_projection=total / days * month_days,
        services=tuple(lines[:TOP]),
        endpoints=tuple(sorted(ep_lines, key=lambda line: -line.cost)[:TOP]),
        per_request_growth=tuple(grew[:TOP]),
    )


def _recommend(regressions: Sequence[Movement], cost: CostSection | None
               ) -> list[Recommendation]:
    found: list[Recommendation] = []
    for m in regressions:
        since = f" since {m.since:%a %H:%M}" if m.since else ""
        found.append(Recommendation(
            subject=m.endpoint,
            evidence=f"p95 up {m.relative or 0:.0%}{since}" + (f" ({m.cause})" if m.cause
                                                                 else ""),
            gain=f"about {(m.new - m.old) * 1000:.0f} ms off p95",
            playbook=m.playbook, score=(m.new - m.old) * 1000))
    if cost is not None:
        for line in cost.per_request_growth:
            extra = (line.per_1k or 0) - (line.per_1k_previous or 0)
            found.append(Recommendation(
                subject=line.subject,
                evidence=f"cost per 1k requests up from {line.per_1k_previous:.4f} to "
                         f"{line.per_1k:.4f} {cost.currency}",
                gain=f"about {line.cost - line.cost / (1 + extra / (line.per_1k or 1)):.2f} "
                     f"{cost.currency} a period",
                score=extra))
    return sorted(found, key=lambda r: -r.score)[:TOP]


def _chart(frames: Frames, regressions: Sequence[Movement],
           entries: Sequence[EndpointInfo]) -> DigestChart | None:
    by_label = {e.label: e for e in entries}
    target = by_label.get(regressions[0].endpoint) if regressions else None
    if target is None or target.column not in frames.p95.columns:
        return None
    series = frames.p95[target.column]
    series = series[series.index > frames.split].dropna()
    return DigestChart(title=f"p95 of {target.label}", unit="seconds",
                       times=tuple(t.to_pydatetime() for t in series.index),
                       lines={target.label: tuple(float(v) for v in series)})
