"""The digest's SLO lines: each endpoint's budget over the SLO window, its burn rate over
the period, and when a steady burn would exhaust it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pandas as pd

from bot.analytics.budget import Budget, error_budget, latency_budget
from bot.catalog.model import EndpointInfo
from bot.digests.model import BudgetBand, Period, SloLine
from bot.digests.reading import DigestSources, Notes, unread
from bot.metrics.base import MetricsError, NoBucketError, Window


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


def slo_lines(sources: DigestSources, entries: Sequence[EndpointInfo], period: Period,
          notes: Notes) -> list[SloLine]:
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
        unread(notes, "no SLOs", error)
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
            unread(notes, f"latency SLOs at {threshold:g} s", error)
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
