"""The CLI's entry imports only the standard library: `perfbot --help` does not pay seconds
for pandas, scipy and matplotlib (issue 13, "Fast commands"); `check-config` and `ask` on a
Prometheus import only what they use. Checked in a fresh interpreter, since this test process
has imported them already. (Times are printed by benchmarks/startup.py, never asserted.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import DEMO_END
from tests.prometheus_server import PrometheusServer

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


def _run_cli(args: list[str], cwd: Path, code: int = 0) -> str:
    """``main(args)`` in a fresh interpreter, from ``cwd``, asserting its exit ``code``."""
    return ("import contextlib, io, os\nos.chdir(" + repr(str(cwd)) + ")\n"
            "os.environ.pop('PERFBOT_CONFIG', None)\nfrom bot.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main({args!r}) == {code}")


def _prometheus_settings(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "perfbot.yaml"
    path.write_text(f"metrics:\n  backend: prometheus\n  prometheus:\n    url: {url}\n"
                    f"storage:\n  url: sqlite:///{tmp_path / 'perfbot.db'}\n", encoding="utf-8")
    return path


def test_check_config_on_the_demo_does_not_generate_its_data(tmp_path: Path) -> None:
    # The built-in defaults (what a new user runs first): the demo is reported from its
    # definition, not from 30 generated days (numpy's draws, pandas: ~2 s of CPU).
    loaded = _loaded_after(_run_cli(["check-config"], tmp_path))
    assert [m for m in ("pandas", "numpy", "scipy", "matplotlib", "sqlalchemy", "slack_sdk",
                        "slack_bolt", "apscheduler", "requests") if m in loaded] == []
    assert "pydantic" in loaded  # it did read the settings: the probe sees the command's
    assert not (tmp_path / "perfbot.db").exists()


def test_check_config_on_prometheus_loads_no_frame_or_database_library(
    prometheus_server: PrometheusServer, tmp_path: Path
) -> None:
    # It validates the settings (storage.url included), asks the server and lists the
    # catalog: no frame is made and the database is not opened.
    config = _prometheus_settings(tmp_path, prometheus_server.url)
    args = ["check-config", "--config", str(config), "--at", DEMO_END.isoformat()]
    loaded = _loaded_after(_run_cli(args, tmp_path))
    assert [m for m in ("pandas", "numpy", "scipy", "matplotlib", "sqlalchemy", "slack_sdk",
                        "slack_bolt", "apscheduler") if m in loaded] == []
    assert "requests" in loaded  # it did talk to the server: the probe sees the command's
    assert not (tmp_path / "perfbot.db").exists()


def test_check_config_on_an_unreachable_prometheus_loads_no_database_library(
    tmp_path: Path,
) -> None:
    config = _prometheus_settings(tmp_path, "http://127.0.0.1:9")  # discard port: refused
    args = ["check-config", "--config", str(config)]
    loaded = _loaded_after(_run_cli(args, tmp_path, code=1))
    assert "sqlalchemy" not in loaded
    assert "pandas" not in loaded


def test_a_text_answer_on_prometheus_loads_no_database_chart_or_slack_library(
    prometheus_server: PrometheusServer, tmp_path: Path
) -> None:
    config = _prometheus_settings(tmp_path, prometheus_server.url)
    args = ["ask", "p95 of checkout", "--config", str(config), "--at", DEMO_END.isoformat()]
    loaded = _loaded_after(_run_cli(args, tmp_path))
    assert [m for m in ("scipy", "matplotlib", "sqlalchemy", "slack_sdk", "slack_bolt",
                        "apscheduler") if m in loaded] == []
    assert "pandas" in loaded  # the answer's figures are frames
    probe = ("import bot.ask.answer, sys\n"
             "print(sorted(m for m in sys.modules if m.startswith(('bot.incidents.lifecycle',"
             " 'bot.alerts.message', 'bot.storage'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "[]"  # incidents load for "is anything broken" only


def test_the_answers_module_loads_only_the_value_answer() -> None:
    # `perfbot ask` imports bot.ask.answer; a value question (the start-up measured) needs
    # none of the other kinds of answer, each imported when its kind is asked.
    probe = ("import bot.ask.answer, sys\n"
             "print(sorted(m for m in sys.modules if m in ('bot.ask.usual', 'bot.ask.broken', "
             "'bot.ask.rank', 'bot.ask.comparison', 'bot.ask.slo', "
             "'bot.analytics.findings.decision')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "[]"



def test_the_question_parser_loads_no_frame_library() -> None:
    # Parsing needs the catalog's names, not frames: pandas waits for the answer's figures.
    loaded = _loaded_after("import bot.ask.parsing.parser, bot.ask.query")
    assert "pandas" not in loaded
    assert "numpy" not in loaded
