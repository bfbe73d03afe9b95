"""A real VictoriaMetrics for tests: the same OpenMetrics file(s) the Prometheus fixture
backfills, imported through ``/api/v1/import/prometheus``, served on a free loopback port.

The import API reads Prometheus exposition text, whose timestamps are milliseconds where
OpenMetrics' are seconds: each sample line's timestamp is rewritten, nothing else (names,
labels, values and comments pass through as written), so both servers hold the same samples.
The fixture waits until VictoriaMetrics counts every row as stored (none ignored), then
flushes, so the first query sees all of it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

from tests.prometheus_server import (
    ServerProcess,
    missing_part,
    tail,
    wait_ready,
)

INSTALL_HINT = ("install Debian's package: apt-get install -y victoria-metrics "
                "(or run bash tests/run.sh)")
_BATCH = 8 * 1024 * 1024  # bytes per import request


def find_binary() -> Path:
    """The binary, or fail the test under ``CI=true`` (skip it elsewhere) with the hint."""
    found = shutil.which("victoria-metrics")
    if found is None and os.access("/usr/bin/victoria-metrics", os.X_OK):
        found = "/usr/bin/victoria-metrics"
    if found is None:
        missing_part(f"victoria-metrics not found: {INSTALL_HINT}")
    return Path(str(found))


class VictoriaError(RuntimeError):
    """Start-up or import failed; the message carries the server's own words."""


def exposition_lines(openmetrics: Path) -> Iterator[tuple[str, int]]:
    """The file as Prometheus exposition text, one ``(line, samples)`` pair per line:
    comments and ``# EOF`` dropped, each timestamp from seconds to milliseconds."""
    with openmetrics.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            head, _, stamp = line.rstrip("\n").rpartition(" ")
            if not head:
                raise VictoriaError(f"{openmetrics}: a sample without a timestamp: {line!r}")
            yield f"{head} {int(Decimal(stamp) * 1000)}\n", 1


class VictoriaServer(ServerProcess):
    """One single-node VictoriaMetrics process holding the samples of ``openmetrics``."""

    def __init__(
        self, openmetrics: Path | Sequence[Path], workdir: Path, binary: Path | None = None
    ) -> None:
        self.openmetrics = [openmetrics] if isinstance(openmetrics, Path) else list(openmetrics)
        self.workdir = workdir
        self.binary = binary or find_binary()
        self.data_dir = workdir / "data"
        self.port = 0
        self.samples = 0  # rows imported
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "victoria-metrics.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 60.0) -> VictoriaServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = 0  # each start on a free port
        failed = self._launch(ready_timeout)
        if failed is not None:
            raise VictoriaError(f"victoria-metrics did not start on {self.url} {failed}")
        try:
            self._import()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        args = [
            str(self.binary),
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-retentionPeriod=100y",
            # Imported samples are visible at once, not 30 s after their timestamp.
            "-search.latencyOffset=0s",
            "-loggerLevel=WARN",
        ]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _wait_ready(self, timeout: float) -> bool:
        return wait_ready(self._process, f"{self.url}/health", timeout)

    def _import(self, timeout: float = 120.0) -> None:
        for path in self.openmetrics:
            batch: list[str] = []
            size = 0
            for line, count in exposition_lines(path):
                batch.append(line)
                size += len(line)
                self.samples += count
                if size >= _BATCH:
                    self._post("".join(batch))
                    batch, size = [], 0
            if batch:
                self._post("".join(batch))
        # Ingestion is asynchronous: wait until every row is stored, then make it searchable.
        deadline = time.monotonic() + timeout
        while True:
            stored, ignored = self._rows()
            if ignored:
                raise VictoriaError(f"victoria-metrics ignored {ignored:g} of {self.samples} "
                                    f"imported rows; its log ends with:\n{tail(self.log())}")
            if stored >= self.samples:
                break
            if time.monotonic() > deadline:
                raise VictoriaError(f"victoria-metrics stored {stored:g} of {self.samples} "
                                    f"rows within {timeout:g}s")
            time.sleep(0.1)
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=60):
            pass

    def _post(self, text: str) -> None:
        request = urllib.request.Request(f"{self.url}/api/v1/import/prometheus",
                                         data=text.encode("utf-8"), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120):
                pass
        except urllib.error.HTTPError as exc:
            raise VictoriaError(f"import refused ({exc.code}): "
                                f"{exc.read().decode(errors='replace')[:500]}") from None

    def _rows(self) -> tuple[float, float]:
        """Rows added to storage, and rows it ignored (out of retention, too far ahead...)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            text = response.read().decode("utf-8")
        added = sum(float(v) for v in re.findall(
            r"^vm_rows_added_to_storage_total(?:\{[^}]*\})? (\S+)$", text, re.M))
        ignored = sum(float(v) for v in re.findall(
            r"^vm_rows_ignored_total(?:\{[^}]*\})? (\S+)$", text, re.M))
        return added, ignored

    def log(self) -> str:
        return self._log.read_text(encoding="utf-8", errors="replace")

