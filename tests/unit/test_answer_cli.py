"""``perfbot ask`` on the demo workload: what a person sees, the chart file and the exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import DEMO_END

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A three-day demo (quick to generate) at DEMO_END, away from any local perfbot.yaml."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    path = tmp_path / "perfbot.yaml"
    path.write_text("metrics:\n  demo_days: 3\n", encoding="utf-8")
    return ["--config", str(path), "--at", DEMO_END.isoformat()]


def run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(args, out), out.getvalue()


def test_ask_answers_with_a_headline_table_and_notes(config: list[str]) -> None:
    code, text = run(["ask", "p95 latency of checkout over the last 24h", *config])
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("p95 of POST /api/checkout, last 24h: ")
    assert set(lines[1]) <= set("▁▂▃▄▅▆▇█ ")  # the sparkline
    assert any(line.startswith("FIGURE") for line in lines)
    assert any(line.startswith("note: p95 over all requests in the window") for line in lines)


def test_ask_takes_the_question_as_several_words(config: list[str]) -> None:
    code, text = run(["ask", "top", "3", "slowest", "endpoints", *config])
    assert code == 0
    assert text.startswith("Top 3 endpoints by p95, last 24h")


def test_ask_writes_the_chart(config: list[str], tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    code, text = run(["ask", "checkout p95 vs yesterday", "--chart", str(target), *config])
    assert code == 0
    assert target.read_bytes().startswith(PNG_MAGIC)
    assert f"chart: {target} — Line chart of p95 of POST /api/checkout" in text


def test_ask_says_when_there_is_no_chart(config: list[str], tmp_path: Path) -> None:
    target = tmp_path / "none.png"
    code, text = run(["ask", "cost of the orders service this month", "--chart", str(target),
                      *config])
    assert code == 0
    assert not target.exists()
    assert "(no chart for this answer)" in text


def test_help_exits_0_with_examples(config: list[str]) -> None:
    code, text = run(["ask", "what can you do?", *config])
    assert code == 0
    assert text.count("  • ") >= 3


def test_no_data_exits_1_with_a_clear_message(
    config: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = run(["ask", "p95 of checkout on nov 1", *config])
    assert code == 1
    assert text == ""
    err = capsys.readouterr().err
    assert err.startswith("perfbot: No data for p95 of POST /api/checkout, Sun 1 Nov")
    assert "Traceback" not in err


def test_an_unwritable_chart_path_is_a_usage_error(
    config: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(["ask", "checkout p95", "--chart", str(tmp_path / "no" / "such" / "x.png"),
                   *config])
    assert code == 2
    assert "--chart: cannot write" in capsys.readouterr().err
