"""The composition root."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import build
from bot.clock import Clock
from bot.config import MetricsSettings, Settings, StorageSettings
from bot.metrics.demo import DemoBackend
from tests.incident_store_contract import opened


def test_the_demo_clock_stands_at_the_end_of_its_data() -> None:
    # A real clock ticks on while a command runs; the demo's data ends when it was made.
    ticks = iter(datetime(2026, 11, 24, 15, 9, 59, tzinfo=UTC) + timedelta(minutes=n)
                 for n in range(100))
    bot = build(Settings(metrics=MetricsSettings(demo_days=2)), clock=Clock(lambda: next(ticks)),
                demo=True)
    assert isinstance(bot.backend, DemoBackend) and bot.demo is not None
    end = bot.demo.end
    assert bot.data_now() == bot.data_now() == end == datetime(2026, 11, 24, 15, 9, tzinfo=UTC)
    # Wall time goes on (deadlines pass in the demo too); the data's does not.
    assert bot.now() < bot.now()
    # "The last hour" has data at the bot's now, whenever it is asked.
    summary = bot.backend.summary(bot.data_now(), timedelta(hours=1))
    assert summary["throughput"].notna().all() and (summary["throughput"] > 0).all()


def test_questions_read_the_open_incidents_of_the_bots_store(tmp_path: Path) -> None:
    """``Sources.open_incidents`` is the incident store the bot keeps: "is anything broken"
    lists what is open there."""
    settings = Settings(metrics=MetricsSettings(demo_days=2),
                        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'perfbot.db'}"))
    bot = build(settings, demo=True)
    reader = bot.sources.open_incidents
    assert reader is not None
    assert reader() == [] and not (tmp_path / "perfbot.db").exists()  # a question creates none
    first = opened(bot.incident_store, endpoint="GET /api/orders/history")
    assert [incident.id for incident in reader()] == [first.id]
    bot.database.close()
