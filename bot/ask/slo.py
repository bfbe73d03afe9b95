"""Answers to "is checkout meeting its SLO?", "error budget left for payments", "burn rate".

Standard SRE definitions (the Google SRE workbook, "Implementing SLOs"), over the window:

* an objective allows a share of bad requests: the error-ratio target for 5xx (1% allowed
  for a 99% objective); ``1 − q`` for a latency objective "pq ≤ threshold" (a p95 ≤ 500 ms
  objective allows 5% of requests over 500 ms);
* error budget = allowed share × requests in the window; spent = bad requests / budget;
  remaining = 1 − spent (negative when overspent);
* burn rate = bad share / allowed share: 1 spends exactly the budget over the window.

The latency objective is counted from the histogram as the share of requests over the
threshold when a bucket bound sits exactly at the threshold; otherwise the window's quantile
is compared with the threshold, which says met or missed but gives no budget. The notes say
which was done.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from bot.analytics.budget import Budget, error_budget
from bot.analytics.budget import latency_budget as _latency_budget
from bot.ask.context import Context, all_endpoints, subjects_of
from bot.ask.query import Measure
from bot.ask.series import HEADLINE_SPARK, bars_chart, line_chart, spark
from bot.ask.words import Formatter, sentence
from bot.catalog import EndpointInfo
from bot.figures import last_values, series_window, whole_window
from bot.metrics import batch
from bot.metrics.base import NoBucketError, NoDataError
from bot.render.message import Answer, AnswerKind, Table
from bot.render.text import format_count, format_ratio, format_seconds


def latency_budget(quantile: float, threshold: float, requests: float, within: float) -> Budget:
    """The latency objective from the share of requests ``within`` the threshold (seconds)."""
    return _latency_budget(quantile, format_seconds(threshold), requests, within)


def budget_words(budget: Budget) -> str:
    """``62% of the error budget left (burn rate 0.38)`` / ``budget overspent 3.1x``."""
    remaining, burn = budget.remaining, budget.burn_rate
    if remaining is None or burn is None:
        return "no budget (no requests)"
    if remaining >= 0:
        return f"{_pct(remaining)} of the budget left (burn rate {burn:.2f})"
    return f"budget overspent: {burn:.1f}x the allowed (burn rate {burn:.2f})"


@dataclass(frozen=True)
class LatencyCheck:
    """A latency objective checked by its quantile only (no bucket at the threshold)."""

    objective: str
    quantile_name: str
    value: float
    threshold: float

    @property
    def met(self) -> bool:
        return self.value <= self.threshold


@dataclass(frozen=True)
class Verdict:
    """Every objective of one endpoint over the window."""

    entry: EndpointInfo
    requests: float
    errors: Budget | None
    latency: Budget | None
    latency_check: LatencyCheck | None

    @property
    def objectives(self) -> int:
        return sum(x is not None for x in (self.errors, self.latency, self.latency_check))

    @property
    def met(self) -> bool:
        parts = [x.met for x in (self.errors, self.latency, self.latency_check) if x is not None]
        return all(parts)


def slo_answer(ctx: Context) -> Answer:
    query = ctx.query
    subjects = subjects_of(query, ctx.sources.catalog)
    entries = all_endpoints(subjects)
    if not entries:
        raise NoDataError("the catalog has no endpoints: no traffic was recorded recently")
    want_errors = query.measure in (None, Measure.ERROR_RATIO, Measure.ERROR_COUNT)
    want_latency = query.measure in (None, Measure.LATENCY)
    with_slo = [e for e in entries if (want_errors and e.slo.error_ratio is not None)
                or (want_latency and e.slo.latency is not None)]
    if not with_slo:
        what = entries[0].label if len(entries) == 1 else f"these {len(entries)} endpoints"
        return Answer(
            kind=AnswerKind.ANSWER,
            headline=f"No {_which(query.measure)}SLO is set for {what}.",
            notes=("set one in the settings: catalog.default_slo, catalog.services.NAME.slo or "
                   "catalog.endpoints[].slo (latency: quantile and threshold; error_ratio)",),
        )
    verdicts, notes = _verdicts(ctx, with_slo, want_errors, want_latency)
    notes.insert(0, "error budget: allowed bad requests = (1 − objective) × requests in the "
                    "window; burn rate = bad share / allowed share (1 = the whole budget "
                    "spent by the end of the window)")
    if len(verdicts) == 1:
        return _one(ctx, verdicts[0], notes)
    return _many(ctx, verdicts, notes)


def missed(ctx: Context, entries: Sequence[EndpointInfo]) -> tuple[list[Verdict], int]:
    """The endpoints (with an SLO) that miss one over the window, worst budget first, and
    how many served requests; for "is anything broken"."""
    with_slo = [e for e in entries if e.slo.error_ratio is not None or e.slo.latency is not None]
    if not with_slo:
        return [], 0
    verdicts, _ = _verdicts(ctx, with_slo, True, True)
    served = [v for v in verdicts if v.requests > 0]
    return sorted((v for v in served if not v.met), key=_left), len(served)


def short(verdict: Verdict) -> str:
    """What it misses, in a few words: ``errors 7.1%, 12% slow``."""
    return _short(verdict)


def _which(measure: Measure | None) -> str:
    if measure is Measure.LATENCY:
        return "latency "
    if measure in (Measure.ERROR_RATIO, Measure.ERROR_COUNT):
        return "error "
    return ""


def _verdicts(
    ctx: Context, entries: Sequence[EndpointInfo], want_errors: bool, want_latency: bool
) -> tuple[list[Verdict], list[str]]:
    window = ctx.window
    whole = whole_window(window.start, window.end)
    seconds = whole.lookback.total_seconds()
    endpoints = [e.endpoint for e in entries]
    # Independent reads: they wait for the server at the same time.
    read = batch.run_all(lambda: ctx.backend.throughput(whole, endpoints),
                         *([lambda: ctx.backend.error_ratio(whole, endpoints)]
                           if want_errors else []))
    rates = last_values(read[0])
    ratios = last_values(read[1]) if want_errors else {}
    within: dict[str, float] = {}
    quantiles: dict[str, float] = {}
    notes: list[str] = []
    if want_latency:
        by_threshold: dict[float, list[EndpointInfo]] = {}
        for e in entries:
            if e.slo.latency is not None:
                by_threshold.setdefault(e.slo.latency.threshold.total_seconds(), []).append(e)
        for threshold, group in by_threshold.items():
            points = [e.endpoint for e in group]
            try:
                within.update(last_values(ctx.backend.latency_within(whole, threshold, points)))
                notes.append(f"latency SLO counted from the histogram: the share of requests "
                             f"slower than {format_seconds(threshold)}, exact at its bucket bound")
            except NoBucketError as exc:
                notes.append(f"latency SLO: {exc}; compared the window's quantile with "
                             f"{format_seconds(threshold)} instead (met or missed, no budget)")
                for e in group:
                    assert e.slo.latency is not None
                    figure = ctx.backend.latency(whole, e.slo.latency.quantile, [e.endpoint])
                    quantiles.update(last_values(figure))
    verdicts = []
    for e in entries:
        requests = rates.get(e.column, math.nan) * seconds
        if not math.isfinite(requests):
            requests = 0.0
        errors = latency = check = None
        if want_errors and e.slo.error_ratio is not None:
            errors = error_budget(e.slo.error_ratio, requests, ratios.get(e.column, math.nan))
        slo = e.slo.latency
        if want_latency and slo is not None:
            threshold = slo.threshold.total_seconds()
            if e.column in within:
                latency = latency_budget(slo.quantile, threshold, requests, within[e.column])
            elif e.column in quantiles:
                check = LatencyCheck(
                    objective=f"p{slo.quantile * 100:g} ≤ {format_seconds(threshold)}",
                    quantile_name=f"p{slo.quantile * 100:g}", value=quantiles[e.column],
                    threshold=threshold,
                )
        verdicts.append(Verdict(e, requests, errors, latency, check))
    if not any(v.requests > 0 for v in verdicts):
        who = "them" if len(entries) > 1 else entries[0].label
        raise NoDataError(f"no requests to {who} in {window.label}")
    return verdicts, list(dict.fromkeys(notes))


def _parts(verdict: Verdict) -> list[str]:
    parts = []
    if verdict.errors is not None:
        e = verdict.errors
        parts.append(f"errors {format_ratio(e.bad_ratio)} of {format_ratio(e.allowed_ratio)} "
                     f"allowed, {budget_words(e)}")
    if verdict.latency is not None:
        b = verdict.latency
        state = "met" if b.met else "missed"
        parts.append(f"latency SLO {state}: {format_ratio(b.bad_ratio)} of requests over "
                     f"{b.objective.split('within ')[1]}, {format_ratio(b.allowed_ratio)} "
                     f"allowed, {budget_words(b)}")
    if verdict.latency_check is not None:
        c = verdict.latency_check
        state = "met" if c.met else "missed"
        parts.append(f"latency SLO {state}: {c.quantile_name} {format_seconds(c.value)} "
                     f"against {format_seconds(c.threshold)}")
    return parts


def _one(ctx: Context, verdict: Verdict, notes: list[str]) -> Answer:
    window = ctx.window
    entry = verdict.entry
    state = "meets its SLO" if verdict.met else "misses its SLO"
    headline = sentence(f"{entry.label}, {window.label}: {state}", _parts(verdict))
    rows = []
    for budget in (verdict.errors, verdict.latency):
        if budget is None:
            continue
        remaining, burn = budget.remaining, budget.burn_rate
        rows.append((
            budget.objective, format_ratio(budget.allowed_ratio), format_ratio(budget.bad_ratio),
            format_count(budget.allowed), format_count(budget.bad),
            _pct(remaining) if remaining is not None else "–",
            f"{burn:.2f}" if burn is not None else "–", "met" if budget.met else "missed",
        ))
    if verdict.latency_check is not None:
        c = verdict.latency_check
        rows.append((c.objective, "–", format_seconds(c.value), "–", "–", "–", "–",
                     "met" if c.met else "missed"))
    table = Table(
        headers=("OBJECTIVE", "ALLOWED BAD", "BAD", "BUDGET (REQUESTS)", "BAD REQUESTS",
                 "BUDGET LEFT", "BURN RATE", "VERDICT"),
        rows=tuple(rows), numeric=(1, 2, 3, 4, 5, 6),
    )
    series, title, fmt, line = _series(ctx, verdict)
    chart = None
    if series is not None:
        chart = line_chart(ctx, title, series, fmt, label=window.label, slo=line)
    notes.append(f"{format_count(verdict.requests, 'request')} in the window")
    return Answer(kind=AnswerKind.ANSWER, headline=headline, table=table, chart=chart,
                  sparkline=spark(series, HEADLINE_SPARK), notes=tuple(notes))


def _series(ctx: Context, verdict: Verdict
            ) -> tuple[pd.Series | None, str, Formatter, float | None]:
    """The bad share per step for the chart: errors when there is an error SLO, else latency."""
    window = ctx.window
    steps = series_window(window.start, window.end)
    entry = verdict.entry
    try:
        if verdict.errors is not None and entry.slo.error_ratio is not None:
            frame = ctx.backend.error_ratio(steps, [entry.endpoint])
            return (frame[entry.column], f"error ratio of {entry.label}, {window.label}",
                    format_ratio, entry.slo.error_ratio)
        slo = entry.slo.latency
        if slo is not None:
            frame = ctx.backend.latency(steps, slo.quantile, [entry.endpoint])
            title = f"p{slo.quantile * 100:g} of {entry.label}, {window.label}"
            return (frame[entry.column], title,
                    format_seconds, slo.threshold.total_seconds())
    except NoDataError:
        pass
    return None, "", format_ratio, None


def _many(ctx: Context, verdicts: list[Verdict], notes: list[str]) -> Answer:
    window = ctx.window
    served = [v for v in verdicts if v.requests > 0]
    missing = [v for v in served if not v.met]
    if missing:
        listed = "; ".join(f"{v.entry.label} ({_short(v)})" for v in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        lead = (f"{len(missing)} of {len(served)} endpoints miss an SLO, {window.label}: "
                f"{listed}{more}")
    else:
        lead = f"All {len(served)} endpoints meet their SLOs, {window.label}"
        tightest = min(served, key=lambda v: _left(v))
        if math.isfinite(_left(tightest)):
            lead += (f" — least budget left: {tightest.entry.label} "
                     f"{_pct(_left(tightest))}")
    rows = []
    for v in sorted(served, key=_left):
        e, b = v.errors, v.latency
        latency_text = "–"
        if b is not None:
            latency_text = f"{format_ratio(b.bad_ratio)} slow / {format_ratio(b.allowed_ratio)}"
        elif v.latency_check is not None:
            c = v.latency_check
            latency_text = f"{c.quantile_name} {format_seconds(c.value)}"
        rows.append((
            v.entry.label,
            f"{format_ratio(e.bad_ratio)} / {format_ratio(e.allowed_ratio)}" if e else "–",
            latency_text,
            _pct(_left(v)) if math.isfinite(_left(v)) else "–",
            f"{_burn(v):.2f}" if math.isfinite(_burn(v)) else "–",
            "met" if v.met else "missed",
        ))
    idle = len(verdicts) - len(served)
    if idle:
        notes.append(f"{idle} endpoints had no requests in the window")
    table = Table(headers=("ENDPOINT", "ERRORS / ALLOWED", "SLOW / ALLOWED", "BUDGET LEFT",
                           "BURN RATE", "VERDICT"), rows=tuple(rows), numeric=(3, 4))
    ordered = sorted(served, key=lambda v: -_burn(v) if math.isfinite(_burn(v)) else 0)
    chart = bars_chart(ctx, f"burn rate by endpoint, {window.label} (1 = whole budget)",
                       [v.entry.label for v in ordered], [_burn(v) for v in ordered],
                       lambda x: f"{x:.2f}", highlight_over=1.0)
    return Answer(kind=AnswerKind.ANSWER, headline=lead + ".", table=table, chart=chart,
                  notes=tuple(notes))


def _budgets(verdict: Verdict) -> list[Budget]:
    return [b for b in (verdict.errors, verdict.latency) if b is not None]


def _left(verdict: Verdict) -> float:
    """The least budget left among the endpoint's objectives (NaN when none has a budget)."""
    left = [b.remaining for b in _budgets(verdict) if b.remaining is not None]
    return min(left) if left else math.nan


def _burn(verdict: Verdict) -> float:
    burns = [b.burn_rate for b in _budgets(verdict) if b.burn_rate is not None]
    return max(burns) if burns else math.nan


def _short(verdict: Verdict) -> str:
    problems = []
    if verdict.errors is not None and not verdict.errors.met:
        problems.append(f"errors {format_ratio(verdict.errors.bad_ratio)}")
    if verdict.latency is not None and not verdict.latency.met:
        problems.append(f"{format_ratio(verdict.latency.bad_ratio)} slow")
    if verdict.latency_check is not None and not verdict.latency_check.met:
        c = verdict.latency_check
        problems.append(f"{c.quantile_name} {format_seconds(c.value)}")
    return ", ".join(problems)


def _pct(share: float) -> str:
    pct = share * 100
    return f"{pct:.0f}%" if abs(pct) >= 10 or pct == int(pct) else f"{pct:.1f}%"
