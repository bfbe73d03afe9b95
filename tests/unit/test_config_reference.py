"""docs/configuration.md is what `perfbot config reference` prints from the settings' models
now: a model changed without regenerating it fails here (issue 16, "Docs")."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.config_reference import keys, render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_checked_in_reference_is_what_the_command_prints() -> None:
    out = io.StringIO()
    assert main(["config", "reference"], out=out) == 0
    assert REFERENCE.read_text(encoding="utf-8") == out.getvalue(), (
        "docs/configuration.md is stale: run `perfbot config reference > docs/configuration.md`")


def test_every_setting_has_a_description() -> None:
    undescribed = [key.path for key in keys() if not key.description]
    assert undescribed == []


def test_every_key_of_the_example_file_is_in_the_reference() -> None:
    # The reference walks nested models, lists and maps: the keys people write are all there.
    paths = {key.path for key in keys()}
    for path in ("metrics.prometheus.url", "catalog.endpoints[].slo.latency.threshold",
                 "catalog.services.<name>.owner", "oncall.policies[].steps[].notify_pagerduty"
                 ".routing_key_env", "digests.saturation.cpu", "server.listen"):
        assert path in paths


def test_environment_variables_follow_the_settings_loader() -> None:
    env = {key.path: key.env for key in keys()}
    assert env["metrics.prometheus.url"] == "PERFBOT_METRICS__PROMETHEUS__URL"
    assert env["slack_bot_token"] == "SLACK_BOT_TOKEN"  # Slack's own name, no prefix
    assert env["alertmanager_token"] == "PERFBOT_ALERTMANAGER_TOKEN"
    assert env["catalog.endpoints[].owner"] == ""  # set with the whole list, as JSON


def test_defaults_read_as_they_are_written_in_the_file() -> None:
    text = render()
    assert "`{latency: {quantile: 0.95, threshold: 500ms}, error_ratio: 0.01}`" in text
    assert "| `detection.interval` | duration | `5m` | `PERFBOT_DETECTION__INTERVAL` |" in text


def test_the_named_environment_variables_set_their_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import timedelta

    from bot.config import load_settings

    env = {key.path: key.env for key in keys()}
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    monkeypatch.setenv(env["detection.interval"], "7m")
    monkeypatch.setenv(env["metrics.prometheus.url"], "http://prom.example:9090")
    monkeypatch.setenv(env["server.listen"], "127.0.0.1:9999")
    settings = load_settings()
    assert settings.detection.interval == timedelta(minutes=7)
    assert settings.metrics.prometheus.url == "http://prom.example:9090"
    assert settings.server.port == 9999
