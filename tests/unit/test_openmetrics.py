"""The demo as OpenMetrics: structure and values against the workload (promtool's verdict on
it is in ``tests/integration/test_openmetrics_promtool.py``)."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.metrics.demo import DemoWorkload
from bot.metrics.openmetrics import (
    escape_label_value,
    write_openmetrics,
    write_openmetrics_file,
)

END = datetime(2026, 3, 4, 21, 0, tzinfo=UTC)
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+) (\d+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Labels = tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def workload() -> DemoWorkload:
    return DemoWorkload.generate(end=END, days=1, seed=11)


@pytest.fixture(scope="module")
def text(workload: DemoWorkload) -> str:
    out = io.StringIO()
    write_openmetrics(workload, out, start=END - timedelta(minutes=30))
    return out.getvalue()


def parse(text: str) -> list[tuple[str, dict[str, str], float, int]]:
    samples = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, labels, value, stamp = match.groups()
        samples.append((name, dict(LABEL.findall(labels)), float(value), int(stamp)))
    return samples


def series(
    samples: list[tuple[str, dict[str, str], float, int]], name: str, **labels: str
) -> list[tuple[int, float]]:
    return [(t, v) for n, found, v, t in samples
            if n == name and all(found.get(k) == x for k, x in labels.items())]


CHECKOUT_OK = {"job": "payments", "http_route": "/api/checkout",
               "http_request_method": "POST", "http_response_status_code": "200"}


def test_families_are_declared_once_in_order_and_the_text_ends_with_eof(text: str) -> None:
    assert text.endswith("\n# EOF\n")
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE)
    assert types == [
        ("http_server_request_duration_seconds", "histogram"),
        ("container_cpu_usage_seconds", "counter"),
        ("container_memory_working_set_bytes", "gauge"),
        ("kube_pod_container_resource_limits", "gauge"),
    ]
    family = ""
    seen: list[str] = []
    for line in text.splitlines()[:-1]:
        if line.startswith("# TYPE "):
            family = line.split()[2]
            assert family not in seen
            seen.append(family)
        elif not line.startswith("#"):
            assert line.startswith(family), (family, line)


def test_returns_the_number_of_samples(workload: DemoWorkload, text: str) -> None:
    out = io.StringIO()
    count = write_openmetrics(workload, out, start=END - timedelta(minutes=30))
    assert count == len(parse(text)) == sum(
        1 for line in text.splitlines() if not line.startswith("#")
    )
    # 31 instants: per histogram series 15 buckets, sum and count; 4 series per service.
    expected = 31 * (len(workload.series_status) * 17 + len(workload.services) * 4)
    assert count == expected


def test_histograms_are_cumulative_and_counters_never_go_down(text: str) -> None:
    by_series: dict[Labels, list[tuple[int, float]]] = defaultdict(list)
    buckets: dict[tuple[Labels, int], list[tuple[float, float]]] = defaultdict(list)
    counts: dict[tuple[Labels, int], float] = {}
    for name, labels, value, stamp in parse(text):
        if name.endswith(("_bucket", "_sum", "_count", "_total")):
            by_series[(("__name__", name), *sorted(labels.items()))].append((stamp, value))
        if name == "http_server_request_duration_seconds_bucket":
            le = labels.pop("le")
            key = tuple(sorted(labels.items()))
            buckets[(key, stamp)].append((float(le), value))
        elif name == "http_server_request_duration_seconds_count":
            counts[(tuple(sorted(labels.items())), stamp)] = value
    assert buckets and len(by_series) > len(buckets) // 31
    for key, row in buckets.items():
        bounds = [le for le, _ in row]
        assert bounds == sorted(bounds) and bounds[-1] == float("inf") and len(bounds) == 15
        values = [v for _, v in row]
        assert values == sorted(values)
        assert values[-1] == counts[key]
    for points in by_series.values():
        stamps = [t for t, _ in points]
        assert stamps == sorted(set(stamps))
        values = [v for _, v in points]
        assert values == sorted(values)


def test_values_are_the_workload_cumulated_from_its_start(
    workload: DemoWorkload, text: str
) -> None:
    samples = parse(text)
    s = next(i for i, (e, status) in enumerate(
        zip(workload.series_endpoints(), workload.series_status, strict=True))
        if e.key == "POST /api/checkout" and status == "200")
    stamp, value = series(samples, "http_server_request_duration_seconds_count",
                          **CHECKOUT_OK)[-1]
    assert stamp == int(END.timestamp())
    assert value == workload.bucket_counts[s].sum()
    first_stamp, first_value = series(samples, "http_server_request_duration_seconds_count",
                                      **CHECKOUT_OK)[0]
    minutes_before = (first_stamp - int(workload.start.timestamp())) // 60
    assert first_value == workload.bucket_counts[s, :minutes_before].sum()

    v = workload.services.index("search")
    cpu = series(samples, "container_cpu_usage_seconds_total", container="search")
    assert cpu[-1][1] == pytest.approx(workload.cpu_seconds[v].sum(), abs=1e-3)
    memory = series(samples, "container_memory_working_set_bytes", container="search")
    assert memory[-1][1] == workload.memory_bytes[v, -1]
    limit = series(samples, "kube_pod_container_resource_limits", container="search",
                   resource="memory", unit="byte")
    assert {value for _, value in limit} == {workload.memory_limit[v]}
    cores = series(samples, "kube_pod_container_resource_limits", container="search",
                   resource="cpu", unit="core")
    assert {value for _, value in cores} == {workload.cpu_limit[v]}


def test_counters_start_at_zero_at_the_start_of_the_workload(workload: DemoWorkload) -> None:
    out = io.StringIO()
    write_openmetrics(workload, out, end=workload.start + timedelta(minutes=10))
    samples = parse(out.getvalue())
    start = int(workload.start.timestamp())
    firsts = [v for n, _, v, t in samples
              if t == start and n.endswith(("_bucket", "_sum", "_count", "_total"))]
    assert firsts and all(v == 0 for v in firsts)


def test_every_spaces_the_samples_and_bad_spans_are_refused(workload: DemoWorkload) -> None:
    out = io.StringIO()
    write_openmetrics(workload, out, start=END - timedelta(hours=1, seconds=20),
                      every=timedelta(minutes=5))
    stamps = [t for t, _ in series(parse(out.getvalue()),
                                   "http_server_request_duration_seconds_count",
                                   **CHECKOUT_OK)]
    # The start is rounded up to the minute grid, then every five minutes.
    assert stamps[0] == int((END - timedelta(hours=1)).timestamp())
    assert np.diff(stamps).tolist() == [300] * (len(stamps) - 1)
    with pytest.raises(ValueError, match="whole, positive number of minutes"):
        write_openmetrics(workload, io.StringIO(), every=timedelta(seconds=90))
    with pytest.raises(ValueError, match="covers"):
        write_openmetrics(workload, io.StringIO(), start=END - timedelta(days=2))
    with pytest.raises(ValueError, match="timezone-aware"):
        write_openmetrics(workload, io.StringIO(), end=datetime(2026, 3, 4, 20, 0))


def test_label_values_are_escaped() -> None:
    assert escape_label_value('a\\b"c\nd{e}') == 'a\\\\b\\"c\\nd{e}'
    assert escape_label_value("/api/menu/{restaurant_id}") == "/api/menu/{restaurant_id}"


def test_writes_a_file(workload: DemoWorkload, text: str, tmp_path: Path) -> None:
    path = tmp_path / "demo.om"
    count = write_openmetrics_file(workload, path, start=END - timedelta(minutes=30))
    assert path.read_text(encoding="utf-8") == text
    assert count == len(parse(text))
