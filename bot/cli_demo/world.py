"""The demo's world: its settings, its workload with the missing index and the fix, where
its data ends, and (``--prometheus``) that data in a throwaway local Prometheus."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from bot.clock import FakeClock
    from bot.config import Settings
    from bot.metrics.base import MetricsBackend
    from bot.metrics.demo import DemoWorkload
    from bot.metrics.demo.scenarios import Scenario

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# The people of the demo's escalation policy (Slack ids: upper-case letters and digits).
FIRST, SECOND = "UPRIYA", "USAM"
TEAM, TEAM_CHANNEL, MANAGERS = "orders-team", "#orders", "#eng-managers"
PROMETHEUS_DAYS = 8


class DemoError(Exception):
    """Why the demo could not run (a missing binary); the exit status is ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code

def demo_settings(settings: Settings, db: Path) -> Settings:
    """``settings`` with what the walk needs: its own SQLite file, an escalation policy of
    two people, the one who acknowledges allowed to, and a daily team digest and a weekly
    manager digest."""
    from bot.config import DetectionSettings, SlackSettings, StorageSettings
    from bot.digests.settings import DigestSchedule, DigestSettings
    from bot.incidents.policies import OnCallSettings

    oncall = OnCallSettings.model_validate({
        "policies": [{"name": "orders-oncall", "steps": [
            {"notify_users": [FIRST], "wait": "10m"},
            {"notify_users": [SECOND], "wait": "15m"},
            {"notify_channel": "here"},
        ]}],
        "routing": {"default": "orders-oncall"},
    })
    digests = DigestSettings(schedules=[
        DigestSchedule(when="daily 09:00", channel=TEAM_CHANNEL, team=TEAM),
        DigestSchedule(when="weekly mon 09:00", channel=MANAGERS),
    ])
    return settings.model_copy(update={
        "storage": StorageSettings(url=f"sqlite:///{db / 'perfbot.db'}"),
        "oncall": oncall,
        "digests": digests,
        "detection": DetectionSettings(interval=timedelta(minutes=5)),
        "slack": SlackSettings(allowed_users=[SECOND]),
    })


def walk_end(now: datetime, settings: Settings) -> datetime:
    """Where the demo's data ends: the last Monday 09:00 (local) at or before ``now``, when
    the weekly digest is due; the missing index comes on the Friday before."""
    local = now.astimezone(settings.zone)
    monday = (local - timedelta(days=local.weekday())).replace(hour=9, minute=0, second=0,
                                                              microsecond=0)
    if monday > local:
        monday -= timedelta(days=7)
    return monday.astimezone(UTC)


def with_fix(workload: DemoWorkload, fixed_at: datetime) -> DemoWorkload:
    """The workload with the missing index put back at ``fixed_at``: from then on order
    history's requests are those of the same minutes a week before (the index was there),
    and the scenario ends then."""
    import numpy as np

    step = next(s for s in workload.scenarios if s.kind == "latency_step")
    endpoint = next(i for i, e in enumerate(workload.endpoints) if e.key == step.endpoint_key)
    rows = np.flatnonzero(workload.series_endpoint == endpoint)
    week = int(timedelta(days=7) / timedelta(minutes=1))
    first = int((fixed_at - workload.start) / timedelta(minutes=1))
    if not week <= first < workload.minutes:
        raise ValueError("the fix must come a week or more into the demo's data")
    counts = workload.bucket_counts.copy()
    sums = workload.duration_sum.copy()
    for row in rows:
        counts[row, first:] = workload.bucket_counts[row, first - week:workload.minutes - week]
        sums[row, first:] = workload.duration_sum[row, first - week:workload.minutes - week]
    counts.flags.writeable = sums.flags.writeable = False
    scenarios = [s.model_copy(update={"end": fixed_at}) if s is step else s
                 for s in workload.scenarios]
    return dataclasses.replace(workload, bucket_counts=counts, duration_sum=sums,
                               scenarios=scenarios)

def scenario(workload: DemoWorkload) -> Scenario:
    """The missing index: the walk's incident."""
    return next(s for s in workload.scenarios if s.kind == "latency_step")


def step_fingerprint(step: Scenario) -> str:
    """The fingerprint detection gives the incident of ``step``."""
    from bot.alerts.explained import DETECTION
    from bot.alerts.model import fingerprint
    from bot.metrics.base import endpoint_column

    return fingerprint(DETECTION, str(step.signal), step.service,
                       endpoint_column(step.service, step.endpoint_key or ""))


def local_at(moment: datetime, settings: Settings, hour: int, minute: int) -> datetime:
    """That day of ``moment`` (local) at ``hour:minute``."""
    local = moment.astimezone(settings.zone)
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0).astimezone(UTC)

def local_prometheus(workload: DemoWorkload, settings: Settings, clock: FakeClock, out: TextIO
                ) -> tuple[Settings, MetricsBackend, Callable[[], None]]:
    """The demo data in a throwaway local Prometheus, and the bot's Prometheus backend on it
    with each query it sends printed (one short line); and what stops it all."""
    import shutil

    from bot.app import prometheus_backend
    from bot.metrics.local_prometheus import LocalPrometheus, LocalPrometheusError
    from bot.metrics.settings import PrometheusSettings

    workdir = Path(tempfile.mkdtemp(prefix="perfbot-demo-prometheus-"))
    started = time.monotonic()
    print(f"Loading {(workload.end - workload.start).days} days of demo data into a local "
          "Prometheus (promtool backfill)…", file=out, flush=True)
    try:
        server = LocalPrometheus(workload, workdir).start()
    except LocalPrometheusError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise DemoError(f"--prometheus: {exc}") from None
    print(f"Prometheus at {server.url}, ready in {time.monotonic() - started:.0f}s; each "
          "query the bot sends is printed as ▸ PromQL.\n", file=out)
    metrics = settings.metrics.model_copy(update={
        "backend": "prometheus", "prometheus": PrometheusSettings(url=server.url)})
    settings = settings.model_copy(update={"metrics": metrics})
    backend = prometheus_backend(settings, clock)
    queries = logging.getLogger("bot.metrics.prometheus.backend")
    handler = _QueryPrinter(out)
    queries.addHandler(handler)
    queries.setLevel(logging.DEBUG)

    def stop() -> None:
        queries.removeHandler(handler)
        queries.setLevel(logging.NOTSET)
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return settings, backend, stop


class _QueryPrinter(logging.Handler):
    """Each query the Prometheus backend logs, as one short line."""

    WIDTH = 150

    def __init__(self, out: TextIO) -> None:
        super().__init__(logging.DEBUG)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        if not record.msg.startswith(("query_range ", "query ")) or not record.args:
            return
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        kind = "range" if record.msg.startswith("query_range") else "instant"
        text = " ".join(str(args[0]).split())
        if len(text) > self.WIDTH:
            text = text[:self.WIDTH - 1] + "…"
        print(f"    ▸ PromQL ({kind}) {text}", file=self.out)
