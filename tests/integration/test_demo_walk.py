"""``perfbot demo`` as a person runs it: a real process, its output read as they would read it.

The walk runs the real bot (digest tick, answers, detection tick, escalation sweep, the
acknowledgement, recovery, weekly digest) on a simulated clock; these tests check what it
printed, in order, the store's record at the end and the files it wrote, and that the
prompt answers (and refuses bad input) in a terminal: a pty is its stdin.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.cli_demo.walk import STEPS
from tests.prometheus_server import missing_part

REPO = Path(__file__).resolve().parents[2]
AT = "2026-11-25T12:00Z"  # a Wednesday: the data ends Mon 23 Nov 09:00, the index goes Fri
PNG = b"\x89PNG\r\n\x1a\n"


def demo(tmp_path: Path, *args: str, stdin: int | None = subprocess.DEVNULL,
         path: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m bot demo --at AT ARGS`` in ``tmp_path`` (no perfbot.yaml there)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    env.pop("PERFBOT_CONFIG", None)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "bot", "demo", "--at", AT, *args],
                          cwd=tmp_path, env=env, stdin=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)


def headings(text: str) -> list[str]:
    return re.findall(r"^━━ \d\. (.+?) ━━", text, flags=re.MULTILINE)


def store_section(text: str) -> str:
    return text.split("━━ The store ━━", 1)[1].split("\nCharts written:", 1)[0]


def test_the_walk_goes_through_every_step_and_leaves_the_users_database_alone(
    tmp_path: Path,
) -> None:
    # A perfbot.db of the user's in the working directory: the demo must not touch it.
    mine = tmp_path / "perfbot.db"
    mine.write_bytes(b"the user's own incidents")
    charts = tmp_path / "charts"
    result = demo(tmp_path, "--no-prompt", "--charts", str(charts))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert headings(text) == list(STEPS)
    assert "Traceback" not in result.stderr

    # 1: the team digest went to the team's channel; 2: three answers, one with a chart.
    digest = text.split("━━ 1.", 1)[1].split("━━ 2.", 1)[0]
    assert "Slack → #orders, posted]" in digest and "Daily digest for orders-team" in digest
    assert text.count("@USAM in #orders: /perf ") == 3
    # 3: one incident for the missing index, posted with its playbook and evidence.
    posted = text.split("━━ 3.", 1)[1].split("━━ 4.", 1)[0]
    assert "Slack → #orders, posted]" in posted and "GET /api/orders/history" in posted
    assert "Playbook: Slow database query or missing index" in posted
    assert "Evidence" in posted and "after_deploy=True" in posted
    assert "Slack → DM to @UPRIYA, posted]" in posted
    # 4: nobody acknowledged: the second step's DM, ten minutes later.
    escalated = text.split("━━ 4.", 1)[1].split("━━ 5.", 1)[0]
    assert re.search(r"\[14:42 Slack → DM to @USAM, posted\]\n  You are paged for INC-1",
                     escalated)
    assert "Step 2, pass 1 of policy orders-oncall" in escalated
    # 6: resolved on its own, with how long it lasted; 7: the weekly digest has it all.
    assert re.search(r"INC-1 lasted \d", text)
    weekly = text.split("━━ 7.", 1)[1].split("━━ The store", 1)[0]
    assert "Slack → #eng-managers, posted]" in weekly
    assert "Regressions" in weekly and "GET /api/orders/history: p95 up" in weekly
    assert "to resolve: median" in weekly and "(INC-1)" in weekly
    assert "Recommended" in weekly and "Slow database query or missing index" in weekly

    # The store's record, as printed: opened, escalated, acknowledged, resolved.
    record = store_section(text)
    assert record.splitlines()[1].startswith("INC-1 ") and "(resolved)" in record
    kinds = re.findall(r"^  \w{3} \d\d \w{3} [\d:]+ UTC  (\w+)", record, flags=re.MULTILINE)
    assert kinds == ["opened", "paged", "paged", "acknowledge", "resolved"]
    assert "paged: step 2, pass 1: @USAM" in record
    assert "acknowledge by @USAM" in record

    # The answer's chart is a PNG where the walk said, with the uploaded ones.
    written = re.findall(r"^  (/.+\.png)$", text.split("Charts written:", 1)[1], re.MULTILINE)
    assert str(charts / "checkout-p95.png") in written and str(charts / "INC-1.png") in written
    for path in written:
        assert Path(path).read_bytes().startswith(PNG)
    assert "Connect to Slack" in text and "Connect Prometheus" in text
    assert mine.read_bytes() == b"the user's own incidents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charts", "perfbot.db"]


def prompt_session(tmp_path: Path, typed: bytes) -> subprocess.CompletedProcess[str]:
    """The demo with a terminal as stdin (a pty) on which ``typed`` waits."""
    main, terminal = pty.openpty()
    try:
        os.write(main, typed)
        return demo(tmp_path, "--charts", str(tmp_path / "charts"), stdin=terminal)
    finally:
        os.close(terminal)
        os.close(main)


def test_the_prompt_acts_answers_and_refuses_bad_input_then_quits(tmp_path: Path) -> None:
    typed = (b"ack INC-2\nack banana\nresolve\ndigest monthly\nack INC-1\n"
             b"p95 of order history over the last 6h\nincidents\nquit\nack INC-3\n")
    result = prompt_session(tmp_path, typed)
    assert result.returncode == 0, result.stderr
    text = result.stdout.split("━━ The store ━━", 1)[1]
    assert "ack INC-1" in text and "quit" in text  # the help was shown
    # ack INC-2: allowed, stored, and the Slack message edited.
    assert "@USAM presses [Acknowledge] on INC-2 (allowed user)" in text
    assert re.search(r"Slack → #menu, message edited\]\n  Acknowledged by @USAM", text)
    # Bad input: a specific message each, and the prompt goes on.
    assert "expected an incident id like INC-42 or 42, got 'banana'" in text
    assert "usage: resolve INC-1 (one incident id), got 'resolve'" in text
    assert "usage: digest daily | digest weekly, got 'digest monthly'" in text
    assert "refused: INC-1 is already resolved" in text
    # A question: answered on the data as the walk left it (held at its end).
    assert re.search(r"/perf p95 of order history over the last 6h\n  p95 of GET "
                     r"/api/orders/history, last 6h: \d+ ms", text)
    assert re.search(r"INC-2 .*acknowledged", text)  # the incidents listing
    # quit ended it: what was typed after it was never read.
    assert "INC-3 (allowed user)" not in text
    assert text.rstrip().endswith("perfbot>")


def test_end_of_input_ends_the_prompt(tmp_path: Path) -> None:
    result = prompt_session(tmp_path, b"digest weekly\n\x04")  # ^D: end of input
    assert result.returncode == 0, result.stderr
    after = result.stdout.split("perfbot> ", 1)[1]
    assert "Weekly digest for all services" in after
    assert after.count("perfbot> ") == 1


def test_prometheus_walks_through_promql(tmp_path: Path) -> None:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        missing_part("prometheus and promtool are needed: apt-get install -y prometheus")
    result = demo(tmp_path, "--no-prompt", "--prometheus", "--charts",
                  str(tmp_path / "charts"), timeout=280)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "into a local Prometheus" in text and "Prometheus at http://127.0.0.1:" in text
    assert headings(text) == list(STEPS)
    queries = re.findall(r"^    ▸ PromQL \((range|instant)\) (.+)$", text, re.MULTILINE)
    assert any("http_server_request_duration_seconds_bucket" in q for _, q in queries)
    # The detection's queries come before the incident is posted.
    detected = text.split("━━ 3.", 1)[1].split("Slack → #orders, posted]", 1)[0]
    assert "▸ PromQL" in detected
    record = store_section(text)
    assert "(resolved)" in record and "acknowledge by @USAM" in record
    # The throwaway Prometheus is gone with the demo.
    (url,) = re.findall(r"Prometheus at (http://127\.0\.0\.1:\d+), ready", text)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/-/ready", timeout=2)


def test_prometheus_missing_says_how_to_install_it(tmp_path: Path) -> None:
    result = demo(tmp_path, "--no-prompt", "--prometheus", path=str(tmp_path / "no-bin"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "perfbot: --prometheus: prometheus and promtool not found: install Prometheus "
        "(Debian/Ubuntu: apt-get install prometheus; or put the prometheus and promtool "
        "binaries from prometheus.io on the PATH)")


def test_the_walks_second_detection_cycle_reads_only_the_newest_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two detection cycles of the walk's loop, in this process on the demo backend, each
    read of the backend counted: the first cycle reads every signal's whole history, the
    second only its newest steps (the reads are kept between cycles, as ``perfbot run``
    keeps them between ticks), so the two cycles read little more than one."""
    import argparse
    import io
    from datetime import timedelta
    from typing import Any

    import bot.schedule
    from bot.cli_demo.walk import Walk
    from bot.detection import HISTORY

    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    walk = Walk.start(argparse.Namespace(config=None, prometheus=False, at=AT),
                      io.StringIO(), tmp_path, tmp_path)
    spans: list[timedelta] = []  # each read's window
    cycles: list[object] = []
    try:
        def counting(read: Any) -> Any:
            def counted(window: Any, *more: Any, **named: Any) -> Any:
                spans.append(window.end - window.start)
                return read(window, *more, **named)
            return counted

        backend = walk.perfbot.backend
        for name in ("latency", "throughput", "error_ratio", "cpu", "memory"):
            monkeypatch.setattr(backend, name, counting(getattr(backend, name)))
        detect_once = bot.schedule.detect_once

        def cycle(*args: Any, **named: Any) -> Any:
            cycles.append(args[1])
            return detect_once(*args, **named)
        monkeypatch.setattr(bot.schedule, "detect_once", cycle)
        walk.run_loop(timedelta(minutes=6), focus=None)
    finally:
        walk.close()
    assert len(cycles) == 2
    one_cycle = 5 * HISTORY  # five signals, each over the detection's history
    assert one_cycle <= sum(spans, timedelta()) < 1.1 * one_cycle
