"""From a detection tick to the incident's message in Slack, on the demo.

Usage: ``python benchmarks/detect_to_posted.py [--runs 5] [--days 30]``

The running loop as ``perfbot run`` starts it (``bot.schedule.Loop``: APScheduler, the
detection tick at once, the sweep every 2 s, real time), on the demo workload held at its
end (``--days`` of data, the default of ``perfbot run``), a fresh SQLite file per run, and
the real ``Delivery`` posting to the loopback Slack stand-in. Each run times, from the start
of the detection tick: the tick itself (detection and the incidents stored), and the
arrival at the stand-in of the missing index's message in #orders (the tick, the wait for
the next sweep, the delivery). "cold": the loop's first tick (catalog and baselines
computed); "warm": a tick whose earlier days' baselines are cached, as every later tick of
a running bot. Prints medians, min and max; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the Slack stand-in lives in tests/

import bot.schedule as schedule  # noqa: E402
from bot.analytics.findings.baseline import BaselineCache  # noqa: E402
from bot.app import Perfbot, build  # noqa: E402
from bot.clock import Clock  # noqa: E402
from bot.config import MetricsSettings, Settings, StorageSettings  # noqa: E402
from bot.notify.slack import make_web_client  # noqa: E402
from tests.bot_process import standin  # noqa: E402
from tests.slack_standin import TOKEN, SlackStandIn  # noqa: E402

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Timed:
    """Wraps the loop's detection tick to note when it starts and ends."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self.ended: list[float] = []
        self._tick = schedule.detect_once

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.started.append(time.perf_counter())
        try:
            return self._tick(*args, **kwargs)
        finally:
            self.ended.append(time.perf_counter())


def posted_in(slack: SlackStandIn, channel: str, timeout: float = 300) -> float:
    """When the first top-level message in ``channel`` reached the stand-in."""
    def there() -> bool:
        return any(c.method == "chat.postMessage" and c.args.get("channel") == channel
                   and not c.args.get("thread_ts") and c.error is None
                   for c in slack.state.calls)
    with slack._changed:
        if not slack._changed.wait_for(there, timeout):
            raise SystemExit(f"no message in {channel} within {timeout:g} s")
    return time.perf_counter()


def one_run(demo: Perfbot, folder: Path, number: int, cache: BaselineCache | None,
            timed: Timed) -> tuple[float, float]:
    """(the tick's seconds, the tick's start to the message's arrival)."""
    settings = demo.settings.model_copy(update={"storage": StorageSettings(
        url=f"sqlite:///{folder / f'run-{number}.db'}")})
    perfbot = replace(demo, settings=settings)
    with standin() as slack:
        client = make_web_client(TOKEN, base_url=slack.api_url)
        loop = schedule.Loop(perfbot, perfbot.delivery_for(client).deliver)
        if cache is not None:
            loop.cache = cache
        loop.start()
        try:
            arrived = posted_in(slack, "#orders")
        finally:
            loop.shutdown(wait=True)
        perfbot.database.close()
    return timed.ended[-1] - timed.started[-1], arrived - timed.started[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    began = time.perf_counter()
    demo = build(Settings(metrics=MetricsSettings(demo_days=args.days)), Clock(as_of=END),
                 demo=True)
    demo.catalog  # noqa: B018  (built once, as a running bot has it)
    print(f"demo: {args.days} days, generated in {time.perf_counter() - began:.1f} s")
    timed = Timed()
    schedule.detect_once = timed  # type: ignore[assignment]
    warm = BaselineCache()
    rows: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="perfbot-detect-to-posted-") as folder:
        one_run(demo, Path(folder), 0, warm, timed)  # fills the warm cache; not counted
        for number in range(1, args.runs + 1):
            rows["cold"].append(one_run(demo, Path(folder), number, None, timed))
            rows["warm"].append(one_run(demo, Path(folder), 100 + number, warm, timed))
    print()
    print("| tick | runs | detection tick s (median) | tick to message in #orders s "
          "(median / min / max) |")
    print("|---|---|---|---|")
    for name, found in rows.items():
        ticks = [tick for tick, _ in found]
        totals = [total for _, total in found]
        print(f"| {name} | {len(found)} | {statistics.median(ticks):.2f} | "
              f"{statistics.median(totals):.2f} / {min(totals):.2f} / {max(totals):.2f} |")
    print()
    print(f"the sweep runs every {schedule.SWEEP_EVERY.total_seconds():g} s: a message waits "
          "for the first sweep after the tick, then for its delivery")


if __name__ == "__main__":
    main()
