"""A real Alertmanager for tests (Debian's ``prometheus-alertmanager``) on a free loopback
port, its one receiver a webhook to the bot with a bearer token. Alerts are fed through its
own API (``POST /api/v2/alerts``), so what the bot receives is the real webhook, grouped,
repeated and resolved by Alertmanager itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from tests.prometheus_server import free_port, missing_part

INSTALL_HINT = ("install Debian's package: apt-get install -y prometheus-alertmanager "
                "(or run bash tests/run.sh)")


def find_alertmanager() -> Path:
    found = shutil.which("prometheus-alertmanager") or (
        "/usr/bin/prometheus-alertmanager"
        if os.access("/usr/bin/prometheus-alertmanager", os.X_OK) else None)
    if found is None:
        missing_part(f"prometheus-alertmanager not found: {INSTALL_HINT}")
    return Path(found)


class AlertmanagerServer:
    """``with AlertmanagerServer(tmp, webhook_url, token) as am:`` → ``am.url``. Short
    timings: ``group_wait`` 1s, ``group_interval`` 2s, ``repeat_interval`` ``repeat``."""

    def __init__(self, workdir: Path, webhook_url: str, token: str, *,
                 repeat: str = "4s", group_by: tuple[str, ...] = ("alertname",),
                 port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(yaml.safe_dump({
            "global": {"resolve_timeout": "1m"},
            "route": {"receiver": "perfbot", "group_by": list(group_by), "group_wait": "1s",
                      "group_interval": "2s", "repeat_interval": repeat},
            "receivers": [{"name": "perfbot", "webhook_configs": [{
                "url": webhook_url, "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
            }]}],
        }), encoding="utf-8")
        self.log = workdir / "alertmanager.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AlertmanagerServer:
        binary = find_alertmanager()
        storage = self.workdir / "am-data"
        storage.mkdir(exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(binary), f"--config.file={self.config}", f"--storage.path={storage}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                 "--log.level=debug"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise AssertionError(f"Alertmanager did not start:\n{self.output()}")
            time.sleep(0.1)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def post(self, labels: dict[str, str], *, annotations: dict[str, str] | None = None,
             starts: datetime | None = None, ends: datetime | None = None) -> None:
        """Raise (or, with ``ends`` in the past, resolve) an alert, as Prometheus does."""
        alert: dict[str, Any] = {"labels": labels, "annotations": annotations or {},
                                 "generatorURL": "http://prometheus.test/graph"}
        if starts is not None:
            alert["startsAt"] = starts.astimezone(UTC).isoformat()
        if ends is not None:
            alert["endsAt"] = ends.astimezone(UTC).isoformat()
        answer = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=5)
        assert answer.status_code == 200, answer.text

    def resolve(self, labels: dict[str, str], starts: datetime) -> None:
        self.post(labels, starts=starts, ends=datetime.now(UTC) - timedelta(seconds=1))

    def silences(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v2/silences", timeout=5)
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found

    def notifications(self) -> int:
        """Webhook notifications Alertmanager has sent successfully so far (its metric)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("alertmanager_notifications_total") and 'integration="webhook"' \
                    in line:
                total += float(line.rsplit(" ", 1)[1])
        return int(total)
