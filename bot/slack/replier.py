"""Turning one question into Slack messages: "looking…", then the answer in its place, then
the chart; in the asker's time zone, a few at a time, a few per person."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.app import Perfbot
from bot.ask.answer import Sources, ask, no_catalog_answer
from bot.catalog import Catalog
from bot.clock import Now
from bot.memory import release
from bot.metrics.base import MetricsError
from bot.observability import telemetry
from bot.render.blocks import (
    SlackMessage,
    answer_message,
    text_message,
)
from bot.render.message import Answer
from bot.render.mrkdwn import clip
from bot.slack.web import api_problem

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
LOOKING = ":hourglass_flowing_sand: Looking into it…"
FAILED = ":warning: The answer could not be posted here"
RESTARTED = (":arrows_counterclockwise: perfbot restarted before this question was answered; "
             "please ask it again in a minute.")


class UserZones:
    """Each user's time zone from their Slack profile; the bot's zone when unknown. Kept for
    ``ttl`` (people travel, and Slack moves their zone with them); a failed lookup only for
    ``retry``, so one Slack hiccup does not leave someone in the wrong zone for hours."""

    def __init__(
        self, client: WebClient, default: ZoneInfo, clock: Now, *,
        ttl: timedelta = timedelta(hours=6), retry: timedelta = timedelta(minutes=1),
    ) -> None:
        self._client, self._default, self._clock = client, default, clock
        self._ttl, self._retry = ttl, retry
        self._zones: dict[str, tuple[ZoneInfo, datetime]] = {}  # user → zone, good until

    def zone(self, user: str | None) -> ZoneInfo:
        if not user:
            return self._default
        now = self._clock()
        known = self._zones.get(user)
        if known is not None and now < known[1]:
            return known[0]
        zone, found = self._lookup(user)
        self._zones[user] = (zone, now + (self._ttl if found else self._retry))
        return zone

    def _lookup(self, user: str) -> tuple[ZoneInfo, bool]:
        try:
            profile: dict[str, Any] = self._client.users_info(user=user).get("user") or {}
            name = profile.get("tz")
            return (ZoneInfo(str(name)), True) if name else (self._default, True)
        except (SlackClientError, ZoneInfoNotFoundError, ValueError) as exc:
            log.warning("no time zone for %s: %s", user, exc)
            return self._default, False


class InFlight:
    """The questions each person has in progress, so one person cannot take every slot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def admit(self, user: str | None) -> Iterator[bool]:
        """Yields whether ``user`` may ask now; counts the question while it is answered."""
        with self._lock:
            admitted = user is None or self._counts[user] < self.limit
            if admitted and user is not None:
                self._counts[user] += 1
        try:
            yield admitted
        finally:
            if admitted and user is not None:
                with self._lock:
                    self._counts[user] -= 1
                    if not self._counts[user]:
                        del self._counts[user]


class Replier:
    """Turns one question into Slack calls: "looking…", then the answer, then its chart.
    At most ``slack.answer_workers`` answers are computed at once (the others wait after
    their "looking…"), and ``slack.questions_per_user`` per person."""

    def __init__(self, perfbot: Perfbot, client: WebClient) -> None:
        self.perfbot = perfbot
        self.client = client
        self.zones = UserZones(client, perfbot.settings.zone, perfbot.now)
        self.in_flight = InFlight(perfbot.settings.slack.questions_per_user)
        self._slots = threading.BoundedSemaphore(perfbot.settings.slack.answer_workers)
        # "Looking…" messages not yet replaced by their answer (ts → channel), so a bot
        # that stops can say so in them rather than leave them looking forever.
        self._pending: dict[str, str] = {}
        self._posting = 0  # answers computed and being posted: ``finish`` waits for them
        self._stopping = False
        self._changed = threading.Condition()

    def finish(self, timeout: float) -> int:
        """Stop taking questions, give the ones in progress ``timeout`` seconds, and turn the
        "looking…" of those still unanswered into a note to ask again. How many were cut."""
        with self._changed:
            self._stopping = True
            self._changed.wait_for(lambda: not self._pending and not self._posting, timeout)
            cut, self._pending = self._pending, {}
        for ts, channel in cut.items():
            try:
                self.client.chat_update(channel=channel, ts=ts, text=RESTARTED,
                                        blocks=list(text_message(RESTARTED).blocks))
            except SlackApiError as exc:
                log.warning("could not mark the unanswered question in %s: %s", channel, exc)
        return len(cut)

    def sources_for(self, user: str | None) -> Sources:
        return replace(self.perfbot.sources, tz=self.zones.zone(user))

    def answer(self, text: str, user: str | None) -> Answer:
        try:
            sources = self.sources_for(user)
        except MetricsError as exc:  # no catalog yet: expected while the server is away
            log.warning("no endpoint catalog to answer %r: %s", clip(text, 200), exc)
            return no_catalog_answer(exc)
        return ask(text, sources, self.perfbot.data_now(), chart=True)

    def help(self, user: str | None) -> Answer:
        """The help answer, for ``/perf help`` and App Home: from the last catalog without
        waiting for discovery (a slow or absent metrics server must not hold it), or with
        generic examples before the first."""
        catalog = self.perfbot.last_catalog() or Catalog([])
        sources = Sources(backend=self.perfbot.backend, catalog=catalog,
                          tz=self.zones.zone(user), cost=self.perfbot.settings.cost)
        return ask("help", sources, self.perfbot.data_now())

    def reply(
        self, question: str, *, channel: str, user: str | None, thread_ts: str | None,
        tell: Callable[[SlackMessage], None],
    ) -> None:
        """Answer ``question`` in ``channel`` (in ``thread_ts`` when given); ``tell`` reaches
        the asker alone, for errors."""
        problem = question_problem(question)
        if problem is not None:
            _counted("rejected")
            tell(text_message(problem))
            return
        if self._stopping:
            _counted("refused")
            tell(text_message(RESTARTED))
            return
        with self.in_flight.admit(user) as admitted:
            if not admitted:
                _counted("refused")
                tell(text_message(
                    f"You already have {self.in_flight.limit} questions being answered; "
                    "ask this one again when one of them is done."))
                return
            self._reply(question, channel=channel, user=user, thread_ts=thread_ts, tell=tell)
        # Once the asker has the answer, not before it: what it read, drew and posted (its
        # chart's reference cycles) is garbage now; its pages go back to the system.
        release()

    def _reply(
        self, question: str, *, channel: str, user: str | None, thread_ts: str | None,
        tell: Callable[[SlackMessage], None],
    ) -> None:
        try:
            looking = self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=LOOKING)
        except SlackApiError as exc:
            _counted("failed")
            tell(text_message(api_problem(exc)))
            return
        ts = str(looking["ts"])
        with self._changed:
            self._pending[ts] = channel
        started = time.monotonic()
        try:
            with self._slots:
                reply = self.answer(question, user)
            message = answer_message(reply)
        except Exception:  # the edge: whatever broke, the asker hears about it
            log.exception("answering %r failed", question)
            message = text_message(":warning: Something went wrong while answering; "
                                   "the details are in the bot's log.")
            reply = None
        with self._changed:
            if self._pending.pop(ts, None) is None:
                _counted("cut")
                return  # too late: ``finish`` already told the asker to ask again
            self._posting += 1
        try:
            self._post(reply, message, channel=channel, ts=ts, user=user, question=question,
                       thread_ts=thread_ts, started=started, tell=tell)
        finally:
            with self._changed:
                self._posting -= 1
                self._changed.notify_all()

    def _post(self, reply: Answer | None, message: SlackMessage, *, channel: str, ts: str,
              user: str | None, question: str, thread_ts: str | None, started: float,
              tell: Callable[[SlackMessage], None]) -> None:
        """The answer in place of "looking…", then its chart."""
        try:
            self.client.chat_update(channel=channel, ts=ts, text=message.text,
                                    blocks=list(message.blocks))
        except SlackApiError as exc:
            log.warning("could not post the answer in %s: %s", channel, exc)
            _counted("failed")
            if not self._instead(channel, ts, reply, exc):
                tell(text_message(f"I could not post the answer. {api_problem(exc)}"))
            return
        _counted("answered" if reply is not None else "failed", time.monotonic() - started)
        log.info("answered %s in %s after %.0f ms: %s", user, channel,
                 (time.monotonic() - started) * 1000, clip(question, 200))
        if reply is not None and reply.chart is not None:
            try:
                self.client.files_upload_v2(
                    channel=channel, thread_ts=thread_ts or ts, content=reply.chart.png,
                    filename="chart.png", title=reply.chart.title, alt_txt=reply.chart.alt,
                )
            except SlackApiError as exc:
                tell(text_message(f"The chart could not be posted. {api_problem(exc)}"))

    def _instead(self, channel: str, ts: str, reply: Answer | None,
                 failed: SlackApiError) -> bool:
        """The answer could not replace "looking…": put something short there instead, so it
        does not say "looking" forever. True when that was the shortened answer (the asker
        has it), False when only a note that it failed (or nothing) could be put there."""
        error = failed.response.get("error", "") if failed.response is not None else ""
        short = reply is not None and error == "msg_too_long"
        if reply is not None and short:
            message = answer_message(Answer(
                kind=reply.kind, headline=reply.headline, sparkline=reply.sparkline,
                notes=("The full answer was too long for Slack: ask about fewer endpoints "
                       "or a shorter period.",)))
        else:
            message = text_message(f"{FAILED} ({error or 'Slack gave no reason'}).")
        try:
            self.client.chat_update(channel=channel, ts=ts, text=message.text,
                                    blocks=list(message.blocks))
        except SlackClientError as exc:
            log.warning("could not replace the looking message in %s either: %s", channel, exc)
            return False
        return short


def _counted(outcome: str, seconds: float | None = None) -> None:
    """``perfbot_questions`` by ``outcome``; an answer's time into ``perfbot_answer_seconds``."""
    measured = telemetry()
    measured.questions.labels(outcome).inc()
    if seconds is not None:
        measured.answer_seconds.observe(seconds)


def question_problem(text: str) -> str | None:
    """Why a question cannot be asked as typed, or None."""
    if len(text) > MAX_QUESTION_CHARS:
        return (f"That question is {len(text):,} characters long; ask in at most "
                f"{MAX_QUESTION_CHARS:,}, e.g. `/perf p95 of checkout last 24h`.")
    return None
