"""Alertmanager's alerts are mapped on the catalog the bot already has: a metrics server
that hangs while the catalog is due for rediscovery must not hold an alert (the webhook
takes one notification at a time, so it would hold every alert behind it)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.alerts.alertmanager import parse_payload
from bot.clock import FakeClock
from bot.metrics.base import Endpoint
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.webhooks.alertmanager import receive
from tests.slack_incidents import perfbot_on

HANG = 60.0  # seconds discovery hangs; the test waits for the alert half of that


class HangingDiscovery(DemoBackend):
    """The demo's data; once ``hang`` is set, discovering endpoints hangs as a metrics
    server that accepts the connection and never answers."""

    def __init__(self, workload: DemoWorkload) -> None:
        super().__init__(workload)
        self.hang = False
        self.asked = threading.Event()
        self.release = threading.Event()

    def endpoints(self) -> list[Endpoint]:
        if self.hang:
            self.asked.set()
            self.release.wait(HANG)
        return super().endpoints()


def notification(service: str) -> bytes:
    body: dict[str, Any] = {
        "version": "4", "groupKey": "{}:{alertname=\"x\"}", "status": "firing",
        "receiver": "perfbot",
        "alerts": [{"status": "firing", "labels": {"alertname": "HighLatency",
                                                   "service": service},
                    "startsAt": "2026-12-03T09:00:00Z", "fingerprint": "f00d"}]}
    return json.dumps(body).encode()


def test_a_hung_metrics_server_does_not_hold_an_alert(
        tmp_path: Path, demo_workload: DemoWorkload) -> None:
    backend = HangingDiscovery(demo_workload)
    perfbot = perfbot_on(f"sqlite:///{tmp_path / 'perfbot.db'}", backend)
    known = perfbot.catalog
    service = known.entries[0].service
    backend.hang = True
    assert isinstance(perfbot.clock, FakeClock)
    perfbot.clock.advance(perfbot.settings.catalog.refresh + timedelta(minutes=1))

    stored: list[str] = []
    worker = threading.Thread(
        target=lambda: stored.extend(receive(perfbot, parse_payload(notification(service)))),
        daemon=True)
    worker.start()
    try:
        worker.join(HANG / 2)
        assert not worker.is_alive(), "the alert waited for the hung metrics server"
        assert not backend.asked.is_set()
        assert stored == ["INC-1"]
        incident = perfbot.incident_store.get(1)
        assert incident is not None
        assert incident.alert.service == service
    finally:
        backend.release.set()
        worker.join()
