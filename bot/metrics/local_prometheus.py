"""A throwaway Prometheus on this machine, loaded with the demo workload: ``perfbot demo
--prometheus`` walks through PromQL on it. The workload is written as OpenMetrics, one file
per 2 h block (promtool re-reads a whole file per block), backfilled with ``promtool tsdb
create-blocks-from openmetrics`` and served on a free loopback port. Nothing is scraped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from bot.metrics.demo import DemoWorkload
from bot.metrics.openmetrics import write_openmetrics

INSTALL_HINT = ("install Prometheus (Debian/Ubuntu: apt-get install prometheus; or put the "
                "prometheus and promtool binaries from prometheus.io on the PATH)")
BLOCK = timedelta(hours=2)  # promtool's block range
_CONFIG = "# Written by perfbot demo --prometheus: nothing is scraped.\nglobal:\n" \
          "  evaluation_interval: 1h\n"


class LocalPrometheusError(RuntimeError):
    """The binaries are missing, or the backfill or the start failed (with their output)."""


def find_binaries() -> tuple[Path, Path]:
    """``prometheus`` and ``promtool`` on the PATH; the error names the missing ones and
    how to install them."""
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise LocalPrometheusError(f"{' and '.join(missing)} not found: {INSTALL_HINT}")
    return Path(str(found["prometheus"])), Path(str(found["promtool"]))


def block_spans(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """``start``..``end`` cut at Prometheus's 2h block boundaries, each span closed: promtool
    re-reads its whole input once per block, so one file per block keeps a backfill of days
    linear (and the files backfill in parallel)."""
    step = int(BLOCK.total_seconds())
    first = datetime.fromtimestamp(int(start.timestamp()) // step * step, UTC)
    spans = []
    while first <= end:
        spans.append((max(first, start), min(first + BLOCK - timedelta(seconds=1), end)))
        first += BLOCK
    return spans


class LocalPrometheus:
    """``with LocalPrometheus(workload, workdir) as server: server.url``; stopped on exit."""

    def __init__(self, workload: DemoWorkload, workdir: Path, ready_timeout: float = 60.0
                 ) -> None:
        self.workload, self.workdir, self.ready_timeout = workload, workdir, ready_timeout
        self.prometheus, self.promtool = find_binaries()
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalPrometheus:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            spans = block_spans(self.workload.start, self.workload.end)
            list(pool.map(lambda job: self._backfill(job[0], job[1], data), enumerate(spans)))
        config = self.workdir / "prometheus.yml"
        config.write_text(_CONFIG, encoding="utf-8")
        log = self.workdir / "prometheus.log"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [str(self.prometheus), f"--config.file={config}",
                 f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=100y",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise LocalPrometheusError(f"prometheus did not become ready on {self.url}; its log "
                                   f"ends with:\n{_tail(log.read_text(errors='replace'))}")

    def _backfill(self, number: int, span: tuple[datetime, datetime], data: Path) -> None:
        path = self.workdir / f"demo-{number:03d}.om"
        with path.open("w", encoding="utf-8", newline="\n") as out:
            write_openmetrics(self.workload, out, *span)
        try:
            backfill_file(self.promtool, path, data)
        finally:
            path.unlink()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def backfill_file(promtool: Path, path: Path, data: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics PATH DATA``; the error ends with
    promtool's own output."""
    result = subprocess.run(
        [str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--quiet",
         str(path), str(data)], capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise LocalPrometheusError(f"promtool could not backfill {path.name} (exit "
                                   f"{result.returncode}):\n"
                                   f"{_tail(result.stderr + result.stdout)}")


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"
