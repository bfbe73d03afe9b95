from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings, resolve_config_path

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "perfbot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_run_the_demo_on_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    settings = load_settings(None)
    assert settings.metrics.backend == "demo"
    assert settings.storage.url.startswith("sqlite://")
    assert settings.slack_bot_token is None


def test_example_file_is_valid() -> None:
    settings = load_settings(REPO / "perfbot.example.yaml")
    assert settings.metrics.backend == "prometheus"
    assert settings.oncall.policies[0].steps[0].wait == timedelta(minutes=10)
    assert settings.oncall.routing is not None and settings.oncall.routing.default == "sre"
    assert settings.catalog.endpoints[0].slo is not None


def test_bad_duration_names_file_field_and_expectation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "oncall:\n  policies:\n    - name: sre\n      steps:\n"
        "        - {notify_users: [U1], wait: 0m}\n        - {notify_users: [U2], wait: soon}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == (
        f"{path}: oncall.policies[0].steps[1].wait: expected a duration like '10m', got 'soon'"
    )


def test_every_problem_is_reported_once(tmp_path: Path) -> None:
    path = write(
        tmp_path, "metrics:\n  backend: prom\ncatalog:\n  exclud: []\ntimezone: Mars/Base\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert any("metrics.backend" in line and "'prom'" in line for line in lines)
    assert any("catalog.exclud: unknown setting" in line for line in lines)
    assert any("timezone: expected an IANA time zone" in line for line in lines)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics:\n  backend: [demo\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:1: not valid YAML"):
        load_settings(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping of settings at the top, got a list"):
        load_settings(write(tmp_path, "- a\n- b\n"))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.yaml")


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        load_settings(write(tmp_path, "slack_bot_token: xoxb-123\n"))


@pytest.mark.parametrize(("text", "where", "variable"), [
    ("SLACK_BOT_TOKEN: xoxb-123\n", "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN"),
    ("Slack-App-Token: xapp-123\n", "Slack-App-Token", "SLACK_APP_TOKEN"),
    ("PERFBOT_PROMETHEUS_PASSWORD: hunter2\n", "PERFBOT_PROMETHEUS_PASSWORD",
     "PERFBOT_PROMETHEUS_PASSWORD"),
    ("slack:\n  admins: []\n  BOT_TOKEN: xoxb-123\n", "slack.BOT_TOKEN", "SLACK_BOT_TOKEN"),
    ("slack:\n  signing_secret: abc\n", "slack.signing_secret", "SLACK_SIGNING_SECRET"),
    ("metrics:\n  prometheus:\n    Password: hunter2\n", "metrics.prometheus.Password",
     "PERFBOT_PROMETHEUS_PASSWORD"),
    ("oncall:\n  policies:\n    - {name: sre, slack_bot_token: xoxb-123}\n",
     "oncall.policies.0.slack_bot_token", "SLACK_BOT_TOKEN"),
    ("oncall:\n  policies:\n    - {name: pd, steps: [{notify_pagerduty: {routing_key: abc}}]}"
     "\n", "oncall.policies.0.steps.0.notify_pagerduty.routing_key",
     "an environment variable and name it in routing_key_env"),
    ("oncall:\n  policies:\n    - {name: h, steps: [{notify_webhook: {Secret: hunter2}}]}\n",
     "oncall.policies.0.steps.0.notify_webhook.Secret",
     "an environment variable and name it in secret_env"),
])
def test_secrets_in_the_file_are_refused_whatever_their_case_and_depth(
    tmp_path: Path, text: str, where: str, variable: str,
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    message = str(info.value)
    assert f": {where}: secrets are read from the environment only (set {variable})" in message
    assert "xoxb-123" not in message and "hunter2" not in message and "abc" not in message


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://bot:s3cr/etPW@db.example:notaport/perfbot",
    "postgresql+psycopg://bot:s3cr/et:PW@[::1/perfbot",
    "postgresql+psycopg://bot:s3cr/et@PW@db.example:99x/perfbot",
])
def test_an_unreadable_storage_url_is_refused_with_its_password_masked(
    tmp_path: Path, url: str,
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, f"storage:\n  url: '{url}'\n"))
    message = str(info.value)
    assert "perfbot.yaml: storage.url: expected a database URL like" in message
    assert "bot:***@" in message
    assert "s3cr" not in message and "PW" not in message


def test_environment_overrides_file_and_secrets_stay_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "metrics:\n  prometheus:\n    url: http://file:9090\n")
    monkeypatch.setenv("PERFBOT_METRICS__PROMETHEUS__URL", "http://env:9090")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    settings = load_settings(path)
    assert settings.metrics.prometheus.url == "http://env:9090"
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-secret-value"
    assert "xoxb-secret-value" not in repr(settings)
    assert "xoxb-secret-value" not in settings.model_dump_json()


def test_config_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(None, {}) is None
    (tmp_path / "perfbot.yaml").write_text("{}")
    assert resolve_config_path(None, {}) == Path("perfbot.yaml")
    assert resolve_config_path(None, {"PERFBOT_CONFIG": "/etc/p.yaml"}) == Path("/etc/p.yaml")
    assert resolve_config_path("x.yaml", {"PERFBOT_CONFIG": "/etc/p.yaml"}) == Path("x.yaml")


def test_settings_zone() -> None:
    assert Settings(timezone="Europe/Berlin").zone.key == "Europe/Berlin"


def test_cost_settings_default_to_a_price_table_and_read_the_example() -> None:
    settings = Settings()
    assert settings.cost.source == "auto"
    assert (settings.cost.core_hour, settings.cost.gib_hour) == (0.0316, 0.0042)
    assert settings.cost.services == {}
    example = load_settings(REPO / "perfbot.example.yaml")
    assert example.cost.services["payments"].fixed_monthly == 250


def test_bad_cost_settings_name_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cost:\n  source: guess\n  core_hour: -1\n  services:\n    shop: {monthly: 3}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert any("cost.source" in line and "'guess'" in line for line in lines)
    assert any("cost.core_hour: input should be greater than or equal to 0" in line
               for line in lines)
    assert any("cost.services.shop.monthly: unknown setting" in line for line in lines)


def test_playbooks_default_to_the_shipped_ones_outside_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    folder = load_settings(None).playbooks_dir
    assert folder.is_dir() and any(folder.glob("*.yaml"))
    (tmp_path / "playbooks").mkdir()
    assert load_settings(None).playbooks_dir == Path("playbooks")


def test_a_relative_playbooks_dir_is_relative_to_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "perfbot.yaml"
    config.parent.mkdir()
    config.write_text("playbooks_dir: team-playbooks\n")
    assert load_settings(config).playbooks_dir == tmp_path / "etc" / "team-playbooks"


def test_a_routing_key_given_where_its_variables_name_goes_is_refused_unshown(
    tmp_path: Path,
) -> None:
    key = "abcdef0123456789abcdef0123456789"
    text = ("oncall:\n  policies:\n    - name: pd\n      steps:\n"
            f"        - notify_pagerduty: {{routing_key_env: {key}}}\n"
            "  routing: {default: pd}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert ("oncall.policies[0].steps[0].notify_pagerduty.routing_key_env: expected the name "
            "of an environment variable like 'PERFBOT_PAGERDUTY_KEY'") in str(info.value)
    assert key not in str(info.value)


def test_the_stop_bound_defaults_under_kubernetes_grace_and_is_bounded(tmp_path: Path) -> None:
    assert Settings().server.stop_within == timedelta(seconds=25)  # SIGKILL comes at 30 s
    path = write(tmp_path, "server:\n  stop_within: 0s\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == (
        f"{path}: server.stop_within: expected a duration from 1s to 10m, got '0s'")
