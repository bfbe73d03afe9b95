"""The backtest (``perfbot detect --replay``) and the sensitivity levels.

The replay must raise exactly what a bot ticking every interval would have: checked against
the plain loop (the detector on the slice each live cycle reads, at every tick, into the same
``Incidents.cycle``). The levels move the thresholds the right way, and a bad one is refused
with a clear message."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.alerts.explained import DETECTION
from bot.analytics.findings.grouping import find
from bot.analytics.findings.model import DEFAULT_FINDINGS, SeriesBatch, SeriesKey
from bot.analytics.findings.sensitivity import find_sensitive, level_of, thresholds
from bot.cli import main
from bot.detection_replay import Period, _cycle, _record, replay
from bot.incidents.memory import MemoryIncidents
from bot.incidents.policies import OnCallSettings
from bot.incidents.service import Incidents
from bot.metrics.base import Signal
from bot.schedule import firings, judged

PER_DAY = 288
DAYS = 30
HISTORY = timedelta(days=28)
WINDOW = timedelta(hours=1)
EVERY = timedelta(minutes=5)


def batch_with_steps(factors: dict[int, float], seed: int = 3) -> SeriesBatch:
    """Latency of three endpoints and one CPU, 30 days at 5 minutes; series ``i`` gets a
    step of ``factors[i]``× for 2 hours on the last day but one."""
    rng = np.random.default_rng(seed)
    t = DAYS * PER_DAY
    times = pd.date_range(datetime(2026, 10, 1, tzinfo=UTC), periods=t, freq="5min")
    shape = 1 + 0.3 * np.sin(np.arange(t) * 2 * np.pi / PER_DAY)
    keys = [SeriesKey(signal=Signal.LATENCY, service=s, endpoint=f"GET /{s}")
            for s in ("orders", "search", "menu")]
    keys.append(SeriesKey(signal=Signal.CPU, service="menu"))
    values = 0.2 * shape * (1 + 0.05 * rng.standard_normal((len(keys), t)))
    at = t - PER_DAY - 100
    for row, factor in factors.items():
        values[row, at : at + 24] *= factor
    requests = np.where(np.array([k.endpoint is not None for k in keys])[:, None],
                        6000.0 * shape, np.nan)
    return SeriesBatch(keys=keys, times=times, values=values, requests=requests)


def incidents() -> Incidents:
    return Incidents(store=MemoryIncidents(), oncall=OnCallSettings(), default_channel="#i",
                     reopen_within=timedelta(hours=1))


def test_replay_raises_what_a_bot_ticking_every_interval_would_have() -> None:
    batch = batch_with_steps({0: 3.0, 1: 1.6})
    end = batch.times[-1].to_pydatetime()
    period = timedelta(days=2)
    data = Period(batch=batch, slos={}, problems=[], history=HISTORY)
    fast = replay(data, end, period, incidents(), interval=EVERY, window=WINDOW, zone=UTC)
    # The plain loop: the detector at every tick on what a live cycle reads.
    ns = batch.times.as_unit("ns").asi8
    plain = incidents()
    alerts: list = []
    open_by_id: dict = {}
    tick = end - period
    while tick <= end:
        report = _cycle(batch, ns, tick, round(HISTORY / batch.step), WINDOW, {},
                        DEFAULT_FINDINGS, None, _NoCache(), [])
        active, how = firings(report, UTC)
        _record(plain.cycle(active, DETECTION, tick, how, judged=judged(report)), tick,
                open_by_id, alerts)
        tick += EVERY
    assert [(a.service, a.raised_at, a.resolved_at) for a in fast.alerts] == [
        (a.service, a.raised_at, a.resolved_at) for a in alerts]
    assert {a.service for a in fast.alerts} == {"orders", "search"}
    assert fast.cycles < fast.ticks / 4  # the detector ran only where something changed
    step_at = batch.times[-PER_DAY - 100].to_pydatetime()
    for a in fast.alerts:
        assert step_at <= a.raised_at <= step_at + timedelta(minutes=20)
        assert a.duration is not None and timedelta(hours=2) <= a.duration <= timedelta(hours=3)
    assert fast.per_day() == {"orders": 0.5, "search": 0.5}


class _NoCache:
    """No baseline cache: the plain loop recomputes everything at each tick."""

    def baseline(self, keys, times, x, per_day, days, weeks, first):  # type: ignore[no-untyped-def]
        from bot.analytics.findings.baseline import seasonal_baseline

        return seasonal_baseline(x, per_day, days, weeks, first)


def test_levels_move_the_thresholds_and_endpoint_beats_service() -> None:
    low, high = thresholds("low"), thresholds("high")
    normal = DEFAULT_FINDINGS
    assert thresholds("normal") is normal
    for signal, guard in normal.guards.items():
        assert low.guards[signal].z > guard.z > high.guards[signal].z
        assert low.guards[signal].min_rel > guard.min_rel > high.guards[signal].min_rel
    assert low.persist_k > normal.persist_k > high.persist_k
    key = SeriesKey(signal=Signal.LATENCY, service="orders", endpoint="GET /a")
    assert level_of(key, {}) == "normal"
    assert level_of(key, {"orders": "low"}) == "low"
    assert level_of(key, {"orders": "low", "orders GET /a": "high"}) == "high"
    assert level_of(SeriesKey(signal=Signal.CPU, service="orders"),
                    {"orders GET /a": "high"}) == "normal"


def test_a_moderate_step_alerts_at_high_not_at_low() -> None:
    batch = batch_with_steps({2: 1.45})
    since = batch.times[-PER_DAY - 110].to_pydatetime()
    found = {lvl: {a.key.service for f in find_sensitive(batch, since, levels={"menu": lvl})
                   .findings for a in f.anomalies} for lvl in ("low", "normal", "high")}
    assert "menu" in found["high"] and "menu" not in found["low"]
    # Everything at normal is ``find`` itself.
    assert find_sensitive(batch, since).findings == find(batch, since).findings


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no ./perfbot.yaml: the built-in demo
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    return tmp_path


def test_cli_replay_prints_alerts_per_day_and_each_level(demo: Path) -> None:
    out = io.StringIO()
    code = main(["detect", "--replay", "3d", "--sensitivity", "payments=high"], out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "Backtest of 3d" in text and " s (" in text  # the time it took
    assert "error ratio of POST /api/checkout (payments) stepped up" in text
    assert "lasted 1h" in text
    assert "Alerts per day by service:" in text
    assert "Alerts per day for payments at each level: low " in text
    assert not (demo / "perfbot.db").exists()  # the bot's store is not touched


@pytest.mark.parametrize(("argv", "says"), [
    (["--replay", "3d", "--sensitivity", "payments=loud"],
     "--sensitivity 'payments=loud': the level must be one of low, normal, high, got 'loud'"),
    (["--replay", "3d", "--sensitivity", "payments"], "expected SCOPE=LEVEL"),
    (["--sensitivity", "payments=low"], "--sensitivity goes with --replay PERIOD"),
    (["--replay", "soon"], "soon"),
])
def test_cli_replay_refuses_bad_input(demo: Path, capsys: pytest.CaptureFixture[str],
                                      argv: list[str], says: str) -> None:
    assert main(["detect", *argv], out=io.StringIO()) == 2
    assert says in capsys.readouterr().err


def test_config_sensitivity_is_validated(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = demo / "bad.yaml"
    bad.write_text("detection:\n  sensitivity:\n    orders: lowish\n")
    assert main(["detect", "--replay", "1d", "--config", str(bad)], out=io.StringIO()) != 0
    err = capsys.readouterr().err
    assert (f"{bad}: detection.sensitivity.orders: input should be 'low', 'normal' or 'high', "
            "got 'lowish'") in err
