"""The Dockerfile, docker-compose.yml and deploy/ agree with each other and with the bot
(issue 16, "Deploy"): no Docker engine runs here, so what the files say is checked. The
commands themselves run in tests/integration/test_deploy.py."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import make_url

from bot.config import load_settings
from bot.config_reference import keys
from bot.webhooks.alertmanager import PATH as ALERTMANAGER_PATH
from tests.deploy_files import (
    REPO,
    compose,
    deploy_yaml,
    dockerfile,
    healthcheck_command,
    mounts,
    one,
    parse_dockerfile,
    stages,
)

HEALTHZ = "/healthz"


@pytest.fixture(autouse=True)
def _file_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The settings as the container reads them: the tests' own PERFBOT_* (conftest sets
    # server.listen to a free port) would override the file.
    for name in list(os.environ):
        if name.startswith("PERFBOT_"):
            monkeypatch.delenv(name)


def _env_name(path: str) -> str:
    return next(key.env for key in keys() if key.path == path)


def _bot_port() -> int:
    return load_settings(REPO / "deploy" / "perfbot.yaml").server.port


def test_the_parser_reads_continuations_comments_and_stages() -> None:
    parsed = parse_dockerfile('FROM a AS b\n# c\nRUN x \\\n  # inside\n  && y\nFROM d\n'
                              'CMD ["run"]\n')
    assert [(i.stage, i.keyword, i.text) for i in parsed] == [
        (0, "FROM", "a AS b"), (0, "RUN", "x && y"), (1, "FROM", "d"), (1, "CMD", '["run"]')]
    assert parsed[-1].exec_form == ["run"]


def test_the_image_is_built_in_one_stage_and_run_slim_as_a_user_in_another() -> None:
    builder, runtime = stages(dockerfile())
    assert one(builder, "FROM").text.endswith(" AS build")
    assert "slim" in one(runtime, "FROM").text
    assert any(i.keyword == "COPY" and i.text.startswith("--from=build ") for i in runtime)
    assert any("pip wheel" in i.text for i in builder if i.keyword == "RUN")
    # The playbooks are in the build context the wheel is made from (they ship inside it).
    assert any(i.keyword == "COPY" and i.text.split()[0] == "playbooks" for i in builder)
    user = one(runtime, "USER").text
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    keywords = [i.keyword for i in runtime]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")


def test_the_entry_point_is_perfbot_run() -> None:
    runtime = stages(dockerfile())[-1]
    assert one(runtime, "ENTRYPOINT").exec_form == ["perfbot"]
    assert one(runtime, "CMD").exec_form == ["run"]


def test_the_healthcheck_port_is_the_exposed_and_the_listened_one() -> None:
    runtime = stages(dockerfile())[-1]
    command = healthcheck_command(runtime)
    assert command[:2] == ["python", "-c"]  # no curl in the slim image
    url = next(word for word in command[2].replace("'", " ").split() if "://" in word)
    parts = urlsplit(url)
    assert (parts.hostname, parts.path) == ("127.0.0.1", HEALTHZ)
    assert parts.port == _bot_port() == int(one(runtime, "EXPOSE").text)


def test_compose_names_an_image_for_every_service_and_declares_its_volumes() -> None:
    data = compose()
    services = data["services"]
    assert {"perfbot", "postgres", "prometheus", "alertmanager", "demo-openmetrics",
            "demo-blocks"} <= set(services)
    named = set(data["volumes"])
    used = set()
    for name, service in services.items():
        assert service.get("image"), f"{name} has no image"
        for target, source in mounts(service).items():
            assert target.startswith("/"), f"{name}: {target}"
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is missing"
            else:
                assert source in named, f"{name} uses volume {source}, not declared"
                used.add(source)
    assert used == named, f"declared and never used: {named - used}"
    # The bot and the one-shot that writes the demo data run the image this Dockerfile builds.
    assert services["perfbot"]["build"] == "."
    assert services["demo-openmetrics"]["image"] == services["perfbot"]["image"]


def test_one_port_for_the_bot_everywhere() -> None:
    """server.listen = compose's port = Prometheus's scrape target = Alertmanager's webhook."""
    port = _bot_port()
    services = compose()["services"]
    published = [str(p).rsplit(":", 1)[-1] for p in services["perfbot"]["ports"]]
    assert published == [str(port)]

    scrape = deploy_yaml("prometheus.yml")["scrape_configs"]
    bot_jobs = [job for job in scrape if job["job_name"] == "perfbot"]
    assert len(bot_jobs) == 1 and bot_jobs[0]["metrics_path"] == "/metrics"
    assert bot_jobs[0]["static_configs"][0]["targets"] == [f"perfbot:{port}"]

    hooks = deploy_yaml("alertmanager.yml")["receivers"][0]["webhook_configs"]
    assert [hook["url"] for hook in hooks] == [f"http://perfbot:{port}{ALERTMANAGER_PATH}"]


def test_the_bot_finds_its_settings_store_and_neighbours_by_service_name() -> None:
    services = compose()["services"]
    bot = services["perfbot"]
    env = bot["environment"]
    assert mounts(bot)[env["PERFBOT_CONFIG"]] == "./deploy/perfbot.yaml"
    settings = load_settings(REPO / "deploy" / "perfbot.yaml")  # valid, as the bot reads it
    assert settings.metrics.backend == "prometheus"
    prometheus = urlsplit(settings.metrics.prometheus.url)
    assert prometheus.hostname == "prometheus" and prometheus.port == 9090
    assert urlsplit(settings.alertmanager.url or "").hostname == "alertmanager"
    assert "prometheus" in bot["depends_on"]

    storage = _env_name("storage.url")
    url = make_url(env[storage].replace("${POSTGRES_PASSWORD:-perfbot}", "perfbot"))
    postgres = services["postgres"]["environment"]
    assert (url.host, url.username, url.database) == (
        "postgres", postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
    assert url.drivername == "postgresql+psycopg"  # the image installs the postgres extra
    assert bot["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_alertmanager_sends_the_token_the_bot_checks() -> None:
    data = compose()
    token_env = _env_name("alertmanager_token")
    assert token_env == "PERFBOT_ALERTMANAGER_TOKEN"
    assert token_env in data["services"]["perfbot"]["environment"]
    (secret,) = data["services"]["alertmanager"]["secrets"]
    assert data["secrets"][secret] == {"environment": token_env}
    hook = deploy_yaml("alertmanager.yml")["receivers"][0]["webhook_configs"][0]
    assert hook["http_config"]["authorization"] == {
        "type": "Bearer", "credentials_file": f"/run/secrets/{secret}"}


def test_the_config_files_are_mounted_where_the_commands_read_them() -> None:
    services = compose()["services"]
    configs = {}
    for name in ("prometheus", "alertmanager"):
        (config,) = [arg.removeprefix("--config.file=") for arg in services[name]["command"]
                     if arg.startswith("--config.file=")]
        assert mounts(services[name])[config] == f"./deploy/{name}.yml"
        configs[name] = config
    for rules in deploy_yaml("prometheus.yml")["rule_files"]:
        # Relative to the config file: in the container as beside it in deploy/.
        target = str(Path(configs["prometheus"]).parent / rules)
        assert mounts(services["prometheus"])[target] == f"./deploy/{rules}"


def test_prometheus_starts_after_the_demo_data_is_in_its_volume() -> None:
    services = compose()["services"]
    done = {"condition": "service_completed_successfully"}
    assert services["prometheus"]["depends_on"]["demo-blocks"] == done
    assert services["demo-blocks"]["depends_on"]["demo-openmetrics"] == done
    written = mounts(services["demo-openmetrics"])
    read = mounts(services["demo-blocks"])
    assert written["/data"] == read["/backfill"]
    assert read["/prometheus"] == mounts(services["prometheus"])["/prometheus"]
