"""The command line as a real process, where the operating system is part of the test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)  # and cwd has no perfbot.yaml
    # The reader is gone before perfbot writes a line (as with `perfbot endpoints | head -0`).
    script = "import sys; from bot.cli import main; sys.exit(main(['endpoints']))"
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        errors = process.stderr.read().decode()
        code = process.wait(timeout=60)
    assert code == 0
    assert "Traceback" not in errors and "BrokenPipe" not in errors
