"""``perfbot detect --window 1d`` on the demo, run at several moments days after its incidents
began: each finding's start is the change (not the window's first point), and the evidence is
read against the baseline before the change, so the same playbook matches at every moment.
Through the CLI, in-process, on the built-in demo (placed relative to --at)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.metrics.demo.scenarios import Timeline

# Moments a day or more after the missing-index step and the search CPU step (both 3 days
# before --at's date), at night, midday and the dinner peak.
MOMENTS = ("2026-11-24T03:00Z", "2026-11-24T12:00Z", "2026-11-24T21:30Z")


@pytest.fixture(autouse=True)
def no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)


def detect(at: str) -> dict[str, str]:
    """The report's findings by title line."""
    out = io.StringIO()
    assert main(["detect", "--at", at, "--window", "1d"], out) == 0
    blocks: dict[str, str] = {}
    title = ""
    for line in out.getvalue().splitlines():
        if line[:1] and not line[:1].isspace() and ":" in line and "Detection at" not in line:
            title = line
            blocks[title] = ""
        elif title:
            blocks[title] += line + "\n"
    return blocks


def block(blocks: dict[str, str], words: str) -> str:
    found = [body for title, body in blocks.items() if words in title]
    assert len(found) == 1, (words, list(blocks))
    return found[0]


@pytest.mark.parametrize("at", MOMENTS)
def test_findings_start_at_the_change_and_match_the_same_playbook(at: str) -> None:
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    timeline = Timeline.place(moment, UTC)
    blocks = detect(at)

    orders = block(blocks, "p95 latency of GET /api/orders/history (orders) stepped up")
    step = timeline.history_step
    starts = {f"since {(step + timedelta(minutes=m)):%a %d %b %H:%M} UTC" for m in range(3)}
    assert any(s in orders for s in starts), orders  # not the window's first point
    assert "Playbook: Slow database query or missing index" in orders, orders

    search = block(blocks, "cpu of search stepped up")
    deploy = timeline.search_deploy
    starts = {f"since {(deploy + timedelta(minutes=m)):%a %d %b %H:%M} UTC" for m in range(6)}
    assert any(s in search for s in starts), search
    assert "Playbook: CPU saturation" in search, search
