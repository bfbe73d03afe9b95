"""``detection.sensitivity`` reaches the detector the bot runs (``perfbot detect`` and the
loop's ``detect_once``), not only the backtest: on the demo, every service at ``high`` finds
more than the defaults, and ``normal`` everywhere finds exactly what the defaults find."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.cli import main

SERVICES = ("delivery", "menu", "orders", "payments", "search", "users", "web")
AT = "2026-11-24T12:00Z"


@pytest.fixture(autouse=True)
def no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)


def findings(tmp_path: Path, level: str | None) -> int:
    argv = ["detect", "--at", AT, "--window", "7d"]
    if level is not None:
        config = tmp_path / f"{level}.yaml"
        config.write_text("detection:\n  sensitivity:\n" + "".join(
            f"    {service}: {level}\n" for service in SERVICES), encoding="utf-8")
        argv += ["--config", str(config)]
    out = io.StringIO()
    assert main(argv, out) == 0
    found = re.search(r": (\d+) finding\(s\) from", out.getvalue())
    assert found, out.getvalue()[:500]
    return int(found[1])


def test_every_service_at_high_finds_more_than_the_defaults(tmp_path: Path) -> None:
    default = findings(tmp_path, None)
    assert default >= 2  # the demo's injected steps
    assert findings(tmp_path, "normal") == default
    assert findings(tmp_path, "high") > default
