"""A running bot's endpoint catalog follows the metrics server, and survives its outages."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import Perfbot
from bot.clock import FakeClock
from bot.config import Settings
from bot.metrics.base import Endpoint, UnreachableError, Window
from bot.metrics.prometheus import PrometheusBackend
from tests.conftest import DEMO_END, prometheus_backend_for
from tests.prometheus_server import PrometheusServer, find_binaries, tiny_openmetrics


class Counted:
    """The real backend, counting how often discovery asked the server."""

    def __init__(self, inner: PrometheusBackend) -> None:
        self.inner, self.discoveries = inner, 0

    def endpoints(self, window: Window | None = None) -> list[Endpoint]:
        self.discoveries += 1
        return self.inner.endpoints(window)


def test_the_catalog_is_asked_again_after_refresh_and_kept_while_prometheus_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "tiny.om"
    data.write_text(tiny_openmetrics(DEMO_END), encoding="utf-8")
    clock = FakeClock(DEMO_END)
    server = PrometheusServer(data, tmp_path / "prom", find_binaries()).start()
    try:
        backend = Counted(prometheus_backend_for(server.url, retries=0))
        bot = Perfbot(settings=Settings(), backend=backend, clock=clock)
        first = bot.catalog
        assert "/api/items" in {info.endpoint.route for info in first.entries}
        clock.advance(timedelta(minutes=9))
        assert bot.catalog is first and backend.discoveries == 1  # within catalog.refresh
        clock.advance(timedelta(minutes=2))
        assert bot.catalog is not first and backend.discoveries == 2
        again = bot.catalog
    finally:
        server.stop()
    clock.advance(timedelta(minutes=11))
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        assert bot.catalog is again  # Prometheus is down: the last catalog stays
    assert backend.discoveries == 3
    assert "kept the endpoint catalog" in caplog.text and "connection refused" in caplog.text
    assert bot.catalog is again and backend.discoveries == 3  # not asked on every question


def test_without_any_catalog_yet_the_outage_is_reported() -> None:
    backend = prometheus_backend_for("http://127.0.0.1:9", retries=0)
    bot = Perfbot(settings=Settings(), backend=backend, clock=FakeClock(DEMO_END))
    with pytest.raises(UnreachableError, match="not reachable"):
        _ = bot.catalog
