"""The running loop's ticks on the demo workload and a simulated clock, and the scheduler
that triggers them. The demo's data time is moved by hand (``clock.as_of``) to walk through
its injected incidents; wall time (deadlines, incident times) is a ``FakeClock``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.alerts.explained import DETECTION
from bot.alerts.model import fingerprint
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.model import Severity
from bot.app import Perfbot, build
from bot.clock import Clock, FakeClock, accelerated
from bot.config import Settings, StorageSettings
from bot.incidents.lifecycle import State
from bot.incidents.policies import OnCallSettings
from bot.metrics.base import MetricsError, Signal, Window, endpoint_column
from bot.metrics.demo.scenarios import Scenario
from bot.schedule import Loop, detect_once, firings, sweep_once, urgency

DEMO_END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the demo's data ends here
WALL = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)  # wall time, when the ticks run
# Before any injected incident began (the first, menu's leak, is six days before the end).
QUIET = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
ORDERS_LATENCY = fingerprint(DETECTION, str(Signal.LATENCY), "orders",
                             endpoint_column("orders", "GET /api/orders/history"))

ONCALL = OnCallSettings.model_validate({
    "schedules": [{"name": "primary", "layers": [{
        "members": ["UANNA"], "start": "2026-01-05 09:00", "length": "1w",
        "time_zone": "Europe/Berlin"}]}],
    "policies": [{"name": "sre", "steps": [
        {"notify_schedule": "primary", "wait": "5m"},
        {"notify_users": ["UBOSS"], "wait": "10m"},
    ]}],
    "routing": {"default": "sre"},
})


@pytest.fixture(scope="module")
def demo_bot() -> Perfbot:
    """The demo (30 days: detection reads 28 days of history), built once for the module."""
    return build(Settings(), FakeClock(DEMO_END), demo=True)


@pytest.fixture(scope="module")
def cache() -> BaselineCache:
    return BaselineCache()


def scenario(bot: Perfbot, kind: str) -> Scenario:
    assert bot.demo is not None
    return next(s for s in bot.demo.scenarios if s.kind == kind)


@pytest.fixture
def fresh(demo_bot: Perfbot, tmp_path: Path) -> Callable[..., tuple[Perfbot, FakeClock]]:
    """The demo bot on its own database and clock; ``as_of`` is the data's time."""
    def make(as_of: datetime, oncall: OnCallSettings | None = None) -> tuple[Perfbot, FakeClock]:
        update: dict[str, object] = {"storage": StorageSettings(
            url=f"sqlite:///{tmp_path / 'perfbot.db'}")}
        if oncall is not None:
            update["oncall"] = oncall
        clock = FakeClock(WALL, as_of=as_of)
        return replace(demo_bot, settings=demo_bot.settings.model_copy(update=update),
                       clock=clock), clock
    return make


def test_quiet_data_opens_nothing_and_the_missing_index_opens_its_incident(
    fresh: Callable[..., tuple[Perfbot, FakeClock]], cache: BaselineCache,
) -> None:
    bot, clock = fresh(QUIET)
    assert detect_once(bot, clock.now(), cache).opened == []
    assert bot.incident_store.listed(open_only=False) == []

    step = scenario(bot, "latency_step")
    clock.as_of = step.start + timedelta(minutes=30)
    outcome = detect_once(bot, clock.advance(timedelta(minutes=5)), cache)
    opened = {i.fingerprint: i for i in outcome.opened}
    incident = opened[ORDERS_LATENCY]
    assert incident.state is State.TRIGGERED and incident.channel == "#orders"
    assert incident.alert.severity is Severity.CRITICAL and incident.urgency == "high"
    assert "Slow database query or missing index" in {
        s.title.removeprefix("Playbook: ") for s in incident.message.sections}
    # Nothing but the demo's injected incidents that are under way at that moment (menu's
    # leak and search's CPU began before the missing index).
    assert bot.demo is not None
    injected = {(s.service, s.signal) for s in bot.demo.scenarios if s.start <= clock.as_of}
    assert {(i.alert.service, i.alert.signal) for i in outcome.opened} <= injected
    assert [e.kind for e in bot.incident_store.timeline(incident.id)] == ["opened"]
    assert [o.key for o in bot.incident_store.outbox(incident.id)] == [
        f"{incident.name}:post", f"{incident.name}:chart"]

    # The next tick sees the same problem: the same incidents, updated, none opened.
    clock.as_of += timedelta(minutes=5)
    again = detect_once(bot, clock.advance(timedelta(minutes=5)), cache)
    assert again.opened == [] and ORDERS_LATENCY in {i.fingerprint for i in again.updated}
    assert len(bot.incident_store.listed()) == len(outcome.opened)


def test_a_tick_after_the_recovery_resolves_the_incident_and_says_where_the_signal_is(
    fresh: Callable[..., tuple[Perfbot, FakeClock]], cache: BaselineCache,
) -> None:
    # The missing index never recovers in the demo ("and stays there"); the error spike
    # after the payments deploy does, at the rollback.
    bot, clock = fresh(DEMO_END)
    spike = scenario(bot, "error_spike")
    assert spike.end is not None
    clock.as_of = spike.start + timedelta(minutes=30)
    opened = [i for i in detect_once(bot, clock.now(), cache).opened
              if i.alert.service == "payments"]
    assert len(opened) == 1 and opened[0].urgency == "high"
    assert opened[0].alert.signal is Signal.ERROR_RATIO

    clock.as_of = spike.end + timedelta(minutes=40)  # recovered, still in the window
    outcome = detect_once(bot, clock.advance(timedelta(minutes=40)), cache)
    assert [i.id for i in outcome.resolved] == [opened[0].id]
    resolved = bot.incident_store.get(opened[0].id)
    assert resolved is not None and resolved.state is State.RESOLVED
    assert resolved.resolved_by is None
    assert resolved.resolution.startswith("recovered on its own after 40m: error ratio of "
                                          "POST /api/checkout (payments) at ")
    assert ", usual " in resolved.resolution
    # The other incidents, still under way, stay open.
    assert {i.alert.service for i in bot.incident_store.listed()} >= {"orders"}

    clock.as_of += timedelta(hours=2)  # gone from the window: nothing changes
    later = detect_once(bot, clock.advance(timedelta(minutes=5)), cache)
    assert later.resolved == [] and later.opened == []


def test_a_signal_that_cannot_be_read_resolves_nothing(
    fresh: Callable[..., tuple[Perfbot, FakeClock]], cache: BaselineCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot, clock = fresh(DEMO_END)
    clock.as_of = scenario(bot, "latency_step").start + timedelta(minutes=30)
    before = {i.fingerprint for i in detect_once(bot, clock.now(), cache).opened}
    assert ORDERS_LATENCY in before

    def down(*args: object, **kwargs: object) -> None:
        raise MetricsError("Prometheus is down")

    monkeypatch.setattr(bot.backend, "latency", down)
    outcome = detect_once(bot, clock.advance(timedelta(minutes=5)), cache)
    assert outcome.resolved == []
    assert {i.fingerprint for i in bot.incident_store.listed()} == before


def test_urgency_follows_the_severity_and_a_fast_burn(
    demo_bot: Perfbot, cache: BaselineCache,
) -> None:
    from bot.detection import run_cycle

    at = scenario(demo_bot, "latency_step").start + timedelta(minutes=30)
    report = run_cycle(demo_bot.backend, at, timedelta(hours=1), catalog=demo_bot.catalog,
                       cache=cache)
    by_service = {e.finding.service: e.finding for e in report.explained}
    assert urgency(by_service["orders"]) == "high"  # critical
    slow = by_service["search"]
    assert slow.severity is not Severity.CRITICAL and urgency(slow) == "low"
    burning = slow.model_copy(update={"anomalies": [
        slow.anomalies[0].model_copy(update={"burn_window": timedelta(hours=6)})]})
    assert urgency(burning) == "high"
    three_days = slow.model_copy(update={"anomalies": [
        slow.anomalies[0].model_copy(update={"burn_window": timedelta(days=3)})]})
    assert urgency(three_days) == "low"
    active, how = firings(report, demo_bot.settings.zone)
    assert how == {} and len(active) == len(report.explained)
    assert all(f.message.chart_png is None for f in active)  # charts go by the outbox


def test_the_sweep_pages_along_the_policy_and_delivers(
    fresh: Callable[..., tuple[Perfbot, FakeClock]], cache: BaselineCache,
) -> None:
    bot, clock = fresh(DEMO_END, ONCALL)
    step = scenario(bot, "latency_step")
    clock.as_of = step.start + timedelta(minutes=30)
    incident = next(i for i in detect_once(bot, clock.now(), cache).opened
                    if i.fingerprint == ORDERS_LATENCY)
    assert incident.policy == "sre"
    delivered: list[datetime] = []

    def deliver(now: datetime) -> int:
        delivered.append(now)
        return 0

    def pages() -> list[tuple[int, tuple[str, ...]]]:
        return [(o.effect.notify.step, o.effect.notify.users)
                for o in bot.incident_store.outbox(incident.id)
                if o.effect.kind == "page" and o.effect.notify is not None]

    assert sweep_once(bot, clock.now(), deliver) >= 1
    assert pages() == [(0, ("UANNA",))]
    assert delivered == [clock.now()]
    sweep_once(bot, clock.advance(timedelta(minutes=4)), deliver)
    assert pages() == [(0, ("UANNA",))]  # the first step's wait is not over
    sweep_once(bot, clock.advance(timedelta(minutes=1)), deliver)
    assert pages() == [(0, ("UANNA",)), (1, ("UBOSS",))]
    stored = bot.incident_store.get(incident.id)
    assert stored is not None and stored.level == 2
    assert [e.kind for e in bot.incident_store.timeline(incident.id)].count("paged") == 2
    assert len(delivered) == 3


def test_the_loop_ticks_on_its_own_and_stops_cleanly(
    fresh: Callable[..., tuple[Perfbot, FakeClock]], caplog: pytest.LogCaptureFixture,
) -> None:
    bot, clock = fresh(DEMO_END, ONCALL)
    clock.as_of = scenario(bot, "latency_step").start + timedelta(minutes=30)
    calls: list[datetime] = []

    def deliver(now: datetime) -> int:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("Slack is having a moment")
        return 0

    loop = Loop(bot, deliver, sweep_every=timedelta(milliseconds=20),
                detect_every=timedelta(hours=1), refresh_every=timedelta(hours=1))
    caplog.set_level(logging.ERROR, logger="bot.schedule")
    loop.start()
    try:
        # The detection tick runs at once; the sweep pages its incident and delivers, again
        # after the delivery that raised.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
                len(calls) >= 3 and any(o.effect.kind == "page"
                                        for o in bot.incident_store.outbox())):
            time.sleep(0.05)
    finally:
        loop.shutdown(wait=True)
    assert not loop.running
    assert "APScheduler" not in {t.name for t in threading.enumerate()}
    assert ORDERS_LATENCY in {i.fingerprint for i in bot.incident_store.listed()}
    assert any(o.effect.kind == "page" for o in bot.incident_store.outbox())
    assert len(calls) >= 3 and loop.failures["sweep"] == 1
    assert "sweep tick failed" in caplog.text
    with pytest.raises(RuntimeError, match="already started"):
        loop.start()
    loop.shutdown()  # stopping twice is harmless


def test_a_loop_stopping_while_a_tick_opens_incidents_stops_and_does_not_hang(
    fresh: Callable[..., tuple[Perfbot, FakeClock]],
) -> None:
    """SIGTERM during the first detection tick (as ``perfbot run`` right after start):
    the tick opens incidents and would bring the sweep forward while the loop stops.
    APScheduler's shutdown holds the job store lock while it waits for that tick, and
    bringing a job forward needs the lock: the stop waited forever. The replica's
    ``leading`` answer is where the tick is held until the loop is stopping."""
    bot, clock = fresh(DEMO_END)
    clock.as_of = scenario(bot, "latency_step").start + timedelta(minutes=30)
    stopping = threading.Event()

    def leading() -> bool:  # the leader-only ticks go on once the loop is stopping
        stopping.wait(120)
        while loop.running:
            time.sleep(0.01)
        return True

    loop = Loop(bot, sweep_every=timedelta(hours=1), detect_every=timedelta(hours=1),
                refresh_every=timedelta(hours=1), leading=leading)
    loop.start()
    stopper = threading.Thread(target=loop.shutdown, kwargs={"wait": True}, daemon=True)
    stopper.start()
    stopping.set()
    stopper.join(120)  # a deadline, not a measurement: before the fix it never returned
    assert not stopper.is_alive(), "the loop's shutdown hung behind a tick"
    assert not loop.running
    # The tick was not cut: it finished and opened its incident.
    assert ORDERS_LATENCY in {i.fingerprint for i in bot.incident_store.listed()}


def test_a_loop_never_started_has_nothing_to_stop(demo_bot: Perfbot) -> None:
    loop = Loop(demo_bot)
    loop.shutdown()
    assert not loop.running
    assert loop.every["detect"] == demo_bot.settings.detection.interval


def test_a_clock_faster_than_real_time_ticks_that_much_more_often(demo_bot: Perfbot) -> None:
    fast = replace(demo_bot, clock=Clock(accelerated(WALL, 60), rate=60))
    loop = Loop(fast, sweep_every=timedelta(seconds=2), detect_every=timedelta(minutes=5),
                refresh_every=timedelta(seconds=0.3))
    assert loop.real_every() == {"detect": timedelta(seconds=5),
                                 "sweep": timedelta(seconds=2) / 60,
                                 "refresh-catalog": timedelta(milliseconds=10),  # the least
                                 "digests": timedelta(minutes=1) / 60}
    assert Loop(demo_bot, sweep_every=timedelta(seconds=2)).real_every()["sweep"] == \
        timedelta(seconds=2)


def test_a_detection_tick_that_opens_incidents_has_them_delivered_without_waiting(
    fresh: Callable[..., tuple[Perfbot, FakeClock]],
) -> None:
    """The sweep that delivers runs right after a detection tick that opened something,
    not at its next interval (which, started with the detection, always came a whole
    interval later)."""
    bot, clock = fresh(DEMO_END)
    clock.as_of = scenario(bot, "latency_step").start + timedelta(minutes=30)
    delivered = threading.Event()
    pending: list[int] = []

    def deliver(now: datetime) -> int:
        pending.append(len(bot.incident_store.pending(now)))
        if pending[-1]:
            delivered.set()
        return 0

    loop = Loop(bot, deliver, sweep_every=timedelta(hours=1), detect_every=timedelta(hours=1),
                refresh_every=timedelta(hours=1))
    loop.start()
    try:
        assert delivered.wait(120), f"the sweep never ran after the detection: {pending}"
    finally:
        loop.shutdown(wait=True)
    assert pending[0] == 0  # the sweep at start found nothing yet; the one woken did


def test_the_loops_detection_ticks_read_only_what_is_new(
    fresh: Callable[..., tuple[Perfbot, FakeClock]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loop keeps one read cache: its second tick reads the newest minutes, not the 28
    days again, and finds what a tick without the cache finds."""
    bot, clock = fresh(DEMO_END)
    clock.as_of = scenario(bot, "latency_step").start + timedelta(minutes=30)
    asked: list[Window] = []
    read = bot.backend.latency

    def recorded(window: Window, *args: object, **kwargs: object) -> object:
        asked.append(window)
        return read(window, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.backend, "latency", recorded)
    loop = Loop(bot)
    first = {i.fingerprint for i in loop._detect().opened}
    read_first = sum((w.end - w.start for w in asked), timedelta())
    asked.clear()
    clock.as_of += timedelta(minutes=5)
    clock.advance(timedelta(minutes=5))
    loop._detect()
    read_next = sum((w.end - w.start for w in asked), timedelta())
    assert ORDERS_LATENCY in first
    assert read_first > timedelta(days=27)  # 28 days, in parts
    assert read_next < timedelta(days=1), read_next  # the newest minutes (and the evidence)
    # The same data read whole: the same findings (nothing opens or resolves).
    whole = detect_once(bot, clock.now())
    assert whole.opened == [] and whole.resolved == []


def test_a_bounded_stop_cuts_a_detection_stuck_reading_and_that_tick_writes_nothing(
    fresh: Callable[..., tuple[Perfbot, FakeClock]], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``perfbot run``'s stop on SIGTERM: a detection tick stuck reading a slow metrics
    server is not waited for (before: the stop waited for it, minutes), and once its read
    returns it writes nothing: the leadership could already be another replica's."""
    bot, clock = fresh(DEMO_END)
    clock.as_of = scenario(bot, "latency_step").start + timedelta(minutes=30)
    reading, released = threading.Event(), threading.Event()
    read = bot.backend.latency

    def stuck(*args: object, **kwargs: object) -> object:
        reading.set()
        released.wait(120)
        return read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.backend, "latency", stuck)
    caplog.set_level(logging.INFO, logger="bot.schedule")
    loop = Loop(bot, sweep_every=timedelta(hours=1), detect_every=timedelta(hours=1),
                refresh_every=timedelta(hours=1))
    loop.start()
    try:
        assert reading.wait(120), "the detection tick never read"
        stopped = loop.stop(within=120)  # returns at once: nothing is writing
        assert not released.is_set()
        assert stopped.writing == () and "detect" in stopped.reading
    finally:
        released.set()
    deadline = time.monotonic() + 120  # a deadline, not a measurement
    while "detect tick: the loop is stopping" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.02)
    assert ORDERS_LATENCY not in {i.fingerprint for i in bot.incident_store.listed()}
    assert not loop.running


def test_a_bounded_stop_waits_for_a_writing_tick_up_to_its_bound_and_names_it(
    fresh: Callable[..., tuple[Perfbot, FakeClock]],
) -> None:
    """A sweep stuck delivering (Slack hangs) is a leader's write: the stop waits for it,
    up to its bound, then says it is still writing (the leadership must then go with the
    process, not before)."""
    bot, _clock = fresh(QUIET)
    delivering, released = threading.Event(), threading.Event()

    def deliver(now: datetime) -> int:
        delivering.set()
        released.wait(120)
        return 0

    loop = Loop(bot, deliver, sweep_every=timedelta(hours=1), detect_every=timedelta(hours=1),
                refresh_every=timedelta(hours=1))
    loop.start()
    try:
        assert delivering.wait(120), "the sweep never delivered"
        stopped = loop.stop(within=0.2)
        assert stopped.writing == ("sweep",)
    finally:
        released.set()
    assert loop.stop(within=120).writing == ()  # once it is done, nothing writes
