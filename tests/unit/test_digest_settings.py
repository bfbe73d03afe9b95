"""``digests:`` settings: defaults, schedules, and errors naming the field."""

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "perfbot.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path), path


def test_defaults(tmp_path: Path) -> None:
    settings, _ = load(tmp_path, "timezone: UTC\n")
    assert settings.digests.grace == timedelta(hours=6)
    assert settings.digests.slo_window == timedelta(days=28)
    assert (settings.digests.saturation.cpu, settings.digests.saturation.memory) == (0.9, 0.9)
    assert settings.digests.schedules == []


def test_schedules_take_the_settings_zone_by_default(tmp_path: Path) -> None:
    settings, _ = load(tmp_path, (
        "timezone: Europe/Berlin\ndigests:\n  grace: 2h\n  schedules:\n"
        "    - {when: 'weekly mon 09:00', channel: '#managers'}\n"
        "    - {when: 'daily 08:30 America/New_York', channel: '#payments', team: payments}\n"))
    first, second = settings.digests.schedules
    assert first.parsed(settings.timezone).zone == "Europe/Berlin"
    assert first.parsed(settings.timezone).day == "mon"
    assert second.parsed(settings.timezone).zone == "America/New_York"
    assert second.scope.team == "payments"
    assert settings.digests.grace == timedelta(hours=2)


@pytest.mark.parametrize(("yaml", "field", "says"), [
    ("digests:\n  schedules:\n    - {when: 'hourly', channel: '#x'}\n",
     "digests.schedules[0].when", "expected 'daily HH:MM [Zone]'"),
    ("digests:\n  schedules:\n    - {when: 'daily 09:00 Mars/Base', channel: '#x'}\n",
     "digests.schedules[0].when", "IANA time zone"),
    ("digests:\n  schedules:\n    - {when: 'daily 09:00', channel: '#x', team: a, service: b}\n",
     "digests.schedules[0]", "a team or a service, not both"),
    ("digests:\n  schedules:\n    - {when: 'daily 09:00'}\n",
     "digests.schedules[0].channel", ""),
    ("digests:\n  grace: soon\n", "digests.grace", "expected a duration"),
    ("digests:\n  grace: 0m\n", "digests.grace", "positive duration"),
    ("digests:\n  saturation: {cpu: 1.5}\n", "digests.saturation.cpu", ""),
    ("digests:\n  slo_windw: 28d\n", "digests.slo_windw", "unknown setting"),
])
def test_bad_values_name_the_field(tmp_path: Path, yaml: str, field: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, yaml)
    message = str(info.value)
    assert f": {field}:" in message
    assert says in message
