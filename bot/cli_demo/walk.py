"""The demo's walk: the bot, its simulated clock and its recording Slack, moved step by step
through the loop (digests, questions, detection, escalation, acknowledgement, recovery), with
what it sends printed as it would read in Slack."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.cli_demo.world import (
    EXIT_USAGE,
    MANAGERS,
    PROMETHEUS_DAYS,
    SECOND,
    TEAM,
    TEAM_CHANNEL,
    DemoError,
    demo_settings,
    local_at,
    local_prometheus,
    scenario,
    step_fingerprint,
    walk_end,
    with_fix,
)

if TYPE_CHECKING:
    from bot.analytics.findings.baseline import BaselineCache
    from bot.app import Perfbot
    from bot.clock import FakeClock
    from bot.detection import ReadCache
    from bot.incidents.lifecycle import Incident
    from bot.metrics.base import MetricsBackend
    from bot.notify.recording import RecordingSlack, Sent

STEPS = (
    "The morning team digest",
    "Three questions",
    "The missing index: detected, one incident posted",
    "Nobody acknowledges: escalated",
    "Acknowledged",
    "The fix: resolved on its own",
    "The weekly manager digest",
)
SWEEP = timedelta(seconds=30)  # between two sweeps of the simulated loop
QUESTIONS = (
    ("p95 latency of checkout over the last 24h vs the day before", "checkout-p95.png"),
    ("top 3 slowest endpoints today", None),
    ("error budget left for payments this month", None),
)


@dataclasses.dataclass
class Walk:
    """The bot, its simulated clock and its recording Slack, and the printing."""

    perfbot: Perfbot
    clock: FakeClock
    slack: RecordingSlack
    out: TextIO
    charts: Path
    close: Callable[[], None] = lambda: None
    written: list[Path] = dataclasses.field(default_factory=list)
    incident: Incident | None = None
    # Kept across the walk's detection ticks (``detect``); None until the first.
    kept: tuple[BaselineCache, ReadCache] | None = None
    # What each message reads as now, by (channel, ts): an edit shows what changed.
    _rendered: dict[tuple[str, str], list[str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def start(cls, args: argparse.Namespace, out: TextIO, charts: Path, db: Path) -> Walk:
        from bot.app import Perfbot, demo_workload
        from bot.clock import FakeClock, moment_at, utc_now
        from bot.config import load_settings
        from bot.demo_settings import with_demo_defaults
        from bot.metrics.demo import DemoBackend
        from bot.notify.recording import RecordingSlack

        settings = with_demo_defaults(demo_settings(load_settings(args.config), db))
        if args.prometheus:  # before a workload is made for nothing
            from bot.metrics.local_prometheus import LocalPrometheusError, find_binaries

            try:
                find_binaries()
            except LocalPrometheusError as exc:
                raise DemoError(f"--prometheus: {exc}") from None
        try:
            now = moment_at(getattr(args, "at", None), settings.zone) or utc_now()
        except ValueError as exc:
            raise DemoError(str(exc), EXIT_USAGE) from None
        end = walk_end(now, settings)
        # The fix replays the week before it, so at least 8 days; --prometheus loads just
        # those (fewer days load faster; the missing index has 5 before it).
        days = PROMETHEUS_DAYS if args.prometheus else max(settings.metrics.demo_days,
                                                           PROMETHEUS_DAYS)
        settings = settings.model_copy(update={"metrics": settings.metrics.model_copy(
            update={"demo_days": days})})
        workload = demo_workload(settings, FakeClock(end))
        step = scenario(workload)
        # The fix comes two days later: long enough for the week's digest to call it a
        # regression (two hours would vanish in a week's figures).
        workload = with_fix(workload, local_at(step.start + timedelta(days=2), settings, 10, 0))
        clock = FakeClock(local_at(step.start, settings, 9, 0))
        demo = DemoBackend(workload)  # the releases (Prometheus has none), or the metrics too
        backend: MetricsBackend = demo
        close: Callable[[], None] = _nothing
        if args.prometheus:
            settings, backend, close = local_prometheus(workload, settings, clock, out)
        try:
            perfbot = Perfbot(settings=settings, backend=backend, clock=clock, demo=workload,
                              deploy_source=demo)
            walk = cls(perfbot, clock, RecordingSlack(charts), out, charts)
        except BaseException:
            close()  # the local Prometheus, if one was started
            raise

        def closing() -> None:
            perfbot.database.close()
            close()
        walk.close = closing
        return walk

    # --- the walk ------------------------------------------------------------------------

    def run(self) -> None:

        bot, settings = self.perfbot, self.perfbot.settings
        workload = bot.demo
        assert workload is not None
        step = scenario(workload)
        print(f"perfbot demo — the whole loop on a simulated clock: "
              f"{_describe(bot)}. Nothing is sent anywhere: Slack is recorded in this process "
              f"and the store is a temporary SQLite file.", file=self.out)

        self.heading(1)
        self.digests(focus=TEAM_CHANNEL, others_are="other digests")

        self.heading(2)
        for question, chart in QUESTIONS:
            self.clock.advance(timedelta(minutes=2))
            self.ask(question, chart)

        self.clock.set(step.start + timedelta(minutes=30))
        self.heading(3)
        print(f"(injected at {self.at(step.start)}: {step.description})\n", file=self.out)
        self.detect(bot.now())
        self.incident = bot.incident_store.latest(step_fingerprint(step))
        if self.incident is None:
            raise DemoError("detection did not find the missing index (a bug: please report)")
        self.sweep(focus=self.incident)

        self.heading(4)
        policy = next(p for p in settings.oncall.policies if p.name == self.incident.policy)
        self.run_loop(policy.steps[0].wait, focus=self.incident)

        self.clock.advance(timedelta(minutes=3))
        self.heading(5)
        self.act("ack", self.incident.name, SECOND)

        assert step.end is not None
        self.clock.set(step.end + timedelta(minutes=1))
        self.heading(6)
        print(f"{self.at(step.end)}: orders 4.2.1 goes out in Sunday's quiet hours; it "
              "recreates the (user_id, created_at) index (CREATE INDEX CONCURRENTLY). The "
              "loop's next detections see order history back at its usual p95.\n",
              file=self.out)
        self.run_loop(timedelta(minutes=40), focus=self.incident,
                      until=lambda: not self._current().is_open)
        incident = self._current()
        if incident.resolved_at is not None:
            print(f"\n{incident.name} lasted "
                  f"{_lasted(incident.opened_at, incident.resolved_at)}.", file=self.out)

        self.clock.set(workload.end)
        self.heading(7)
        self.digests(focus=MANAGERS, others_are=f"the daily team digest of {TEAM}")
        self.finish()

    def finish(self) -> None:
        from bot.render.incident_lists import timeline_text

        incident = self._current()
        store = self.perfbot.incident_store
        print("\n━━ The store ━━ what the bot recorded (perfbot incidents show "
              f"{incident.name})", file=self.out)
        print(timeline_text(incident, store.timeline(incident.id), self.perfbot.settings.zone),
              file=self.out)
        others = [i for i in store.listed(open_only=False, limit=50) if i.id != incident.id]
        if others:
            print("Also opened by the same detection (the demo's other injected incidents): "
                  + ", ".join(f"{i.name} {i.alert.title} ({i.state})" for i in others),
                  file=self.out)
        print("\nCharts written:", file=self.out)
        for path in [*self.written, *(s.file for s in self.slack.sent if s.file is not None)]:
            print(f"  {path}", file=self.out)
        print("\nNext steps (README.md):\n"
              "  • Connect to Slack: create the app from slack-manifest.yaml, export "
              "SLACK_BOT_TOKEN and SLACK_APP_TOKEN, then perfbot run --demo-data to try it "
              "in a workspace on this demo workload.\n"
              "  • Connect Prometheus: set metrics.backend: prometheus and metrics.prometheus.url "
              "in perfbot.yaml (\"Configuration\", \"Metric names\"), then perfbot check-config "
              "and perfbot run.\n"
              "  • Try: perfbot demo --prometheus (the same walk through PromQL), "
              "perfbot playbooks test, perfbot ask help.", file=self.out)

    # --- the loop's ticks ----------------------------------------------------------------

    def sweep(self, focus: Incident | None = None) -> None:
        """What ``perfbot run``'s sweep tick does, until the outbox is empty: due steps
        decided, then delivered through the recording Slack (paced: one post per channel
        per second, so a few ticks a second apart)."""
        from bot.schedule import sweep_once

        delivery = self.perfbot.delivery_for(self.slack)
        start = len(self.slack.sent)
        for _ in range(30):
            sweep_once(self.perfbot, self.clock.now(), delivery.deliver)
            if not self.perfbot.incident_store.pending(self.clock.now()):
                break
            self.clock.advance(timedelta(seconds=1))
        self.show(self.slack.sent[start:], focus)

    def detect(self, now: datetime) -> None:
        """A detection tick, with what ``perfbot run`` keeps between its ticks: the earlier
        days' baselines and the raw reads, so a tick after the first reads only the newest
        steps."""
        from bot.analytics.findings.baseline import BaselineCache
        from bot.detection import ReadCache
        from bot.schedule import detect_once

        if self.kept is None:
            self.kept = (BaselineCache(), ReadCache())
        detect_once(self.perfbot, now, *self.kept)

    def run_loop(self, span: timedelta, focus: Incident | None,
                 until: Callable[[], bool] = lambda: False) -> None:
        """The loop for ``span``: a sweep every ``SWEEP`` and detection every
        ``detection.interval``, printing what was sent; stops early once ``until()``."""
        every = self.perfbot.settings.detection.interval
        end = self.clock.now() + span
        detected = self.clock.now() - every
        while self.clock.now() < end and not until():
            now = self.clock.advance(SWEEP)
            if now - detected >= every:
                detected = now
                self.detect(now)
            self.sweep(focus)

    def digests(self, focus: str, others_are: str) -> None:
        from bot.notify.digests import SlackDigestPoster
        from bot.schedule import digest_once

        start = len(self.slack.sent)
        poster = SlackDigestPoster(self.slack, self.perfbot.settings.zone)
        digest_once(self.perfbot, self.clock.now(), poster)
        self.show(self.slack.sent[start:], focus, others_are)

    def ask(self, question: str, chart: str | None) -> None:
        from bot.ask.answer import ask
        from bot.render.blocks import answer_message
        from bot.render.terminal import message_text

        print(f"\n{self.at(self.clock.now())} @{SECOND} in {TEAM_CHANNEL}: "
              f"/perf {question}", file=self.out)
        reply = ask(question, self.perfbot.sources, self.perfbot.data_now(),
                    chart=chart is not None)
        message = answer_message(reply)
        print(indent(message_text(message.text, message.blocks)), file=self.out)
        if chart is not None and reply.chart is not None:
            path = self.charts / chart
            path.write_bytes(reply.chart.png)
            self.written.append(path)
            print(f"  (chart: {path})", file=self.out)

    def act(self, word: str, name: str, user: str) -> bool:
        """``user`` acknowledges or resolves ``name`` as a Slack button would: authorized,
        recorded in the audit table, stored, then delivered."""
        from bot.alerts.acts import Act
        from bot.authz import decide
        from bot.cli_incidents import Failed, _number
        from bot.incidents.lifecycle import Refused
        from bot.render.postmortem import markdown
        from bot.storage.audit import audit_row

        what = {"ack": Act.ACKNOWLEDGE, "resolve": Act.RESOLVE}[word]
        try:
            number = _number(name)
        except Failed as exc:
            print(f"  {exc}", file=self.out)
            return False
        decision = decide(self.perfbot.rules, user, what, lambda group: ())
        now = self.clock.now()
        record = audit_row(at=now, user=user, action=what.value, target=f"INC-{number}",
                           allowed=decision.allowed, detail=f"perfbot demo: {decision.reason}")
        if not decision.allowed:
            print(f"  @{user} may not {word} INC-{number}: {decision.reason}", file=self.out)
            return False
        print(f"{self.at(now)} @{user} presses [{'Acknowledge' if word == 'ack' else 'Resolve'}]"
              f" on INC-{number} ({decision.reason})", file=self.out)
        result = self.perfbot.incidents.act(number, what, user, now, record=record)
        if result is None:
            print(f"  there is no incident INC-{number}", file=self.out)
            return False
        if isinstance(result, Refused):
            print(f"  refused: {markdown(result.reason)}", file=self.out)
            return False
        self.sweep(focus=result)
        return True

    # --- printing ------------------------------------------------------------------------

    def heading(self, number: int) -> None:
        print(f"\n━━ {number}. {STEPS[number - 1]} ━━ {self.at(self.clock.now())}\n",
              file=self.out)

    def at(self, moment: datetime) -> str:
        return moment.astimezone(self.perfbot.settings.zone).strftime("%a %d %b %H:%M %Z")

    def show(self, sent: list[Sent], focus: Incident | str | None,
             others_are: str = "the demo's other injected incidents") -> None:
        """Each message sent about ``focus`` (an incident, or a channel) as it reads in
        Slack (an edit: only its changed lines); the others one line per channel."""
        from bot.render.terminal import message_text

        others: dict[str, int] = {}
        when = self.clock.now().astimezone(self.perfbot.settings.zone).strftime("%H:%M")
        for item in sent:
            body = (f"{item.text}: {item.file}" if item.file is not None
                    else message_text(item.text, item.blocks))
            before = self._rendered.get((item.channel, item.ts), [])
            self._rendered[(item.channel, item.ts)] = body.splitlines()
            if not self._about(item, focus):
                others[item.channel] = others.get(item.channel, 0) + 1
                continue
            where = (f"DM to @{item.channel[1:]}" if item.channel.startswith("D")
                     else item.channel)
            kind = {"chat.postMessage": "in the thread" if item.thread_ts else "posted",
                    "chat.update": "message edited", "files.upload": "chart uploaded"}
            print(f"[{when} Slack → {where}, {kind[item.method]}]", file=self.out)
            if item.method == "chat.update" and before:
                body = "\n".join(f"{line}" for line in body.splitlines()
                                 if line not in before) or "(no visible change)"
            print(indent(body), file=self.out)
        if others:
            print("(also sent: " + ", ".join(f"{n} to {channel}" for channel, n in
                                              sorted(others.items()))
                  + f": {others_are})", file=self.out)

    def _about(self, item: Sent, focus: Incident | str | None) -> bool:
        if focus is None or isinstance(focus, str):
            return focus is None or item.channel == focus
        name = focus.name
        current = self._current(focus.id)
        threads = {current.message_ts, current.thread_ts} - {None}
        return (item.ts in threads or item.thread_ts in threads
                or f" {name} " in f" {item.text} " or f"*{name}*" in item.text
                or f"{name}:" in item.text)

    def _current(self, incident_id: int | None = None) -> Incident:
        assert self.incident is not None
        found = self.perfbot.incident_store.get(incident_id or self.incident.id)
        assert found is not None
        return found


def _nothing() -> None:
    return None


def _lasted(start: datetime, end: datetime) -> str:
    from bot.durations import format_duration

    return format_duration(end - start)


def _describe(bot: Perfbot) -> str:
    return "; ".join(check.detail for check in bot.backend.check()
                     if check.ok and not check.warning) or "metrics"


def indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())

