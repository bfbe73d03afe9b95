"""The detection cycle on the demo: each injected incident found or not, with what delay, and
false alerts per series-day on the quiet week before them. Prints a table, never asserts.
``python -m benchmarks.detect_demo``
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.detection import run_cycle
from bot.metrics.demo import DemoBackend, DemoWorkload

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def main() -> None:
    backend = DemoBackend(DemoWorkload.generate(end=END, days=30, seed=7))
    report = run_cycle(backend, END, timedelta(days=7))
    anomalies = [a for f in report.result.findings for a in f.anomalies]
    print(f"{'incident':<48} {'found':<6} {'delay':>10}  change")
    for s in backend.workload.scenarios:
        hits = sorted((a for a in anomalies if a.key.service == s.service
                       and a.key.signal is s.signal and a.fired_at >= s.start),
                      key=lambda a: a.fired_at)
        delay = str(hits[0].fired_at - s.start) if hits else "-"
        print(f"{s.title:<48} {'yes' if hits else 'NO':<6} {delay:>10}  "
              f"{hits[0].change if hits else ''}")
    print(f"findings in the incident week: {len(report.result.findings)} "
          f"for {len(backend.workload.scenarios)} incidents")
    quiet = run_cycle(backend, END - timedelta(days=8), timedelta(days=7))
    series_days = quiet.result.series_checked * 7
    alerts = len(quiet.result.findings)
    print(f"quiet week: {alerts} false alerts over {series_days} series-days "
          f"({alerts / series_days:.4f} per series-day)")


if __name__ == "__main__":
    main()
