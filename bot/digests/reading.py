"""What a digest reads: its sources, the figures of both periods read once per signal for
all endpoints, and the notes that say what could not be read."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import numpy as np
import pandas as pd

from bot.analytics.prices import CostSettings
from bot.catalog.catalog import Catalog
from bot.catalog.model import EndpointInfo
from bot.digests.model import Forecast, Period
from bot.figures import whole_window
from bot.incidents.ports import IncidentRecords
from bot.metrics.base import Endpoint, MetricsBackend, MetricsError, Window
from bot.metrics.deploys import Deploy
from bot.playbooks.schema import Playbook

TOP = 5  # lines in each of the digest's lists

log = logging.getLogger(__name__)


class Notes(list[str]):
    """The digest's notes, and whether a section could not be read at all (then the digest
    is not "quiet": nothing to act on is not something it can say)."""

    unread = False


def unread(notes: Notes, what: str, error: MetricsError) -> None:
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



@dataclass(frozen=True)
class Frames:
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


def read_frames(backend: MetricsBackend, entries: Sequence[EndpointInfo], period: Period,
          notes: Notes) -> Frames | None:
    step = timedelta(minutes=5) if period.kind == "daily" else timedelta(minutes=30)
    window = Window(start=period.previous_start, end=period.end, step=step)
    endpoints = [e.endpoint for e in entries]
    try:
        p95 = backend.latency(window, 0.95, endpoints)
        rps = backend.throughput(window, endpoints)
        errors = backend.error_ratio(window, endpoints)
    except MetricsError as error:
        unread(notes, "no latency, traffic or error figures", error)
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
    return Frames(p95=p95, rps=rps, errors=errors, cpu=cpu, step=step, split=period.start,
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



def halves(frame: pd.DataFrame, split: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame[frame.index <= split], frame[frame.index > split]

