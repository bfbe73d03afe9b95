"""The surprise tier scores only the series with a point past its other guards: the same
decisions and findings as scoring every series, with the scorer run on fewer of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bot.analytics.anomaly.batch import score_batch
from bot.analytics.findings import decision
from bot.analytics.findings.decision import decide
from bot.analytics.findings.grouping import find
from bot.analytics.findings.model import DEFAULT_FINDINGS, FindingsResult, SeriesBatch, SeriesKey
from bot.detection import HISTORY, WINDOW, read_batch
from bot.metrics.base import Signal
from bot.metrics.demo import DemoBackend, DemoWorkload
from tests.conftest import DEMO_END

ON = DEFAULT_FINDINGS.model_copy(update={"surprise_alarm": DEFAULT_FINDINGS.surprise_alarm or 0.8})
PER_DAY = 288  # 5-minute points
N = 10 * PER_DAY
TIMES = pd.date_range(datetime(2026, 11, 1, tzinfo=UTC), periods=N, freq="5min")
SIGNALS = (Signal.LATENCY, Signal.ERROR_RATIO, Signal.THROUGHPUT)


class Scorer:
    """Counts the series the anomaly scorer is run on (the real scorer still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        self.calls: list[tuple[int, int]] = []  # (series, columns) of each run
        real: Callable[..., Any] = score_batch  # as decision imports it

        def counted(values: np.ndarray, *args: Any, **kwargs: Any) -> Any:
            self.rows += values.shape[0]
            self.calls.append(values.shape)
            return real(values, *args, **kwargs)

        monkeypatch.setattr(decision, "score_batch", counted)
        self._monkeypatch = monkeypatch

    def every_row(self) -> None:
        """The tier as it was: every series scored, whatever its guards say."""
        real = decision.surprise_scores
        self._monkeypatch.setattr(decision, "surprise_scores",
                                  lambda batch, config, first, *_: real(batch, config, first))


@pytest.fixture
def scorer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Scorer]:
    yield Scorer(monkeypatch)


def both_ways(scorer: Scorer, run: Callable[[], Any]) -> tuple[Any, Any, int, int]:
    """``run`` scoring the guarded series only, then every series; the rows scored each way."""
    only = run()
    rows_only, scorer.rows = scorer.rows, 0
    scorer.every_row()
    every = run()
    return only, every, rows_only, scorer.rows


def anomalies(result: FindingsResult) -> list[tuple[SeriesKey, str, datetime]]:
    return [(a.key, a.severity, a.start) for f in result.findings for a in f.anomalies]


def synthetic(n: int, steps: bool, seed: int = 3) -> SeriesBatch:
    """``n`` quiet series (latency, error ratio, throughput in turn) with a daily rhythm and
    5% noise; with ``steps``, a step on a few and a one-point record spike on one."""
    rng = np.random.default_rng(seed)
    keys = [SeriesKey(signal=SIGNALS[i % 3], service=f"svc{i}", endpoint="GET /r")
            for i in range(n)]
    level = np.array([{Signal.LATENCY: 0.2, Signal.ERROR_RATIO: 0.003,
                       Signal.THROUGHPUT: 20.0}[k.signal] for k in keys])[:, None]
    shape = 1 + 0.3 * np.sin(np.arange(N) * 2 * np.pi / PER_DAY)
    values = level * shape * (1 + 0.05 * rng.standard_normal((n, N)))
    if steps:
        values[0, -60:] *= 3.0  # latency triples
        values[1, -40:] += 0.05  # error ratio gains 5 points
        values[2, -50:] *= 0.3  # throughput drops
        values[3, -100] *= 5  # one record point: the surprise tier's
    return SeriesBatch(keys=keys, times=TIMES, values=values,
                       requests=np.tile(6000.0 * shape, (n, 1)))


def test_the_demo_months_findings_are_those_of_scoring_every_series(scorer: Scorer) -> None:
    backend = DemoBackend(DemoWorkload.generate(end=DEMO_END, days=30, seed=7))
    batch, slos, _ = read_batch(backend, DEMO_END, HISTORY)
    only, every, rows_only, rows_every = both_ways(
        scorer, lambda: find(batch, DEMO_END - WINDOW, slos, ON))
    assert anomalies(every)  # the demo's incidents: something to compare
    assert anomalies(only) == anomalies(every)  # series, severities, starts
    assert repr(only) == repr(every)  # and everything else (NaN equal to NaN)
    assert 0 < rows_only < rows_every


@pytest.mark.parametrize("steps", [True, False], ids=["with-findings", "quiet"])
def test_a_synthetic_batch_decides_as_scoring_every_series(scorer: Scorer, steps: bool) -> None:
    batch = synthetic(60, steps)
    since = TIMES[-1].to_pydatetime() - timedelta(hours=12)
    only, every, rows_only, rows_every = both_ways(scorer, lambda: find(batch, since, None, ON))
    assert anomalies(only) == anomalies(every)
    assert repr(only) == repr(every)
    assert bool(anomalies(every)) is steps
    assert rows_only < rows_every


def test_decide_gives_every_array_as_scoring_every_series(scorer: Scorer) -> None:
    """The per-point decision itself, the tier's view of the scorer included; the record
    spike fires through the tier, so the scored rows are the ones it reads."""
    batch = synthetic(60, steps=True)
    first = N - PER_DAY
    only, every, rows_only, rows_every = both_ways(scorer, lambda: decide(batch, ON, first))
    for name in ("exceed", "fire", "trend", "surge", "baseline", "spread", "spread_mean",
                 "surprise"):
        np.testing.assert_array_equal(getattr(only, name), getattr(every, name), err_msg=name)
    assert only.fire[3, N - 100 - first] and only.surprise[3, N - 100 - first] >= 0.8
    assert 0 < rows_only < rows_every / 5


def test_a_series_is_scored_only_over_the_anchors_where_it_moved(scorer: Scorer) -> None:
    """A week judged spans four anchors (a run of the scorer each): the record point of a
    quiet series five days back is scored over its anchor's run, not the others'."""
    batch = synthetic(60, steps=True)
    early = N - 5 * PER_DAY
    batch.values[6, early] *= 5  # a latency (6 % 3 == 0)
    first = N - 7 * PER_DAY
    only = decide(batch, ON, first)
    # The anchor of the record point: its series alone; the last one: the steps and spike.
    assert [rows for rows, _ in scorer.calls] == [1, 4]
    scorer.calls.clear()
    scorer.every_row()
    every = decide(batch, ON, first)
    assert [rows for rows, _ in scorer.calls] == [60] * 4  # every series at each anchor
    for name in ("fire", "surprise"):
        np.testing.assert_array_equal(getattr(only, name), getattr(every, name), err_msg=name)
    assert only.fire[6, early - first] and only.fire[3, N - 100 - first]
