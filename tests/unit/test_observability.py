"""The log handler of ``perfbot run`` masks every secret the process holds, in text and in
JSON, messages and tracebacks alike; each run's metrics start from zero."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.cli_slack import _secrets
from bot.config import Settings
from bot.observability import Telemetry, install, log_handler, ready_app, telemetry

BOT_TOKEN, ROUTING_KEY, DB_PASSWORD = "xoxb-real-bot-token", "pd-routing-key-123", "pa55word!"


def settings() -> Settings:
    policy = {"name": "p", "steps": [{"notify_pagerduty": {"routing_key_env": "PD_KEY"}}]}
    return Settings.model_validate({
        "slack_bot_token": BOT_TOKEN,
        "storage": {"url": f"postgresql+psycopg://bot:{DB_PASSWORD}@db/perfbot"},
        "oncall": {"policies": [policy], "routing": {"default": "p"}}})


@pytest.mark.parametrize("form", ["text", "json"])
def test_every_secret_is_masked_in_messages_arguments_and_tracebacks(form: str) -> None:
    secrets = _secrets(settings(), {"PD_KEY": ROUTING_KEY})
    assert set(secrets) >= {BOT_TOKEN, ROUTING_KEY, DB_PASSWORD}
    stream = io.StringIO()
    logger = logging.getLogger(f"test.observability.{form}")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(log_handler(stream, form, secrets))
    logger.info("token %s, key %s", BOT_TOKEN, ROUTING_KEY)
    try:
        raise RuntimeError(f"could not connect with {DB_PASSWORD}")
    except RuntimeError:
        logger.exception("the store failed")
    written = stream.getvalue()
    for secret in (BOT_TOKEN, ROUTING_KEY, DB_PASSWORD):
        assert secret not in written
    assert written.count("***") >= 3
    if form == "json":
        lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
        assert [e["message"] for e in lines] == ["token ***, key ***", "the store failed"]
        assert {"time", "level", "logger"} <= set(lines[0])
        assert "RuntimeError: could not connect with ***" in lines[1]["exception"]


def test_a_fresh_telemetry_starts_from_zero_and_every_name_is_perfbots() -> None:
    telemetry().questions.labels("answered").inc()
    fresh = install(Telemetry())
    families = list(text_string_to_metric_families(fresh.exposition().decode()))
    assert families and all(f.name.startswith("perfbot_") for f in families)
    questions = next(f for f in families if f.name == "perfbot_questions")
    assert questions.samples == []  # the earlier run's answer is not counted here


def test_readyz_reuses_its_checks_for_a_second_so_a_probe_flood_is_not_a_query_flood() -> None:
    calls: list[str] = []
    now = [100.0]

    def metrics() -> str | None:
        calls.append("metrics")
        return "not answering" if now[0] >= 102 else None

    app = ready_app({"metrics_server": metrics}, lambda: False, clock=lambda: now[0])

    def probe() -> tuple[str, dict[str, object]]:
        said: list[str] = []
        body = b"".join(app({"REQUEST_METHOD": "GET"}, lambda s, h: said.append(s)))
        return said[0], json.loads(body)

    assert [probe()[0] for _ in range(50)] == ["200 OK"] * 50
    assert calls == ["metrics"]
    now[0] = 102.0  # a second on: checked again, and it fails
    status, body = probe()
    assert status == "503 Service Unavailable" and calls == ["metrics"] * 2
    assert body == {"ready": False, "failing": ["metrics_server"], "leader": False,
                    "checks": {"metrics_server": "not answering"}}
