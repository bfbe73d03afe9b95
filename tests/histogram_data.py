"""Small hand-made HTTP histograms for tests on a real Prometheus: per-minute request counts
by endpoint, status and bucket, written as OpenMetrics counters in OpenTelemetry's naming
(``http_server_request_duration_seconds``, ``job``/``http_route``/``http_request_method``/
``http_response_status_code``), and the exact figures a test expects, computed from the counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from bot.metrics.base import Endpoint
from bot.metrics.histogram import histogram_quantile
from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import prometheus_backend_for
from tests.prometheus_server import PrometheusServer, block_spans, find_binaries

BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)  # +Inf is implicit
HISTOGRAM = "http_server_request_duration_seconds"


@dataclass(frozen=True)
class Traffic:
    endpoint: Endpoint
    rps: float
    error_ratio: float
    shares: tuple[float, ...]  # of requests per bucket, the last above the highest bound
    slow_shares: tuple[float, ...] | None = None  # from ``slow_from`` on
    slow_from: datetime | None = None


@dataclass(frozen=True)
class HistogramData:
    """Requests per minute in each bucket, (endpoint, status, minute, bucket), as written;
    status 0 is 200, 1 is 500. The counters start at zero at ``start``."""

    plan: tuple[Traffic, ...]
    start: datetime
    end: datetime
    minute_ends: list[datetime]
    counts: np.ndarray  # int64

    def _minutes(self, start: datetime, end: datetime) -> np.ndarray:
        return np.array([start < t <= end for t in self.minute_ends])

    def _index(self, endpoint: Endpoint) -> int:
        return [t.endpoint for t in self.plan].index(endpoint)

    def buckets(self, endpoint: Endpoint, start: datetime, end: datetime) -> np.ndarray:
        part: np.ndarray = self.counts[self._index(endpoint)][:, self._minutes(start, end)]
        total: np.ndarray = part.sum(axis=(0, 1))
        return total

    def p(self, q: float, endpoint: Endpoint, start: datetime, end: datetime) -> float:
        cumulative = np.cumsum(self.buckets(endpoint, start, end))
        return float(histogram_quantile(q, BOUNDS, cumulative))

    def rps(self, endpoint: Endpoint, start: datetime, end: datetime) -> float:
        total = self.buckets(endpoint, start, end).sum()
        return float(total / (end - start).total_seconds())

    def error_ratio(self, endpoint: Endpoint, start: datetime, end: datetime) -> float:
        e, minutes = self._index(endpoint), self._minutes(start, end)
        return float(self.counts[e, 1][minutes].sum() / self.counts[e][:, minutes].sum())


def generate(plan: Sequence[Traffic], start: datetime, end: datetime,
             seed: int) -> HistogramData:
    """Poisson requests a minute at each endpoint's rate, split by status and spread over the
    buckets by its shares (its slow shares once it slowed down)."""
    rng = np.random.default_rng(seed)
    minutes = int((end - start) / timedelta(minutes=1))
    ends = [start + timedelta(minutes=i + 1) for i in range(minutes)]
    counts = np.zeros((len(plan), 2, minutes, len(BOUNDS) + 1), dtype=np.int64)
    for e, traffic in enumerate(plan):
        for s, share in enumerate((1 - traffic.error_ratio, traffic.error_ratio)):
            for i, n in enumerate(rng.poisson(traffic.rps * 60 * share, minutes)):
                slow = (traffic.slow_shares is not None and traffic.slow_from is not None
                        and ends[i] > traffic.slow_from)
                counts[e, s, i] = rng.multinomial(
                    n, traffic.slow_shares if slow and traffic.slow_shares else traffic.shares)
    return HistogramData(tuple(plan), start, end, ends, counts)


def write_openmetrics(data: HistogramData, directory: Path) -> list[Path]:
    """The counters at ``start`` and at each minute's end, one OpenMetrics file per 2h block
    (promtool reads its input once per block). ``_sum`` counts each request at its bucket's
    middle (twice the highest bound above it)."""
    running = np.concatenate(
        [np.zeros_like(data.counts[:, :, :1]), np.cumsum(data.counts, axis=2)], axis=2)
    times = [data.start, *data.minute_ends]
    mids = [(b[0] + b[1]) / 2 for b in zip(BOUNDS, (*BOUNDS[1:], BOUNDS[-1] * 2), strict=True)]
    paths = []
    for n, (first, last) in enumerate(block_spans(data.start, data.end)):
        lines = [f"# TYPE {HISTOGRAM} histogram"]
        for k, moment in enumerate(times):
            if not first <= moment <= last:
                continue
            ts = int(moment.timestamp())
            for e, traffic in enumerate(data.plan):
                endpoint = traffic.endpoint
                for s, status in enumerate(("200", "500")):
                    labels = (f'job="{endpoint.service}",http_route="{endpoint.route}",'
                              f'http_request_method="{endpoint.method}",'
                              f'http_response_status_code="{status}"')
                    per_bucket = running[e, s, k]
                    cumulative = np.cumsum(per_bucket)
                    for le, count in zip((*map(str, BOUNDS), "+Inf"), cumulative, strict=True):
                        lines.append(f'{HISTOGRAM}_bucket{{{labels},le="{le}"}} {count} {ts}')
                    lines.append(f"{HISTOGRAM}_count{{{labels}}} {cumulative[-1]} {ts}")
                    busy = float(np.dot(per_bucket, [*mids, BOUNDS[-1] * 2]))
                    lines.append(f"{HISTOGRAM}_sum{{{labels}}} {busy:.3f} {ts}")
        lines.append("# EOF")
        path = directory / f"block-{n:03d}.om"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@contextmanager
def served(data: HistogramData, workdir: Path) -> Iterator[PrometheusBackend]:
    """A real Prometheus loaded with ``data``, and a backend on it whose clock stands at the
    data's end."""
    binaries = find_binaries()
    server = PrometheusServer(write_openmetrics(data, workdir), workdir / "prometheus",
                              binaries).start()
    try:
        yield prometheus_backend_for(server.url, now=data.end)
    finally:
        server.stop()
