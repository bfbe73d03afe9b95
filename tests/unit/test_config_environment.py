"""The environment sets the settings as pydantic-settings' ``BaseSettings`` did, though
``Settings`` is a plain model that imports pydantic-settings only when a variable of ours is
set (issue 13, "Fast commands"): checked against a ``BaseSettings`` with the same fields and
the old configuration, on the same file and environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import create_model
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.config import ConfigError, Settings, environment_sets_settings, load_settings


class _OldSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERFBOT_", env_nested_delimiter="__",
                                      extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


_FIELDS: dict[str, Any] = {name: (f.annotation, f) for name, f in Settings.model_fields.items()}
OLD: Any = create_model("OldSettings", __base__=_OldSettings, **_FIELDS)

FILE: dict[str, Any] = {"metrics": {"backend": "prometheus", "prometheus": {"url": "http://file:9090",
                                                              "timeout": "5s"}},
        "slack": {"admins": ["UFILE"]}, "timezone": "Europe/Berlin"}

ENVIRONMENTS = [
    {},
    {"PERFBOT_CONFIG": "elsewhere.yaml", "PERFBOT_NOT_A_SETTING": "x"},
    {"PERFBOT_METRICS__PROMETHEUS__URL": "http://env:9090"},  # merged into the file's
    {"perfbot_timezone": "Asia/Tokyo", "Perfbot_Detection__Interval": "10m"},
    {"PERFBOT_SLACK__ADMINS": '["U1", "U2"]', "PERFBOT_SLACK__ANSWER_WORKERS": "4"},
    {"PERFBOT_METRICS": '{"demo_seed": 3, "prometheus": {"retries": 5}}',
     "PERFBOT_METRICS__PROMETHEUS__URL": "http://env:9090"},
    {"Slack_Bot_Token": "xoxb-1", "SLACK_SIGNING_SECRET": "s3cret",
     "PERFBOT_PROMETHEUS_PASSWORD": "pw", "PERFBOT_SLACK_BOT_TOKEN": "ignored"},
    {"PERFBOT_SERVER__LISTEN": "127.0.0.1:0", "PERFBOT_STORAGE__URL": "sqlite:///x.db"},
]


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = json.loads(model.model_dump_json())
    for secret in ("slack_bot_token", "slack_app_token", "slack_signing_secret",
                   "prometheus_password", "alertmanager_token"):
        value = getattr(model, secret)
        dumped[secret] = None if value is None else value.get_secret_value()
    return dumped


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_environment_sets_what_base_settings_set(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    for name in [n for n in os.environ if environment_sets_settings({n: ""})]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert _dump(Settings(**FILE)) == _dump(OLD(**FILE))
    assert _dump(Settings()) == _dump(OLD())


def test_without_our_variables_pydantic_settings_is_not_imported(tmp_path: Path) -> None:
    config = tmp_path / "perfbot.yaml"
    config.write_text("metrics:\n  backend: prometheus\n", encoding="utf-8")
    probe = ("import os, sys\n"
             "for n in [n for n in os.environ if n.upper().startswith(('PERFBOT_', 'SLACK_'))]:\n"
             "    del os.environ[n]\n"
             "from bot.config import load_settings\n"
             f"assert load_settings({str(config)!r}).metrics.backend == 'prometheus'\n"
             "print('pydantic_settings' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "False"


def test_a_bad_value_from_the_environment_names_its_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./perfbot.yaml: the defaults and the environment
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    monkeypatch.setenv("PERFBOT_DETECTION__INTERVAL", "soon")
    with pytest.raises(ConfigError, match=r"settings: detection\.interval: .*'soon'"):
        load_settings()
