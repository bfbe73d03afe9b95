"""The running loop: interval ticks that call detection, the escalation sweep and the catalog
refresh. The only module that imports APScheduler.

APScheduler only *triggers*. Every tick is a plain function of the bot and of ``now`` taken
from the injected clock (``detect_once``, ``sweep_once``, ``refresh_catalog_once``), so tests
call them on a ``FakeClock`` without a scheduler. No state lives in the scheduler or in this
process: incidents, due escalation steps and the outbox are in the database, so a restart
(or a tick that failed) loses nothing and the next tick carries on. That is why there are no
one-shot date jobs: APScheduler 3 writes a date job's next run before the job finishes, so a
crash between the two would lose the step.

With several replicas (``bot.storage.leader``) only the leader detects, sweeps and posts
digests; every replica refreshes its own catalog, which its answers use. Each leader-only
tick asks ``leading()`` before it starts, and the sweep asks again before it delivers: a
replica that stopped leading mid-tick finishes the store write in progress and sends
nothing more. Deciding a step twice is harmless (the incident's version check and the
outbox's unique key keep one); sending one twice is what the second question prevents.

Stopping (``Loop.stop``) is bounded: no tick starts; a leader-only tick that is writing
(the sweep, the digests, detection past its reads) gets up to the bound; one still reading
(detection on a slow metrics server) is cut at once: it can no longer write (``Stopping``),
so the leadership can be handed over before it ends, and what it would have found the next
leader finds. What a cut writer had stored is in the outbox, sent by whoever leads next.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from threading import Condition, Lock

from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.alerts.explained import DETECTION, CycleReport, Explained
from bot.alerts.model import fingerprint
from bot.analytics.findings.baseline import BaselineCache
from bot.analytics.findings.model import Finding, Severity
from bot.app import Perfbot
from bot.detection import ReadCache, run_cycle
from bot.digests.service import Post as PostDigest
from bot.digests.service import TickReport
from bot.durations import format_duration
from bot.incidents.policies import Urgency
from bot.incidents.service import CycleOutcome, Firing
from bot.memory import release
from bot.metrics.base import MetricsError
from bot.observability import telemetry, timed
from bot.render.alert import build_alert
from bot.render.text import format_value
from bot.storage import StorageError

log = logging.getLogger(__name__)

# Digests are scheduled to the minute: the tick looks every minute of the bot's clock.
DIGEST_CHECK = timedelta(minutes=1)
Deliver = Callable[[datetime], int]  # carries out the outbox's due effects; how many
Leading = Callable[[], bool]  # whether this replica leads now (``Leadership.is_leader``)
Writing = Callable[[], AbstractContextManager[None]]  # held while a tick writes as leader
LEADER_ONLY = frozenset({"detect", "sweep", "digests"})

# The sweep claims due escalation steps and delivers the outbox: a page is at most this late,
# and a channel's queue drains at one message per tick (Slack's pace is one per second).
SWEEP_EVERY = timedelta(seconds=2)
# How often the refresh tick asks whether the catalog is older than ``catalog.refresh``
# (the catalog itself decides; this only bounds how late past its age it is rediscovered).
REFRESH_CHECK = timedelta(minutes=1)


# --- what a detection cycle means for incidents (pure) ------------------------------------

def urgency(finding: Finding) -> Urgency:
    """``high`` pages at once: the finding is critical (which needs an SLO breach, see
    ``findings._severity``) or one of its signals burns the error budget fast (a burn rule
    over 6 h or less, ``findings.FAST_BURN``). Anything else is ``low``: posted, and paging
    only within the policy's support hours."""
    if finding.severity is Severity.CRITICAL or any(a.fast_burn for a in finding.anomalies):
        return "high"
    return "low"


def recovery_text(item: Explained) -> str:
    """Where the signal that moved first is now against its baseline: the last point of its
    chart (which runs to the newest data), for the resolution message. Empty when the
    finding carries no chart or no finite value."""
    first = item.finding.first_mover
    chart = first.chart
    if chart is None:
        return ""
    for value, baseline in zip(reversed(chart.values), reversed(chart.baseline), strict=True):
        if math.isfinite(value) and math.isfinite(baseline):
            signal = first.key.signal
            return (f"{first.key.label} at {format_value(signal, value)}, usual "
                    f"{format_value(signal, baseline)}")
    return ""


def firings(report: CycleReport, zone: tzinfo) -> tuple[list[Firing], dict[str, str]]:
    """The findings still active, as firings; and for the ones that ended within the window,
    where their signal is now, by fingerprint (their incidents resolve). A finding that
    ended is not fired: firing it would keep its incident open for the whole window."""
    active: list[Firing] = []
    how: dict[str, str] = {}
    for item in report.explained:
        alert = item.alert()
        if item.finding.end is None:
            active.append(Firing(alert=alert, message=build_alert(item, zone, chart=False),
                                 urgency=urgency(item.finding)))
        else:
            how.setdefault(alert.fingerprint, recovery_text(item))
    return active, how


def judged(report: CycleReport) -> Callable[[str], bool]:
    """Whether the cycle judged a fingerprint's series. When a signal could not be read at
    all, nothing is judged; a series with a problem (no data, too little history, gaps) is
    not. Their incidents stay open: a metrics outage must not resolve every incident."""
    if report.problems:
        return lambda fingerprint: False
    unjudged = {fingerprint(DETECTION, str(p.key.signal), p.key.service, p.key.column)
                for p in report.result.problems}
    return lambda key: key not in unjudged


# --- the ticks ----------------------------------------------------------------------------

def detect_once(perfbot: Perfbot, now: datetime,
                cache: BaselineCache | None = None,
                reads: ReadCache | None = None, writing: Writing = nullcontext) -> CycleOutcome:
    """One detection cycle at the data's "now" over ``detection.window``, turned into
    incidents at wall time ``now``: new findings open incidents, repeats update them, ended
    ones resolve them. ``cache``: the earlier days' baselines, kept between ticks;
    ``reads``: the raw frames, kept between ticks (a tick reads only the newest steps);
    ``writing``: held around the store writes (``Loop``'s raises ``Stopping`` once the
    loop stops: the reads, however long, never write after that)."""
    settings = perfbot.settings
    measured = telemetry()
    with timed(measured.detection_seconds):
        report = run_cycle(perfbot.backend, perfbot.data_now(), settings.detection.window,
                           catalog=perfbot.catalog, playbooks=perfbot.playbooks,
                           deploys=perfbot.deploys, cache=cache,
                           levels=settings.detection.sensitivity, reads=reads)
        for problem in report.problems:
            log.warning("detection: %s (no incident is resolved this cycle)", problem)
        active, how = firings(report, settings.zone)
        with writing():
            outcome = perfbot.incidents.cycle(active, DETECTION, now, how,
                                              judged=judged(report))
    measured.detection_series.inc(report.result.series_checked)
    if outcome.opened or outcome.reopened or outcome.resolved:
        log.info("detection: %s", _summary(outcome))
    return outcome


def sweep_once(perfbot: Perfbot, now: datetime, deliver: Deliver | None = None,
               leading: Leading | None = None) -> int:
    """Carry out what is due by ``now`` (snoozes ending, escalation steps, stored in the
    outbox), then deliver the outbox. One place delivers, so one thread at a time does:
    the sweep job runs one instance at a time. ``leading`` is asked again before
    delivering: a replica that lost the lead during the sweep leaves the sending to the
    new leader. How many incidents were due."""
    due = perfbot.incidents.sweep(now)
    if deliver is not None and (leading is None or leading()):
        deliver(now)
    return due


def digest_once(perfbot: Perfbot, now: datetime, post: PostDigest | None) -> TickReport:
    """Post the digests due at ``now`` (each once, across replicas); the period ends at its
    scheduled time but never after the data's now. Without a poster nothing is due."""
    if post is None:
        return TickReport()
    report = perfbot.digests.tick(now, post, data_now=perfbot.data_now())
    measured = telemetry()
    measured.digests_posted.inc(len(report.posted))
    measured.digests_failed.inc(len(report.failed))
    return report


def refresh_catalog_once(perfbot: Perfbot) -> int:
    """Rediscover the endpoints when the catalog is older than ``catalog.refresh``, here and
    not in the middle of somebody's question; how many endpoints it has."""
    return len(perfbot.catalog.entries)


# --- the scheduler ------------------------------------------------------------------------

class Stopping(Exception):
    """A leader-only tick about to write while the loop stops: it writes nothing."""


@dataclass(frozen=True)
class Stopped:
    """What ``Loop.stop`` left running, by tick name: ``writing``, still writing as leader
    after the bound (only the process's end stops them); ``reading``, cut while reading
    (they can no longer write)."""

    writing: tuple[str, ...] = ()
    reading: tuple[str, ...] = ()


class Loop:
    """The ticks on a ``BackgroundScheduler``: detection every ``detection.interval``, the
    sweep every ``sweep_every``, the catalog check every minute (of the bot's clock: a
    clock at N× real time ticks N times as often). Each runs at once on
    ``start`` (a restart posts and escalates without waiting an interval), then on its
    interval; one instance at a time, a late run coalesced into one, and a run later than
    its interval dropped (the next one does the same work). A tick that raises is logged
    and the next one runs. Started once; ``stop`` waits a bounded time for the leader's
    writes in progress, ``shutdown`` for every running tick."""

    def __init__(
        self, perfbot: Perfbot, deliver: Deliver | None = None, *,
        sweep_every: timedelta = SWEEP_EVERY, detect_every: timedelta | None = None,
        refresh_every: timedelta | None = None, post_digest: PostDigest | None = None,
        leading: Leading | None = None,
    ) -> None:
        settings = perfbot.settings
        self.perfbot = perfbot
        # None: the only process (SQLite, tests), which always leads.
        self.leading: Leading = leading or (lambda: True)
        self._led: bool | None = None  # what the last leader-only tick found; None: none ran
        self._led_lock = Lock()  # three ticks ask, from the scheduler's threads
        self.deliver = deliver
        self.post_digest = post_digest
        self.cache = BaselineCache()  # only the detection tick uses it, one at a time
        self.reads = ReadCache()  # likewise: the raw reads, so a tick reads only what is new
        self.every = {
            "detect": detect_every or settings.detection.interval,
            "sweep": sweep_every,
            "refresh-catalog": refresh_every or min(settings.catalog.refresh, REFRESH_CHECK),
            "digests": DIGEST_CHECK,
        }
        self.failures: dict[str, int] = dict.fromkeys(self.every, 0)
        self._failures_lock = Lock()
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._started = False
        # APScheduler's shutdown(wait=True) holds its job store lock while it waits for the
        # running ticks, and a tick's modify_job needs that lock: a tick that brings another
        # forward while the loop stops would wait forever (SIGTERM hung). A tick brings one
        # forward only under this lock and only while the loop is not stopping.
        self._wake_lock = Lock()
        self._stopping = False
        # The ticks running now, and those writing as leader (``_writing``), by name.
        self._ticks = Condition()
        self._running: Counter[str] = Counter()
        self._writers: Counter[str] = Counter()
        self._cut = False  # ``stop`` began: a leader's tick writes nothing more

    def start(self) -> None:
        if self._started:
            raise RuntimeError("the loop was already started; make a new one")
        self._started = True
        ticks: dict[str, Callable[[], object]] = {
            "detect": self._detect,
            "sweep": lambda: sweep_once(self.perfbot, self.perfbot.now(), self.deliver,
                                        self.leading),
            "refresh-catalog": lambda: refresh_catalog_once(self.perfbot),
            "digests": lambda: digest_once(self.perfbot, self.perfbot.now(), self.post_digest),
        }
        # The scheduler's own times are real time (it only triggers); the ticks read the
        # bot's clock.
        first = datetime.now(UTC)
        real = self.real_every()
        for name, tick in ticks.items():
            every = real[name]
            if name in LEADER_ONLY:
                tick = self._if_leading(tick if name == "detect"  # it says when it writes
                                        else self._written(name, tick))
            self._scheduler.add_job(
                self._guarded(name, tick), IntervalTrigger(seconds=every.total_seconds()),
                id=name, name=name, next_run_time=first, coalesce=True, max_instances=1,
                misfire_grace_time=max(1, math.ceil(every.total_seconds())),
            )
        self._scheduler.start()
        log.info("loop started: detection every %s, sweep every %s, catalog check every %s",
                 *(format_duration(self.every[name])
                   for name in ("detect", "sweep", "refresh-catalog")))

    def _detect(self) -> CycleOutcome:
        """The detection tick; when it opened, reopened or resolved incidents, the sweep
        runs at once to post them. Its own next run, started with the detection's and
        quicker, had just found nothing: the message waited a whole sweep interval."""
        outcome = detect_once(self.perfbot, self.perfbot.now(), self.cache, self.reads,
                              lambda: self._writing("detect"))
        release()  # the cycle's read and parts are garbage: give their pages back
        if outcome.opened or outcome.reopened or outcome.resolved:
            self._run_now("sweep")
        return outcome

    def _run_now(self, *names: str) -> None:
        """Bring the ticks ``names`` forward to now, unless the loop is stopping."""
        with self._wake_lock:
            if self._stopping:
                return
            for name in names:
                with suppress(JobLookupError):
                    self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    def real_every(self) -> dict[str, timedelta]:
        """The ticks' intervals in real time, which the scheduler keeps: ``every`` is in
        the bot's clock's time, and a clock faster than real time (``perfbot run --speed``)
        needs its ticks that much more often (10 ms at the least)."""
        rate = self.perfbot.clock.rate
        return {name: max(every / rate, timedelta(milliseconds=10))
                for name, every in self.every.items()}

    def _written(self, name: str, tick: Callable[[], object]) -> Callable[[], object]:
        """``tick``, all of it a leader's write (the sweep, the digests)."""
        def run() -> object:
            with self._writing(name):
                return tick()
        return run

    @contextmanager
    def _writing(self, name: str) -> Iterator[None]:
        """Held while tick ``name`` writes as leader; ``Stopping`` once ``stop`` began, so
        it knows when no tick of this replica can write any more."""
        with self._ticks:
            if self._cut:
                raise Stopping(name)
            self._writers[name] += 1
        try:
            yield
        finally:
            with self._ticks:
                self._writers[name] -= 1
                self._ticks.notify_all()

    def stop(self, within: float) -> Stopped:
        """Stop triggering at once; give the leader's writes in progress up to ``within``
        seconds; return what is still running then (``Stopped``). A tick still reading is
        not waited for: it cannot write any more, whatever it reads."""
        with self._wake_lock, self._ticks:
            self._stopping = self._cut = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        with self._ticks:
            self._ticks.wait_for(lambda: not +self._writers, within)
            writing = tuple(sorted(+self._writers))
            reading = tuple(sorted(set(+self._running) - set(writing)))
        return Stopped(writing, reading)

    def shutdown(self, wait: bool = True) -> None:
        """Stop triggering; with ``wait``, return after the ticks running now finish (and
        write what they found: unbounded, for tests and benchmarks; ``perfbot run`` uses
        ``stop``). A loop never started (Slack did not connect) has nothing to stop."""
        with self._wake_lock, self._ticks:  # no tick brings another forward from here on
            self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
            log.info("loop stopped")

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def _if_leading(self, tick: Callable[[], object]) -> Callable[[], object]:
        """``tick`` only while this replica leads; a standby's tick does nothing."""
        return lambda: tick() if self._leads() else None

    def _leads(self) -> bool:
        """Whether this replica leads. One that just took over detects and looks for due
        digests at once: its own detection tick, idle until now, may be an interval away."""
        leading = self.leading()
        with self._led_lock:
            took_over, self._led = self._led is False and leading, leading
        if took_over:
            log.info("leading now: detection and digests run at once")
            self._run_now("detect", "digests")
        return leading

    def _guarded(self, name: str, tick: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            with self._ticks:
                self._running[name] += 1
            try:
                tick()
            except Stopping:  # the loop stops: a leader's tick writes nothing more
                log.info("%s tick: the loop is stopping, it wrote nothing", name)
            except (MetricsError, StorageError) as exc:  # expected outages: one line
                self._failed(name)
                log.error("%s tick failed (the next one runs as usual): %s", name, exc)
            except Exception:
                self._failed(name)
                log.exception("%s tick failed (the next one runs as usual)", name)
            finally:
                with self._ticks:
                    self._running[name] -= 1
                    self._ticks.notify_all()
        return run

    def _failed(self, name: str) -> None:
        telemetry().ticks_failed.labels(name).inc()
        with self._failures_lock:
            self.failures[name] += 1


def _summary(outcome: CycleOutcome) -> str:
    said = [f"{what} {', '.join(i.name for i in incidents)}" for what, incidents in (
        ("opened", outcome.opened), ("reopened", outcome.reopened),
        ("resolved", outcome.resolved)) if incidents]
    return "; ".join(said)
