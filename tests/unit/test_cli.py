"""The terminal transport on the embedded demo workload: what a person sees and the exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main


def run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(args, out), out.getvalue()


@pytest.fixture(autouse=True)
def no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for command in ("demo", "check-config", "endpoints", "query"):
        assert command in text


def test_demo_without_a_terminal_rejects_an_unknown_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The walk itself runs as a real process in tests/integration/test_demo_walk.py.
    with pytest.raises(SystemExit) as info:
        main(["demo", "--no-such-option"])
    assert info.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_query_resolves_a_near_miss_and_says_so() -> None:
    code, text = run(["query", "p99", "ordr history", "--window", "7d"])
    assert code == 0
    assert "(read 'ordr history' as GET /api/orders/history)" in text
    assert text.splitlines()[1].startswith("p99 of GET /api/orders/history, last 7d: ")


def test_query_service_signal_takes_a_service_name() -> None:
    code, text = run(["query", "cpu", "search", "--window", "3d"])
    assert code == 0
    assert text.startswith("cpu use of search, last 3d: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "p95", "chekout-xyz-unknown"], "No endpoint"),
        (["query", "p95", "orders"], "Name one of them."),
        (["query", "speed", "checkout"], "SIGNAL: expected one of"),
        (["query", "p95", "checkout", "--window", "soon"], "--window: expected a duration"),
        (["endpoints", "--at", "yesterday"], "--at: expected a time like"),
    ],
)
def test_usage_errors_exit_2_with_a_specific_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = run(args)
    assert code == 2
    assert text == ""
    assert message in capsys.readouterr().err


def test_a_bad_config_file_exits_2_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("detection:\n  interval: soon\n")
    code, _ = run(["check-config", "--config", str(bad)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{bad}: detection.interval: expected a duration like '10m', got 'soon'" in err
    assert "Traceback" not in err


def test_config_from_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "env.yaml"
    bad.write_text("metrics: {backend: graphite}\n")
    monkeypatch.setenv("PERFBOT_CONFIG", str(bad))
    code, _ = run(["endpoints"])
    assert code == 2
    assert f"{bad}: metrics.backend" in capsys.readouterr().err


def test_check_config_on_defaults_is_all_green() -> None:
    code, text = run(["check-config"])
    assert code == 0
    assert "built-in defaults" in text
    assert "✗" not in text
    assert "12 endpoints in 7 services" in text
