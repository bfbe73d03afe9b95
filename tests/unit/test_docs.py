"""The samples in the README and docs/ are what the commands print now, not written by hand:
each sample's lines (``…`` marks a cut) appear, in order, in the command's output."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.playbooks.loading import load_playbooks

REPO = Path(__file__).resolve().parents[2]
AT = "2026-11-23T12:00Z"


def _section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _samples(section: str) -> list[list[str]]:
    blocks = re.findall(r"```\n(.*?)```", section, flags=re.S)
    return [[line for line in block.splitlines() if line.strip() and line.strip() != "…"]
            for block in blocks]


def _printed(args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    monkeypatch.chdir(tmp_path)  # the built-in demo, whatever ./perfbot.yaml says
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    out = io.StringIO()
    assert main([*args, "--at", AT], out=out) == 0
    return out.getvalue().splitlines()


def _in_order(sample: list[str], printed: list[str]) -> None:
    position = 0
    for line in sample:
        assert line in printed[position:], f"not printed (after line {position}): {line!r}"
        position = printed.index(line, position) + 1


@pytest.mark.parametrize(("index", "args"), [
    (0, ["ask", "p95 latency of checkout over the last 24h"]),
    (1, ["detect"]),
    (2, ["digest", "daily", "--team", "orders-team"]),
])
def test_the_readme_samples_are_what_the_demo_prints(
    index: int, args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    samples = _samples(_section("What it posts"))
    assert len(samples) == 3
    _in_order(samples[index], _printed(args, monkeypatch, tmp_path))


def test_the_example_playbook_of_the_guide_is_valid() -> None:
    result = load_playbooks(REPO / "docs" / "examples")
    assert result.problems == []
    assert [playbook.id for playbook in result.playbooks] == ["checkout-slow-provider"]
