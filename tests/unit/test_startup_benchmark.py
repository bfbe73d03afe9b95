"""benchmarks/startup.py times the commands as an installed perfbot runs them: on compiled
bytecode (pip compiles at install, also under PYTHONDONTWRITEBYTECODE, as in the Dockerfile),
not compiling the bot's modules from source in every run because this shell sets
PYTHONDONTWRITEBYTECODE."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.startup import environment

REPO = Path(__file__).resolve().parents[2]


def _compiled_durations(cwd: Path, env: dict[str, str]) -> list[Path]:
    subprocess.run([sys.executable, "-c", "import bot.durations"], cwd=cwd, env=env,
                   check=True, timeout=120)
    return [p for p in cwd.rglob("durations.*.pyc") if "bot" in p.parts]


def test_the_runs_write_and_read_bytecode_outside_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = environment(str(tmp_path), bytecode_cache=True)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert Path(env["PYTHONPYCACHEPREFIX"]).is_relative_to(tmp_path)  # not in the repo or venv
    assert _compiled_durations(tmp_path, env) != []  # the warm-up run leaves it for the next


def test_without_the_cache_every_run_compiles_from_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    env = environment(str(tmp_path), bytecode_cache=False)  # --no-bytecode-cache
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert _compiled_durations(tmp_path, env) == []
    assert str(REPO) in env["PYTHONPATH"].split(":")
