"""The CLI's entry imports only the standard library: `perfbot --help` does not pay seconds
for pandas, scipy and matplotlib (issue 13, "Fast commands"). Checked in a fresh
interpreter, since this test process has imported them already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "sqlalchemy", "slack_sdk", "slack_bolt",
         "pydantic", "apscheduler", "requests", "httpx", "yaml")


def _loaded_after(code: str) -> list[str]:
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert _loaded_after("import bot.cli") == []


def test_building_the_parser_loads_no_heavy_library() -> None:
    # --help builds every sub-command's parser: their registration must stay light too.
    code = ("import contextlib, io\nfrom bot.cli import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help'])")
    assert _loaded_after(code) == []


def test_query_help_names_every_signal_word() -> None:
    # The words are listed without importing bot.figures; they must be the ones it accepts.
    from bot.cli import SIGNAL_NAMES, _signal_words

    assert list(SIGNAL_NAMES) == list(_signal_words())


def test_a_text_answer_loads_neither_matplotlib_nor_scipy(tmp_path: Path) -> None:
    # `perfbot ask` on the demo, without --chart: nothing is drawn, no change is tested.
    code = ("import contextlib, io, os\nos.chdir(" + repr(str(tmp_path)) + ")\n"
            "os.environ.pop('PERFBOT_CONFIG', None)\nfrom bot.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['ask', 'p95 of checkout']) == 0")
    loaded = _loaded_after(code)
    assert "matplotlib" not in loaded
    assert "scipy" not in loaded
    assert "pandas" in loaded  # the answer's figures: the probe sees what the command loaded
