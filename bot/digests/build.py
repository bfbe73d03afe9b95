"""A digest's content: figures of a day or a week against the one before, read from the
backend once per series for all endpoints, priced, compared, tied to their causes.

Each section is read on its own: one that fails leaves a note, the others stay.
"""

from __future__ import annotations

import calendar
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Literal

import numpy as np
import pandas as pd

from bot.analytics.budget import Budget, error_budget, latency_budget
from bot.analytics.compare import compare_samples
from bot.analytics.prices import CostSettings
from bot.catalog.catalog import Catalog
from bot.catalog.model import EndpointInfo
from bot.cost import endpoint_costs, service_costs
from bot.digests.model import (
    BudgetBand,
    CostLine,
    CostSection,
    Digest,
    DigestChart,
    DigestKind,
    Duration,
    Forecast,
    Headline,
    IncidentSummary,
    Movement,
    OnCallLoad,
    OpenIncident,
    Period,
    Recommendation,
    Recurring,
    Scope,
    SloLine,
)
from bot.figures import whole_window
from bot.incidents.lifecycle import Incident
from bot.incidents.ports import IncidentRecords
from bot.metrics.base import (
    Endpoint,
    MetricsBackend,
    MetricsError,
    NoBucketError,
    Signal,
    Window,
)
from bot.metrics.deploys import Deploy
from bot.playbooks.matching import Situation, match_playbooks
from bot.playbooks.schema import Playbook

# A movement is reported when the Mann–Whitney test calls it real (p < 0.05, effect more
# than negligible) AND its median moved by at least this share and this many seconds: a
# real +3% or +2 ms is not worth a manager's minute.
MIN_RELATIVE = 0.20
MIN_SECONDS = 0.010
TOP = 5
# A deploy this long before a change point (or shortly after: clocks and scrape steps) is
# its likely cause; an incident opened within the same span is named too.
DEPLOY_BEFORE = timedelta(hours=3)
DEPLOY_AFTER = timedelta(minutes=30)

log = logging.getLogger(__name__)


class _Notes(list[str]):
    """The digest's notes, and whether a section could not be read at all (then the digest
    is not "quiet": nothing to act on is not something it can say)."""

    unread = False


def _unread(notes: _Notes, what: str, error: MetricsError) -> None:
    """A note for the digest in the public words (no server URL or body: digests are posted
    in channels); the details in the log."""
    log.warning("digest: %s: %s", what, error)
    notes.append(f"{what}: {error.public}")
    notes.unread = True


@dataclass(frozen=True)
class DigestSources:
    backend: MetricsBackend
    catalog: Catalog
    tz: tzinfo
    cost: CostSettings
    incidents: IncidentRecords | None = None
    deploys: list[Deploy] = field(default_factory=list)
    playbooks: list[Playbook] = field(default_factory=list)
    slo_window: timedelta = timedelta(days=28)
    forecasts: Callable[[list[str], datetime], list[Forecast]] | None = None


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
    notes = _Notes()
    services = sorted({e.endpoint.service for e in entries})
    if not entries:
        notes.append(f"no endpoint in the catalog for {scope.label}")
        return Digest(period=period, scope=scope, audience=audience, notes=tuple(notes),
                      incidents=_incidents(sources, period, scope, services, notes))
    frames = _read(sources.backend, entries, period, notes)
    headline = list(_headline(frames, period)) if frames else []
    if frames:
        notes.append("p95 headline: the p95 of all the requests in scope over the period "
                      "(the endpoints' histograms merged); its sparkline per "
                      f"{_minutes(frames.step)}-minute step; change points are dated to the "
                      "5-minute step")
    regressions: list[Movement] = []
    improvements: list[Movement] = []
    if frames:
        regressions, improvements = _movements(sources, frames, entries, period)
    cost = _cost(sources, entries, services, period, notes)
    if cost is not None and frames:
        requests = next(h for h in headline if h.name == "requests")
        headline.append(Headline(name="cost", unit="money", value=cost.total,
                                 previous=cost.previous_total, better="lower"))
        headline.append(Headline(
            name="cost per 1k requests", unit="money",
            value=_per_1k(cost.total, requests.value),
            previous=_per_1k(cost.previous_total, requests.previous), better="lower"))
    slos = _slos(sources, entries, period, notes)
    forecasts: list[Forecast] = []
    if sources.forecasts is not None:
        try:
            forecasts = sources.forecasts(services, period.end)
        except MetricsError as error:
            _unread(notes, "no capacity forecast", error)
    incidents = _incidents(sources, period, scope, services, notes)
    recommendations = _recommend(regressions, cost)
    chart = _chart(frames, regressions, entries) if frames and audience == "manager" else None
    return Digest(
        period=period, scope=scope, audience=audience, headline=tuple(headline), slos=tuple(slos),
        regressions=tuple(regressions), improvements=tuple(improvements), cost=cost,
        forecasts=tuple(forecasts), incidents=incidents,
        recommendations=tuple(recommendations), chart=chart, notes=tuple(notes),
        complete=not notes.unread, built_at=end,
    )


@dataclass(frozen=True)
class _Frames:
    """Both periods at one step: one query per signal for all endpoints."""

    p95: pd.DataFrame
    rps: pd.DataFrame
    errors: pd.DataFrame
    cpu: pd.DataFrame | None
    step: timedelta
    split: datetime  # the period's start: rows after it are the period
    # The p95 of all the requests in scope (buckets merged), per step and per period.
    pooled: pd.Series | None = None
    pooled_now: float | None = None
    pooled_before: float | None = None


def _read(backend: MetricsBackend, entries: Sequence[EndpointInfo], period: Period,
          notes: _Notes) -> _Frames | None:
    step = timedelta(minutes=5) if period.kind == "daily" else timedelta(minutes=30)
    window = Window(start=period.previous_start, end=period.end, step=step)
    endpoints = [e.endpoint for e in entries]
    try:
        p95 = backend.latency(window, 0.95, endpoints)
        rps = backend.throughput(window, endpoints)
        errors = backend.error_ratio(window, endpoints)
    except MetricsError as error:
        _unread(notes, "no latency, traffic or error figures", error)
        return None
    cpu: pd.DataFrame | None
    try:
        cpu = backend.cpu(window, sorted({e.service for e in endpoints}))
    except MetricsError:
        cpu = None
    scope = {"scope": endpoints}
    pooled: pd.Series | None = None
    try:
        pooled = backend.pooled_latency(window, 0.95, scope)["scope"]
    except MetricsError as error:
        notes.append(f"no p95 over all requests: {error}")
    return _Frames(p95=p95, rps=rps, errors=errors, cpu=cpu, step=step, split=period.start,
                   pooled=pooled,
                   pooled_now=_pooled_p95(backend, period.start, period.end, scope),
                   pooled_before=_pooled_p95(backend, period.previous_start, period.start, scope))


def _pooled_p95(backend: MetricsBackend, start: datetime, end: datetime,
                scope: dict[str, list[Endpoint]]) -> float | None:
    """The p95 of all the requests of ``scope`` in ``(start, end]``; None without data."""
    try:
        value = float(backend.pooled_latency(whole_window(start, end), 0.95, scope)
                      ["scope"].iloc[-1])
    except MetricsError:
        return None
    return value if np.isfinite(value) else None


def _minutes(step: timedelta) -> int:
    return int(step / timedelta(minutes=1))


def _halves(frame: pd.DataFrame, split: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame[frame.index <= split], frame[frame.index > split]


def _headline(frames: _Frames, period: Period) -> list[Headline]:
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


def change_point(values: np.ndarray) -> int | None:
    """The index where the mean shifts the most (one split, binary segmentation's first
    step); None when the series is too short."""
    x = values[np.isfinite(values)] if values.size else values
    n = values.size
    if n < 8 or x.size < 8:
        return None
    filled = np.where(np.isfinite(values), values, np.nanmedian(values))
    cum = np.cumsum(filled)
    total = cum[-1]
    best, where = 0.0, None
    for k in range(4, n - 4):
        left = cum[k - 1] / k
        right = (total - cum[k - 1]) / (n - k)
        score = abs(right - left) * np.sqrt(k * (n - k) / n)
        if score > best:
            best, where = score, k
    return where


def _movements(sources: DigestSources, frames: _Frames, entries: Sequence[EndpointInfo],
               period: Period) -> tuple[list[Movement], list[Movement]]:
    found: list[Movement] = []
    for entry in entries:
        col = entry.column
        if col not in frames.p95.columns:
            continue
        series = frames.p95[col]
        old_part, new_part = _halves(series.to_frame(), frames.split)
        old_v = old_part[col].to_numpy(dtype=float)
        new_v = new_part[col].to_numpy(dtype=float)
        diff = compare_samples(old_v, new_v)
        if diff is None or not diff.real:
            continue
        k = change_point(series.to_numpy(dtype=float))
        since = None if k is None else series.index[k].to_pydatetime()
        old = float(np.nanmedian(old_v))
        # A change inside the period is sized by the level since it (a step three days
        # before the end is diluted in the week's median), else by the period's median.
        tail = (series[series.index >= since].to_numpy(dtype=float)
                if since is not None and since > period.start else new_v)
        new = float(np.nanmedian(tail))
        if old <= 0 or abs(new / old - 1) < MIN_RELATIVE or abs(new - old) < MIN_SECONDS:
            continue
        if (new > old) != (diff.effect > 0):
            continue  # the test and the level disagree: not a clear movement
        since, cause, after_deploy = _cause(sources, frames, entry, since, frames.step)
        playbook = _playbook(sources, frames, entry, old, new, since, after_deploy)
        found.append(Movement(
            endpoint=entry.label, service=entry.endpoint.service, measure="p95",
            unit="seconds", old=old, new=new, p_value=diff.p_value, effect=diff.effect,
            since=since, cause=cause, playbook=playbook))
    regressions = sorted((m for m in found if m.new > m.old), key=lambda m: -(m.relative or 0))
    improvements = sorted((m for m in found if m.new < m.old), key=lambda m: m.relative or 0)
    return regressions[:TOP], improvements[:TOP]


def _cause(sources: DigestSources, frames: _Frames, entry: EndpointInfo,
           coarse: datetime | None, step: timedelta) -> tuple[datetime | None, str, bool]:
    if coarse is None:
        return None, "", False
    since = _refine(sources.backend, entry, coarse, step)
    service = entry.endpoint.service
    causes: list[str] = []
    deploys = [d for d in sources.deploys if d.service == service
               and since - DEPLOY_BEFORE <= d.time <= since + DEPLOY_AFTER]
    if deploys:
        d = deploys[-1]
        local = d.time.astimezone(sources.tz).strftime("%a %H:%M")
        causes.append(f"{service} {d.version} deployed {local}" + (f" ({d.note})" if d.note
                                                                   else ""))
    if sources.incidents is not None:
        try:
            opened = [i for i in sources.incidents.touching(since - DEPLOY_BEFORE,
                                                             since + DEPLOY_BEFORE)
                      if i.alert.service == service
                      and abs(i.opened_at - since) <= DEPLOY_BEFORE]
        except Exception:  # the store is optional evidence here
            opened = []
        if opened:
            causes.append(f"INC-{opened[0].id} opened then")
    rps = frames.rps.get(entry.column)
    if rps is not None:
        before = rps[(rps.index < since) & (rps.index >= since - timedelta(hours=6))].mean()
        after = rps[(rps.index >= since) & (rps.index < since + timedelta(hours=6))].mean()
        if before and np.isfinite(before) and np.isfinite(after) and (
                after / before > 1.5 or after / before < 1 / 1.5):
            causes.append(f"traffic {after / before - 1:+.0%} then")
    return since, "; ".join(causes), bool(deploys)


def _refine(backend: MetricsBackend, entry: EndpointInfo, coarse: datetime,
            step: timedelta) -> datetime:
    """The change point again at 5-minute steps around the coarse one (its step and the
    one before): one small read per movement, so the deploy and incident it is tied to are
    looked for at the right time."""
    fine = timedelta(minutes=5)
    if step <= fine:
        return coarse
    try:
        frame = backend.latency(Window(start=coarse - 2 * step, end=coarse + step, step=fine),
                                0.95, [entry.endpoint])
    except MetricsError:
        return coarse
    if entry.column not in frame.columns:
        return coarse
    values = frame[entry.column]
    k = change_point(values.to_numpy(dtype=float))
    return coarse if k is None else values.index[k].to_pydatetime()


def _playbook(sources: DigestSources, frames: _Frames, entry: EndpointInfo, old: float,
              new: float, since: datetime | None, after_deploy: bool) -> str | None:
    if not sources.playbooks:
        return None
    service = entry.endpoint.service
    rps = frames.rps.get(entry.column)
    old_rps, new_rps = (_halves(rps.to_frame(), frames.split) if rps is not None
                        else (None, None))
    evidence: dict[str, float | bool | str] = {"latency_ratio": new / old, "change": "step",
                                               "after_deploy": after_deploy}
    if old_rps is not None and new_rps is not None:
        before = float(old_rps.iloc[:, 0].mean())
        if before > 0:
            evidence["throughput_ratio"] = float(new_rps.iloc[:, 0].mean()) / before
    if frames.cpu is not None and service in frames.cpu.columns:
        evidence["cpu"] = float(frames.cpu[service][frames.cpu.index > frames.split].max())
    try:
        situation = Situation(signal=Signal.LATENCY, service=service, endpoint=entry.endpoint,
                              evidence=evidence, at=since)
    except ValueError:
        return None
    matches = match_playbooks(sources.playbooks, situation)
    return matches[0].playbook.title if matches else None


def _cost(sources: DigestSources, entries: Sequence[EndpointInfo], services: list[str],
          period: Period, notes: _Notes) -> CostSection | None:
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
        _unread(notes, "no cost", error)
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


def _incidents(sources: DigestSources, period: Period, scope: Scope, services: list[str],
               notes: list[str]) -> IncidentSummary:
    if sources.incidents is None:
        return IncidentSummary(total=0)
    try:
        listed = sources.incidents.touching(period.start, period.end)
    except Exception as error:  # the digest says what could not be read
        notes.append(f"no incidents: {type(error).__name__}")
        return IncidentSummary(total=0)
    # Everyone's digest counts every incident, also of services the catalog lost.
    everyone = not (scope.team or scope.service)
    wanted = set(services)
    touching = [i for i in listed if everyone or i.alert.service in wanted]
    return summarise_incidents(touching, period, sources.incidents, sources.tz)


def summarise_incidents(incidents: Sequence[Incident], period: Period,
                        store: IncidentRecords | None, tz: tzinfo) -> IncidentSummary:
    opened = [i for i in incidents if period.start < i.opened_at <= period.end]
    acks = [(i.acknowledged_at - i.opened_at, f"INC-{i.id}") for i in opened
            if i.acknowledged_at is not None]
    resolves = [(i.resolved_at - i.opened_at, f"INC-{i.id}") for i in opened
                if i.resolved_at is not None and i.resolved_at <= period.end]
    titles = Counter((i.alert.title, i.alert.service) for i in opened)
    still_open = [OpenIncident(name=f"INC-{i.id}", title=i.alert.title, state=str(i.state),
                               since=i.opened_at)
                  for i in incidents if i.resolved_at is None or i.resolved_at > period.end]
    pages: dict[str, list[datetime]] = defaultdict(list)
    if store is not None:
        for incident in incidents:
            for entry in store.timeline(incident.id):
                if entry.kind == "paged" and entry.user and period.start < entry.at <= period.end:
                    pages[entry.user].append(entry.at)
    load = sorted((OnCallLoad(user=user, pages=len(at),
                              off_hours=sum(1 for t in at if _off_hours(t, tz)))
                   for user, at in pages.items()), key=lambda line: -line.pages)
    return IncidentSummary(
        total=len(opened),
        by_severity=dict(Counter(str(i.alert.severity) for i in opened)),
        by_service=dict(Counter(i.alert.service for i in opened)),
        to_acknowledge=_duration(acks), to_resolve=_duration(resolves),
        recurring=tuple(Recurring(title=t, service=s, count=n)
                        for (t, s), n in titles.most_common() if n > 1),
        still_open=tuple(still_open), load=tuple(load))


def _off_hours(moment: datetime, tz: tzinfo) -> bool:
    local = moment.astimezone(tz)
    return local.weekday() >= 5 or not 9 <= local.hour < 18


def _duration(items: list[tuple[timedelta, str]]) -> Duration | None:
    if not items:
        return None
    worst = max(items, key=lambda item: item[0])
    spans = sorted(d for d, _ in items)
    middle = len(spans) // 2
    median = spans[middle] if len(spans) % 2 else (spans[middle - 1] + spans[middle]) / 2
    return Duration(median=median, worst=worst[0],
                    worst_incident=worst[1])


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


def _chart(frames: _Frames, regressions: Sequence[Movement],
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


def budget_band(remaining: float | None) -> BudgetBand | None:
    if remaining is None:
        return None
    if remaining <= 0:
        return "exhausted"
    if remaining < 0.25:
        return "< 25%"
    if remaining < 0.5:
        return "25–50%"
    return "50–75%" if remaining < 0.75 else "> 75%"


def _slos(sources: DigestSources, entries: Sequence[EndpointInfo], period: Period,
          notes: _Notes) -> list[SloLine]:
    """Each endpoint's objectives over the SLO window (budget, band) and the digest's period
    (burn rate). Hourly steps: one query per signal for all endpoints, one per distinct
    latency threshold."""
    with_slo = [e for e in entries if e.slo.error_ratio is not None or e.slo.latency]
    if not with_slo:
        return []
    step = timedelta(hours=1)
    window = Window(start=period.end - sources.slo_window, end=period.end, step=step)
    endpoints = [e.endpoint for e in with_slo]
    try:
        rps = sources.backend.throughput(window, endpoints)
        errors = sources.backend.error_ratio(window, endpoints)
    except MetricsError as error:
        _unread(notes, "no SLOs", error)
        return []
    within: dict[float, pd.DataFrame] = {}
    for threshold in sorted({e.slo.latency.threshold.total_seconds() for e in with_slo
                             if e.slo.latency}):
        group = [e.endpoint for e in with_slo
                 if e.slo.latency and e.slo.latency.threshold.total_seconds() == threshold]
        try:
            within[threshold] = sources.backend.latency_within(window, threshold, group)
        except NoBucketError:
            notes.append(f"latency SLOs at {threshold:g} s: no histogram bucket there, "
                         "no budget counted")
        except MetricsError as error:
            _unread(notes, f"latency SLOs at {threshold:g} s", error)
    covered = rps.index.min() if len(rps.index) else None
    if covered is not None and covered > window.start + step:
        notes.append(f"SLO window: data only since {covered:%d %b %H:%M} UTC, budgets count "
                     "that span")
    in_period = rps.index > period.start
    lines: list[SloLine] = []
    for entry in with_slo:
        col = entry.column
        if col not in rps.columns:
            continue
        requests_per_step = rps[col].fillna(0.0) * step.total_seconds()
        budgets: list[tuple[Budget, Budget]] = []  # (window, period)
        if entry.slo.error_ratio is not None and col in errors.columns:
            err = errors[col].fillna(0.0)
            budgets.append(tuple(  # type: ignore[arg-type]
                error_budget(entry.slo.error_ratio, float(requests_per_step[m].sum()),
                             _weighted(err[m], requests_per_step[m]))
                for m in (slice(None), in_period)))
        lat = entry.slo.latency
        if lat is not None and lat.threshold.total_seconds() in within:
            share = within[lat.threshold.total_seconds()]
            if col in share.columns:
                ok = share[col]
                text = f"{lat.threshold.total_seconds() * 1000:g} ms"
                budgets.append(tuple(  # type: ignore[arg-type]
                    latency_budget(lat.quantile, text, float(requests_per_step[m].sum()),
                                   _weighted(ok[m], requests_per_step[m]))
                    for m in (slice(None), in_period)))
        if not budgets:
            continue
        # The tightest objective speaks for the endpoint.
        whole, recent = min(budgets, key=lambda b: (b[0].remaining if b[0].remaining
                                                   is not None else 1.0))
        remaining = whole.remaining
        exhausts = None
        hours = period.length / timedelta(hours=1)
        covered_hours = len(requests_per_step) * step / timedelta(hours=1)
        if remaining is not None and remaining > 0 and hours > 0 and covered_hours > 0:
            # A rolling window: at a steady burn rate b the window's spent share tends to b,
            # so only b > 1 exhausts it; bad requests come in at the period's rate and leave
            # at the window's average rate, and the budget lasts while more come than leave.
            net = recent.bad / hours - whole.bad / covered_hours
            if (recent.burn_rate or 0) > 1 and net > 0:
                at = period.end + timedelta(hours=(whole.allowed - whole.bad) / net)
                if at < period.end + sources.slo_window:
                    exhausts = at
        lines.append(SloLine(
            endpoint=entry.label, service=entry.endpoint.service, objective=whole.objective,
            attainment=1 - whole.bad_ratio if whole.requests else 1.0,
            target=1 - whole.allowed_ratio, budget_remaining=remaining,
            band=budget_band(remaining), burn_rate=recent.burn_rate, exhausts_at=exhausts))
    lines.sort(key=lambda line: line.budget_remaining if line.budget_remaining is not None
               else 2.0)
    return lines


def _weighted(values: pd.Series, weights: pd.Series) -> float:
    """The request-weighted mean of a per-step share."""
    total = float(weights.sum())
    if total <= 0:
        return float("nan")
    return float((values.fillna(0.0) * weights).sum()) / total
