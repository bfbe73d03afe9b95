"""The digest's movements: p95 changes that a test calls real and that are big enough to
matter, dated by their change point and tied to their likely cause (a deploy, an incident,
a traffic shift) and playbook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from bot.analytics.compare import compare_samples
from bot.catalog.model import EndpointInfo
from bot.digests.model import Movement, Period
from bot.digests.reading import TOP, DigestSources, Frames, halves
from bot.metrics.base import MetricsBackend, MetricsError, Signal, Window
from bot.playbooks.matching import Situation, match_playbooks

# A movement is reported when the Mann–Whitney test calls it real (p < 0.05, effect more
# than negligible) AND its median moved by at least this share and this many seconds: a
# real +3% or +2 ms is not worth a manager's minute.
MIN_RELATIVE = 0.20
MIN_SECONDS = 0.010
# A deploy this long before a change point (or shortly after: clocks and scrape steps) is
# its likely cause; an incident opened within the same span is named too.
DEPLOY_BEFORE = timedelta(hours=3)
DEPLOY_AFTER = timedelta(minutes=30)


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


def find_movements(sources: DigestSources, frames: Frames, entries: Sequence[EndpointInfo],
               period: Period) -> tuple[list[Movement], list[Movement]]:
    found: list[Movement] = []
    for entry in entries:
        col = entry.column
        if col not in frames.p95.columns:
            continue
        series = frames.p95[col]
        old_part, new_part = halves(series.to_frame(), frames.split)
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


def _cause(sources: DigestSources, frames: Frames, entry: EndpointInfo,
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


def _playbook(sources: DigestSources, frames: Frames, entry: EndpointInfo, old: float,
              new: float, since: datetime | None, after_deploy: bool) -> str | None:
    if not sources.playbooks:
        return None
    service = entry.endpoint.service
    rps = frames.rps.get(entry.column)
    old_rps, new_rps = (halves(rps.to_frame(), frames.split) if rps is not None
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

