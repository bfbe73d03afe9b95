"""A real Prometheus for tests: backfill OpenMetrics file(s), serve them on a free loopback port.

Nothing is scraped: the data is exactly what the file holds, so answers are reproducible.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Self

import httpx
import pytest

from bot.metrics.demo import DemoWorkload
from bot.metrics.local_prometheus import backfill_file, block_spans
from bot.metrics.openmetrics import write_openmetrics
from tests.loopback_server import LoopbackServer

INSTALL_HINT = "install Debian's package: apt-get install -y prometheus (or run bash tests/run.sh)"

_CONFIG = """\
# Written by tests/prometheus_server.py: no scrape targets, the data is backfilled.
global:
  evaluation_interval: 1h
"""
_QUERY_LOG = "  query_log_file: {path}\n"  # every PromQL query the server runs, one JSON line


@dataclass(frozen=True)
class Binaries:
    prometheus: Path
    promtool: Path


def missing_part(message: str) -> NoReturn:
    """A real part the test needs is not here: fail under ``CI=true``, skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def find_binaries() -> Binaries:
    """Both binaries, or fail the test under ``CI=true`` (skip it elsewhere) with the hint."""
    found = {name: shutil.which(name) or _debian_path(name) for name in ("prometheus", "promtool")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        missing_part(f"{' and '.join(missing)} not found: {INSTALL_HINT}")
    return Binaries(
        prometheus=Path(str(found["prometheus"])), promtool=Path(str(found["promtool"]))
    )


def _debian_path(name: str) -> str | None:
    path = Path("/usr/bin") / name
    return str(path) if os.access(path, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusError(RuntimeError):
    """Backfill or start-up failed; the message carries the tool's own output."""




def write_demo_blocks(workload: DemoWorkload, workdir: Path) -> list[Path]:
    """The demo workload as OpenMetrics, one file per 2 h block (promtool backfills them in
    parallel; one large file is much slower)."""
    files = []
    for number, (first, last) in enumerate(block_spans(workload.start, workload.end)):
        path = workdir / f"demo-{number:03d}.om"
        with path.open("w", encoding="utf-8") as out:
            write_openmetrics(workload, out, first, last)
        files.append(path)
    return files


def wait_ready(process: subprocess.Popen[bytes] | None, url: str, timeout: float) -> bool:
    """Poll ``url`` until it answers 200 (True), the process exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is None or process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    return False


def stop_process(process: subprocess.Popen[bytes], grace: float,
                 sig: signal.Signals = signal.SIGTERM) -> None:
    """Send ``sig``, wait ``grace`` seconds, then kill."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def backfill(binaries: Binaries, openmetrics: Sequence[Path], data_dir: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics FILE DATADIR`` for each file, in parallel."""
    data_dir.mkdir(parents=True, exist_ok=True)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(lambda path: backfill_file(binaries.promtool, path, data_dir),
                      openmetrics))


class ServerProcess:
    """What the fixtures' server processes share: a process and its log, started on a free
    port (again on another when it was taken meanwhile), stopped on exit. Each server says
    how it is spawned and when it is ready."""

    _process: subprocess.Popen[bytes] | None
    _log: Path
    port: int
    stop_signal = signal.SIGTERM
    busy_port = "address already in use"  # what its log says when the port was taken

    def start(self) -> Self:
        raise NotImplementedError

    def _spawn(self) -> None:
        raise NotImplementedError

    def _wait_ready(self, timeout: float) -> bool:
        raise NotImplementedError

    def _launch(self, ready_timeout: float) -> str | None:
        """Spawn on ``port`` (a free one when 0) and wait until ready, three tries on another
        free port when the port was taken meanwhile. None once ready; else why not, with the
        end of the server's log."""
        for _attempt in range(3):
            self.port = self.port or free_port()
            self._spawn()
            if self._wait_ready(ready_timeout):
                return None
            code = self._process.poll() if self._process else None
            log = self._stop_and_read_log()
            if self.busy_port not in log:
                break
            self.port = 0
        why = f"it exited with code {code}" if code is not None else f"within {ready_timeout:g}s"
        return f"({why}); its log ends with:\n{tail(log)}"

    def _stop_and_read_log(self) -> str:
        self.stop()
        return self._log.read_text(encoding="utf-8", errors="replace")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, grace, self.stop_signal)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PrometheusServer(ServerProcess):
    """One Prometheus process serving the blocks backfilled from ``openmetrics`` file(s)."""

    def __init__(
        self,
        openmetrics: Path | Sequence[Path],
        workdir: Path,
        binaries: Binaries | None = None,
        *,
        query_log: bool = False,
    ) -> None:
        self.openmetrics = [openmetrics] if isinstance(openmetrics, Path) else list(openmetrics)
        self.workdir = workdir
        # With ``query_log``, Prometheus appends every query it evaluates to this file.
        self.query_log: Path | None = workdir / "queries.log" if query_log else None
        self.binaries = binaries or find_binaries()
        self.data_dir = workdir / "data"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "prometheus.log"
        self._config = workdir / "prometheus.yml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 60.0) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.data_dir.exists():
            backfill(self.binaries, self.openmetrics, self.data_dir)
        text = _CONFIG
        if self.query_log is not None:
            text += _QUERY_LOG.format(path=json.dumps(str(self.query_log)))
        self._config.write_text(text, encoding="utf-8")
        self.port = 0  # each start on a free port
        failed = self._launch(ready_timeout)
        if failed is not None:
            raise PrometheusError(f"prometheus did not become ready on {self.url} {failed}")
        return self

    def _spawn(self) -> None:
        args = [
            str(self.binaries.prometheus),
            f"--config.file={self._config}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _wait_ready(self, timeout: float) -> bool:
        return wait_ready(self._process, f"{self.url}/-/ready", timeout)



def logged_queries(path: Path, offset: int = 0) -> list[str]:
    """The PromQL texts in a Prometheus query log, from byte ``offset`` on."""
    with path.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode("utf-8", errors="replace").splitlines()
    return [json.loads(line)["params"]["query"] for line in lines if line.strip()]


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"


# A route whose text is full of PromQL and regex syntax, to prove it is matched literally.
TRICKY_ROUTE = '/api/a.b|c"} or vector(1) \\ (x)+'
TINY_ENDPOINTS = (
    ("shop", "/api/items", "GET", 2.0),
    ("shop", "/api/items", "POST", 0.5),
    ("shop", TRICKY_ROUTE, "GET", 1.0),
)
TINY_BUCKETS = (0.1, 0.5)


def tiny_openmetrics(end: datetime, minutes: int = 60) -> str:
    """An hour of a small hand-written OpenTelemetry histogram, ending at ``end``.

    Each endpoint serves ``rate`` requests per second: half under 0.1 s, 40% in (0.1, 0.5],
    10% above; one in ten answered 500.
    """
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    name = "http_server_request_duration_seconds"
    lines = [f"# TYPE {name} histogram"]
    first = int(end.timestamp()) - minutes * 60
    for minute in range(minutes + 1):
        ts = first + minute * 60
        for service, route, method, rate in TINY_ENDPOINTS:
            for status, share in (("200", 0.9), ("500", 0.1)):
                total = round(minute * 60 * rate * share)
                labels = (f'job="{escape(service)}",http_route="{escape(route)}",'
                          f'http_request_method="{method}",http_response_status_code="{status}"')
                cumulative = (total * 5 // 10, total * 9 // 10, total)
                for le, count in zip((*map(str, TINY_BUCKETS), "+Inf"), cumulative, strict=True):
                    lines.append(f'{name}_bucket{{{labels},le="{le}"}} {count} {ts}')
                lines.append(f"{name}_count{{{labels}}} {total} {ts}")
                lines.append(f"{name}_sum{{{labels}}} {total * 0.1:.1f} {ts}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class SlowProxy(LoopbackServer):
    """A loopback HTTP proxy in front of a real Prometheus that holds the first request
    (``every``: each request) ``delay`` seconds before passing it on: a Prometheus taking
    its time, for real.

    ``holding`` is set while the first request waits, ``passed`` once it went through."""

    def __init__(self, upstream: str, delay: float = 10.0, *, every: bool = False) -> None:
        self.upstream, self.delay, self.every = upstream, delay, every
        self.holding, self.passed = threading.Event(), threading.Event()
        self._first = threading.Lock()
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _forward(self, body: bytes | None) -> None:
                if proxy._first.acquire(blocking=False):  # never released: only the first
                    proxy.holding.set()
                    time.sleep(proxy.delay)
                    proxy.holding.clear()
                    proxy.passed.set()
                elif proxy.every:
                    time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("content-type", "accept")}
                answer = httpx.request(self.command, proxy.upstream + self.path, content=body,
                                       headers=headers, timeout=60)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
