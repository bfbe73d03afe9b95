"""The commands against a real Prometheus, configured by a settings file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import DEMO_END
from tests.prometheus_server import PrometheusServer, free_port


def settings_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "perfbot.yaml"
    path.write_text(
        "metrics:\n  backend: prometheus\n  prometheus:\n"
        f"    url: {url}\n    timeout: 2s\n    retries: 0\n"
        "catalog:\n  endpoints:\n    - match: POST /api/checkout\n      owner: payments-team\n"
        "    - match: /api/nothing-here\n      owner: nobody\n",
        encoding="utf-8",
    )
    return path


def run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(args, out), out.getvalue()


def test_check_config_reports_server_convention_and_unmatched_overrides(
    prometheus_server: PrometheusServer, tmp_path: Path
) -> None:
    config = settings_file(tmp_path, prometheus_server.url)
    code, text = run(["check-config", "--config", str(config), "--at", DEMO_END.isoformat()])
    assert code == 0, text
    assert "http_server_request_duration_seconds" in text
    assert "otel" in text
    assert "12 endpoints in 7 services" in text
    assert "'/api/nothing-here' in the settings matches no endpoint" in text


def test_endpoints_and_query_read_prometheus(
    prometheus_server: PrometheusServer, tmp_path: Path
) -> None:
    config = settings_file(tmp_path, prometheus_server.url)
    at = ["--config", str(config), "--at", DEMO_END.isoformat()]
    code, text = run(["endpoints", *at])
    assert code == 0
    row = next(line for line in text.splitlines() if line.startswith("POST /api/checkout"))
    assert row.rstrip().endswith("payments-team")
    code, text = run(["query", "errors", "checkout", "--window", "24h", *at])
    assert code == 0
    assert text.startswith("error ratio of POST /api/checkout, last 24h: ")


def test_unreachable_prometheus_is_a_clear_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = settings_file(tmp_path, f"http://127.0.0.1:{free_port()}")
    code, text = run(["check-config", "--config", str(config)])
    assert code == 1
    assert "✗ prometheus" in text and "not reachable" in text
    code, _ = run(["endpoints", "--config", str(config)])
    assert code == 1
    err = capsys.readouterr().err
    assert "not reachable" in err and "Traceback" not in err
