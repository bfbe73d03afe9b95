"""The demo workload as OpenMetrics text, for ``promtool tsdb create-blocks-from openmetrics``.

The series are named as real exporters name them, so the Prometheus backend queries the
backfilled data with its default settings:

* ``http_server_request_duration_seconds`` (OpenTelemetry's stable HTTP histogram) with
  ``job`` (the service), ``http_route``, ``http_request_method``, ``http_response_status_code``;
* ``container_cpu_usage_seconds_total{container}`` (cAdvisor, a counter);
* ``container_memory_working_set_bytes{container}`` (cAdvisor, a gauge);
* ``kube_pod_container_resource_limits{container, resource, unit}`` (kube-state-metrics).

Counters are cumulative from 0 at the workload's start, so ``rate()`` over any range inside
the written span sees exactly the demo's per-minute increments. The output is streamed one
series at a time; every series' samples are in time order, families are not interleaved.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from bot.metrics.demo.workload import MINUTE, DemoWorkload

HISTOGRAM = "http_server_request_duration_seconds"
CPU_USAGE = "container_cpu_usage_seconds"
MEMORY_WORKING_SET = "container_memory_working_set_bytes"
RESOURCE_LIMITS = "kube_pod_container_resource_limits"

# Timestamps per formatted block: bounds the text held in memory at once (~5 MB).
_CHUNK = 2000


def escape_label_value(value: str) -> str:
    """A label value as OpenMetrics writes it between double quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: dict[str, str]) -> str:
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs.items())


def _le(bound: float) -> str:
    # Canonical float text ("1.0", "0.005"), as the Prometheus client libraries write it.
    return repr(float(bound))


def write_openmetrics(
    workload: DemoWorkload,
    out: TextIO,
    start: datetime | None = None,
    end: datetime | None = None,
    every: timedelta = MINUTE,
) -> int:
    """Write the workload's series from ``start`` to ``end`` (default: all of it).

    Samples are taken every ``every`` (a whole number of minutes) on the workload's minute
    grid. Keep ``every`` at 5 minutes or less: Prometheus treats a gauge as gone when its
    last sample is older than 5 minutes. Returns the number of samples written.
    """
    rows = _sample_rows(workload, start, end, every)
    stamps = [str(s) for s in (int(workload.start.timestamp()) + rows * 60).tolist()]
    written = 0

    out.write(
        f"# TYPE {HISTOGRAM} histogram\n# UNIT {HISTOGRAM} seconds\n"
        f"# HELP {HISTOGRAM} Duration of HTTP server requests.\n"
    )
    statuses = workload.series_status
    for s, endpoint in enumerate(workload.series_endpoints()):
        labels = _labels({
            "job": endpoint.service,
            "http_route": endpoint.route,
            "http_request_method": endpoint.method,
            "http_response_status_code": statuses[s],
        })
        buckets = _running(workload.bucket_counts[s].astype(np.int64), rows)
        sums = _running(workload.duration_sum[s], rows)
        written += _write_histogram(out, labels, workload.bucket_bounds, buckets, sums, stamps)

    out.write(
        f"# TYPE {CPU_USAGE} counter\n# UNIT {CPU_USAGE} seconds\n"
        f"# HELP {CPU_USAGE} Cumulative CPU time consumed.\n"
    )
    for v, service in enumerate(workload.services):
        cpu = _running(workload.cpu_seconds[v], rows)
        written += _write_series(out, f'{CPU_USAGE}_total{{{_labels({"container": service})}}} ',
                                 [f"{x:.3f}" for x in cpu.tolist()], stamps)

    out.write(
        f"# TYPE {MEMORY_WORKING_SET} gauge\n# UNIT {MEMORY_WORKING_SET} bytes\n"
        f"# HELP {MEMORY_WORKING_SET} Current working set.\n"
    )
    # A gauge read at counter row k is the sample of the minute that ends there.
    minute = np.maximum(rows - 1, 0)
    for v, service in enumerate(workload.services):
        memory = workload.memory_bytes[v, minute]
        written += _write_series(
            out, f'{MEMORY_WORKING_SET}{{{_labels({"container": service})}}} ',
            [str(int(x)) for x in memory.tolist()], stamps,
        )

    out.write(
        f"# TYPE {RESOURCE_LIMITS} gauge\n"
        f"# HELP {RESOURCE_LIMITS} The number of requested limit resource by a container.\n"
    )
    for v, service in enumerate(workload.services):
        for resource, unit, value in (
            ("cpu", "core", f"{float(workload.cpu_limit[v])!r}"),
            ("memory", "byte", str(int(workload.memory_limit[v]))),
        ):
            labels = _labels({"container": service, "resource": resource, "unit": unit})
            written += _write_series(
                out, f"{RESOURCE_LIMITS}{{{labels}}} ", [value] * len(stamps), stamps
            )
    out.write("# EOF\n")
    return written


def write_openmetrics_file(
    workload: DemoWorkload,
    path: str | Path,
    start: datetime | None = None,
    end: datetime | None = None,
    every: timedelta = MINUTE,
) -> int:
    """``write_openmetrics`` to a file (UTF-8, ``\\n`` line ends); returns the sample count."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        return write_openmetrics(workload, out, start, end, every)


def _sample_rows(
    workload: DemoWorkload, start: datetime | None, end: datetime | None, every: timedelta
) -> npt.NDArray[np.int64]:
    """Counter rows (minutes since the workload's start) to write, from ``start`` to ``end``."""
    if every <= timedelta(0) or every % MINUTE:
        raise ValueError(f"every must be a whole, positive number of minutes, got {every}")
    first = workload.start if start is None else start
    last = workload.end if end is None else end
    for name, moment in (("start", first), ("end", last)):
        if moment.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
        if not workload.start <= moment <= workload.end:
            raise ValueError(
                f"{name} {moment.isoformat()} is outside the demo workload, which covers "
                f"{workload.describe_span()}"
            )
    # Whole minutes of the workload's grid: round the start up and the end down.
    first_row = -((workload.start - first) // MINUTE)
    last_row = (last - workload.start) // MINUTE
    if first_row > last_row:
        raise ValueError("the span to write holds no whole minute of the workload")
    return np.arange(first_row, last_row + 1, every // MINUTE, dtype=np.int64)


def _running(per_minute: npt.NDArray[np.generic], rows: npt.NDArray[np.int64]) -> npt.NDArray[
    np.generic
]:
    """Cumulative sums over minutes (0 before the first), read at ``rows``."""
    totals = np.cumsum(per_minute, axis=0)
    zero = np.zeros((1, *totals.shape[1:]), dtype=totals.dtype)
    picked: npt.NDArray[np.generic] = np.concatenate([zero, totals])[rows]
    return picked


def _write_histogram(
    out: TextIO,
    labels: str,
    bounds: tuple[float, ...],
    buckets: npt.NDArray[np.generic],
    sums: npt.NDArray[np.generic],
    stamps: list[str],
) -> int:
    """One histogram series: at each time its buckets (le-cumulative), ``_sum``, ``_count``."""
    bucket = [f'{HISTOGRAM}_bucket{{{labels},le="{_le(b)}"}} ' for b in bounds]
    bucket.append(f'{HISTOGRAM}_bucket{{{labels},le="+Inf"}} ')
    total = f"{HISTOGRAM}_sum{{{labels}}} "
    count = f"{HISTOGRAM}_count{{{labels}}} "
    le_cumulative = np.cumsum(buckets, axis=1)
    for begin in range(0, len(stamps), _CHUNK):
        block = slice(begin, begin + _CHUNK)
        lines: list[str] = []
        for row, spent, stamp in zip(
            le_cumulative[block].tolist(), sums[block].tolist(), stamps[block], strict=True
        ):
            tail = f" {stamp}\n"
            lines.extend([prefix + str(value) + tail
                          for prefix, value in zip(bucket, row, strict=True)])
            lines.append(f"{total}{spent:.3f}{tail}")
            lines.append(f"{count}{row[-1]}{tail}")
        out.write("".join(lines))
    return len(stamps) * (len(bucket) + 2)


def _write_series(out: TextIO, prefix: str, values: list[str], stamps: list[str]) -> int:
    for begin in range(0, len(stamps), _CHUNK * 10):
        block = slice(begin, begin + _CHUNK * 10)
        out.write("".join(
            f"{prefix}{value} {stamp}\n"
            for value, stamp in zip(values[block], stamps[block], strict=True)
        ))
    return len(stamps)
