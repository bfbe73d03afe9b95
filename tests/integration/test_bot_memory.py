"""``perfbot run``'s memory: as a real process, glibc's malloc arenas are capped, so memory
freed by the answer, HTTP and scheduler threads goes back to a shared heap (and to the system
after a detection cycle or an answer, ``bot.memory.trim``) instead of staying in an arena
per thread; an answer's dead chart figures are collected when it is done, and charts are
drawn one at a time; against a real Prometheus, a detection read's parts before the data
begins cost no grid of NaNs."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import tracemalloc
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from bot.detection import MAX_POINTS
from bot.memory import _glibc
from bot.metrics.base import NoDataError, Window
from bot.metrics.demo import DemoBackend
from bot.metrics.prometheus import PrometheusBackend
from bot.render.charts import timeseries_chart
from tests.bot_process import BotProcess, minutely_policy, wait_until, write_config
from tests.conftest import DEMO_END
from tests.integration.test_slack_app import perfbot_for
from tests.signed_http import command, post_signed, standin
from tests.slack_bot import Bot

HEAP = 64 << 20  # glibc reserves a thread arena's heap 64 MB at a time, 64 MB-aligned

glibc_only = pytest.mark.skipif(_glibc() is None, reason="glibc's allocator only")


def thread_arena_heaps(pid: int) -> int:
    """The heaps of glibc's thread arenas in ``/proc/<pid>/maps``: anonymous mappings that
    start on a 64 MB boundary and, with the reserved (``---p``) rest after them, span exactly
    64 MB. The main arena grows with brk and is not counted."""
    rows = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        low, high = (int(part, 16) for part in fields[0].split("-"))
        rows.append((low, high, fields[1], len(fields) > 5))
    starts = {low: (high, named) for low, high, _, named in rows}
    heaps = 0
    for low, high, perm, named in rows:
        if named or low % HEAP or not perm.startswith("rw"):
            continue
        end = high
        while end in starts and not starts[end][1] and starts[end][0] <= low + HEAP:
            end = starts[end][0]
        heaps += end == low + HEAP
    return heaps


@glibc_only
def test_the_running_bot_keeps_to_two_malloc_arenas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: glibc gave each of the bot's threads that allocated an arena of its own, up to
    8 per core (15 heaps on this 2-core machine after start and four answers at once), each
    keeping what its thread freed."""
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)  # the operator's setting would win
    config = write_config(tmp_path / "perfbot.yaml", f"sqlite:///{tmp_path / 'p.db'}",
                          minutely_policy())
    with standin("C1") as slack, BotProcess(tmp_path, slack, config, speed=1) as bot:
        bot.start()
        assert bot.process is not None
        url = bot.ops_url()
        questions = [threading.Thread(target=post_signed, args=(
            url, command(f"p95 of {service} last 24h", slack, "C1")))
            for service in ("orders", "search", "menu", "payments")]
        for question in questions:
            question.start()
        for question in questions:
            question.join()
        wait_until("four answers", lambda: len(slack.calls("chat.update", delivered=True)) >= 4,
                   alive=bot)
        heaps = thread_arena_heaps(bot.process.pid)
    # One thread arena (the main one is not counted), which may span a second heap.
    assert heaps <= 2, f"{heaps} thread-arena heaps"


@glibc_only
def test_trim_gives_back_what_threads_freed(tmp_path: Path) -> None:
    """Eight threads each allocate 40 MB in 64 KB blocks (below mmap's threshold, so from the
    arenas) and free all but every 16th: the free memory lies between live blocks, where
    glibc's own trimming of a heap's top does not reach, and stays resident (~250 MB without
    the arena cap, ~140 MB with it, for 20 MB live). ``trim`` gives it back."""
    script = tmp_path / "churn.py"
    script.write_text(
        "import re, sys, threading\n"
        "from bot.memory import limit_arenas, trim\n"
        "def rss():\n"
        "    text = open('/proc/self/status').read()\n"
        "    return int(re.search(r'VmRSS:\\s+(\\d+)', text)[1]) // 1024\n"
        "limit_arenas()\n"
        "before = rss()\n"
        "kept = []\n"
        "def churn():\n"
        "    blocks = [bytearray(64 * 1024) for _ in range(640)]\n"
        "    kept.extend(blocks[::16])\n"
        "    del blocks\n"
        "threads = [threading.Thread(target=churn) for _ in range(8)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "held = rss()\n"
        "trim()\n"
        "print(before, held, rss())\n", encoding="utf-8")
    repo = str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONPATH"] = repo
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    before, held, after = (int(part) for part in done.stdout.split())
    assert held - before > 100, done.stdout  # freed, yet resident without a trim
    assert after - before < 50, done.stdout  # the 20 MB still live, and little else


def test_a_detection_read_before_the_data_begins_lays_out_no_grid(
    prometheus_backend: PrometheusBackend,
) -> None:
    """A detection cycle reads 28 days in parts of ``MAX_POINTS`` steps; those before the
    data begins come back empty. Before: each was laid out on its whole grid of NaNs (steps ×
    endpoints: 80 MB at 1,000 endpoints, 86 MB traced) only to be refused as no data."""
    endpoints = prometheus_backend.endpoints()
    step = timedelta(minutes=2)
    end = DEMO_END - timedelta(days=30)  # weeks before the demo's data
    window = Window(start=end - step * (MAX_POINTS - 1), end=end, step=step, rate_window=step)
    grid = MAX_POINTS * len(endpoints) * 8  # bytes of one float64 frame on the grid
    tracemalloc.start()
    try:
        with pytest.raises(NoDataError, match="no latency data for the requested endpoints"):
            prometheus_backend.latency(window, 0.95, endpoints)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < grid / 4, f"{peak} bytes traced, the grid is {grid}"


def test_an_answered_chart_leaves_no_figure_behind(demo_backend: DemoBackend) -> None:
    """A closed matplotlib figure is a web of reference cycles, freed only by a full
    collection, which a process holding pandas and matplotlib runs rarely. Before: each
    answer's figure (~1 MB with its canvas) stayed, dead, answer after answer."""
    with standin("C1") as slack, Bot(perfbot_for(demo_backend), slack, inline=True) as bot:
        gc.collect()  # what earlier tests left, so the count below is this test's
        gc.freeze()  # as `perfbot run` does once started (``bot.memory.freeze_startup``)
        try:
            for service in ("orders", "search", "menu"):
                assert bot.command(f"p95 of {service} last 24h").status_code == 200
            assert len(slack.calls("files.completeUploadExternal")) == 3  # with their charts
            left = _figures()
        finally:
            gc.unfreeze()
    assert not left, f"{len(left)} figures left after three answers"


def _figures() -> list[Figure]:
    """Every matplotlib figure the collector tracks, garbage not yet collected included."""
    return [o for o in gc.get_objects() if isinstance(o, Figure)]


def test_charts_are_drawn_one_at_a_time() -> None:
    """Drawing holds the GIL, so eight answers drawing at once are no faster than one after
    another, and pyplot's state is not thread-safe. Before: up to eight figures (and their
    canvases) alive at once, ~20-30 MB more."""
    series = pd.Series(np.linspace(0.1, 0.9, 180), index=pd.date_range(
        DEMO_END - timedelta(hours=3), periods=180, freq="min", tz=UTC))
    open_figures: list[int] = []

    def formatter(value: float) -> str:  # called while a figure is being drawn
        open_figures.append(len(plt.get_fignums()))
        return f"{value:.2f}"

    drawers = [threading.Thread(target=timeseries_chart, args=(series, "p95", formatter, UTC))
               for _ in range(8)]
    for drawer in drawers:
        drawer.start()
    for drawer in drawers:
        drawer.join()
    assert open_figures and max(open_figures) == 1, sorted(set(open_figures))


def test_the_slack_app_loads_httpx_only_for_a_silence() -> None:
    """httpx brings click, rich and pygments (its command line): ~5 MB resident in every
    ``perfbot run`` for the Alertmanager silences, which most never use. Before: imported
    with the Slack app."""
    repo = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", "import sys, bot.cli_slack, bot.slack.app, bot.notify.silences; "
         "print(sorted({'httpx', 'rich', 'pygments'} & set(sys.modules)))"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": repo}, timeout=120,
        check=True)
    assert done.stdout.strip() == "[]", done.stdout
