"""The demo's OpenMetrics through promtool: it backfills into blocks, and reading them back
gives the values written."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from bot.metrics.demo import DemoWorkload
from bot.metrics.openmetrics import write_openmetrics
from tests.prometheus_server import find_binaries
from tests.unit.test_openmetrics import CHECKOUT_OK, END, parse, series


@pytest.fixture(scope="module")
def workload() -> DemoWorkload:
    return DemoWorkload.generate(end=END, days=1, seed=11)


@pytest.fixture(scope="module")
def text(workload: DemoWorkload) -> str:
    out = io.StringIO()
    write_openmetrics(workload, out, start=END - timedelta(minutes=30))
    return out.getvalue()


def test_promtool_backfills_it_and_reads_back_the_same_values(
    workload: DemoWorkload, text: str, tmp_path: Path
) -> None:
    tool = str(find_binaries().promtool)
    source = tmp_path / "demo.om"
    source.write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    created = subprocess.run(
        [tool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert created.returncode == 0, created.stderr + created.stdout
    (data / "wal").mkdir()  # `tsdb dump` opens the head too
    selector = ('http_server_request_duration_seconds_bucket{job="payments",'
                'http_route="/api/checkout",http_response_status_code="200",le="0.5"}')
    dumped = subprocess.run(
        [tool, "tsdb", "dump", f"--match={selector}", str(data)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert dumped.returncode == 0, dumped.stderr
    read_back = [
        (int(stamp) // 1000, float(value))
        for value, stamp in re.findall(r"\} (\S+) (\d+)$", dumped.stdout, flags=re.MULTILINE)
    ]
    written = series(parse(text), "http_server_request_duration_seconds_bucket",
                     **CHECKOUT_OK, le="0.5")
    assert len(written) == 31
    assert read_back == written
