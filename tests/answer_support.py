"""Shared by the answer tests: figures computed straight from the demo workload's arrays.

These use numpy on ``DemoWorkload`` only (see its docstring for the time layout), never the
backends, so they are an independent check of what an answer says.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from bot.ask.answer import Sources, ask
from bot.catalog import Catalog
from bot.catalog.settings import CatalogSettings
from bot.metrics.base import MetricsBackend
from bot.metrics.demo import DemoWorkload
from bot.render.message import Answer

UTC_ZONE = ZoneInfo("UTC")
MINUTE = timedelta(minutes=1)


def sources_for(backend: MetricsBackend) -> Sources:
    catalog = Catalog.build(backend.endpoints(), CatalogSettings())
    return Sources(backend=backend, catalog=catalog, tz=UTC_ZONE)


def answer_to(text: str, sources: Sources, now: datetime, chart: bool = False) -> Answer:
    return ask(text, sources, now, chart=chart)


def _minutes(w: DemoWorkload, start: datetime, end: datetime) -> slice:
    """The workload's minutes whose end falls in ``(start, end]``."""
    first = int((start - w.start) / MINUTE)
    last = int((end - w.start) / MINUTE)
    assert 0 <= first < last <= w.minutes, "window outside the workload"
    return slice(first, last)


def _rows(w: DemoWorkload, key: str, errors_only: bool = False) -> np.ndarray:
    keys = [e.key for e in w.endpoints]
    index = keys.index(key)
    rows = np.flatnonzero(w.series_endpoint == index)
    if errors_only:
        rows = np.array([r for r in rows if w.series_status[r].startswith("5")], dtype=int)
    return rows


def requests(w: DemoWorkload, key: str, start: datetime, end: datetime) -> int:
    counts = w.bucket_counts[_rows(w, key), _minutes(w, start, end)]
    return int(counts.sum(dtype=np.int64))


def errors(w: DemoWorkload, key: str, start: datetime, end: datetime) -> int:
    rows = _rows(w, key, errors_only=True)
    if rows.size == 0:
        return 0
    return int(w.bucket_counts[rows, _minutes(w, start, end)].sum(dtype=np.int64))


def buckets(w: DemoWorkload, key: str, start: datetime, end: datetime) -> np.ndarray:
    """Requests per bucket (not cumulative; the last is above the highest bound)."""
    counts = w.bucket_counts[_rows(w, key), _minutes(w, start, end)]
    result: np.ndarray = counts.sum(axis=(0, 1), dtype=np.int64)
    return result


def within(w: DemoWorkload, key: str, bound: float, start: datetime, end: datetime) -> int:
    k = list(w.bucket_bounds).index(bound)
    return int(buckets(w, key, start, end)[: k + 1].sum())


def quantile_bucket(w: DemoWorkload, key: str, q: float, start: datetime, end: datetime
                    ) -> tuple[float, float]:
    """The bounds of the bucket holding the ``q`` quantile: where the cumulative share crosses q."""
    cumulative = np.cumsum(buckets(w, key, start, end))
    k = int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
    edges = [0.0, *w.bucket_bounds]
    return edges[k], edges[min(k + 1, len(edges) - 1)]


def busy_seconds(w: DemoWorkload, key: str, start: datetime, end: datetime) -> float:
    return float(w.duration_sum[_rows(w, key), _minutes(w, start, end)].sum())


def cpu_share(w: DemoWorkload, service: str, start: datetime, end: datetime) -> float:
    v = w.services.index(service)
    used = w.cpu_seconds[v, _minutes(w, start, end)].sum()
    return float(used / (end - start).total_seconds() / w.cpu_limit[v])


_DURATION = re.compile(r"(\d+(?:\.\d+)?) (ms|s)\b")


def seconds_in(text: str) -> float:
    """The first duration written like ``427 ms`` or ``2.40 s`` in ``text``, in seconds."""
    match = _DURATION.search(text)
    assert match, f"no duration in {text!r}"
    value = float(match[1])
    return value / 1000 if match[2] == "ms" else value


def row(answer: Answer, first_cell: str) -> tuple[str, ...]:
    assert answer.table is not None, answer.headline
    for cells in answer.table.rows:
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in {[r[0] for r in answer.table.rows]}")


def column(answer: Answer, header: str) -> list[str]:
    assert answer.table is not None, answer.headline
    index = answer.table.headers.index(header)
    return [cells[index] for cells in answer.table.rows]
