"""The outbox, carried out on Slack: what the incidents' changes decided (post, edit, reply,
page, chart) is sent here, after it was stored, and marked sent only when Slack said ok.

A restart sends only what was not sent. Every message is drawn again from the incident as
stored now, never from a payload stored with the effect, so a late edit cannot show an old
state. ``deliver`` never sleeps: what Slack's pace (one message per second per channel) does
not allow yet stays pending for the next call, and an effect that failed waits in the store
(``not_before``) for its retry.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.clock import Clock
from bot.incidents.escalation import Notify
from bot.incidents.lifecycle import Change, Entry, Incident, State
from bot.notify.channels import Channels, error_of
from bot.notify.pagerduty import NotAccepted, PagerDuty, TryLater
from bot.notify.storms import Storm, place
from bot.notify.webhook import Webhooks
from bot.notify.webhook import body as webhook_body
from bot.observability import telemetry
from bot.render.alert import alert_chart
from bot.render.blocks import SlackMessage
from bot.render.incident import (
    incident_message,
    page_line,
    page_message,
    reply_text,
    storm_message,
)
from bot.storage.database import StorageError
from bot.storage.incidents import IncidentStore, OutboxItem, retry_after

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
_PENDING_LIMIT = 500
# How long a delivery holds the effects it claimed: longer than carrying out 500 of them
# takes, short enough that a crashed replica's effects are not late by much.
CLAIM_HOLD = timedelta(minutes=2)
_SHOWN_LIMIT = 2000
_MENTION = re.compile(r"<@[UW][A-Z0-9]+>")
_OUTBOUND = {"pagerduty": "PagerDuty", "webhook": "webhook"}  # effects sent outside Slack


class _Done(Enum):
    SENT = "sent"  # Slack said ok (or there was nothing left to do)
    HELD = "held"  # the channel's pace: next call
    WAITING = "waiting"  # its message is not posted yet: after the post


class Delivery:
    """Carries out the outbox of ``store`` on Slack's ``client``.

    ``default_channel`` takes the posts whose own channel refuses them; more than
    ``storm_threshold`` posts for one channel decided within a minute become one summary
    with each incident's message in its thread; ``pace`` is the least time between two
    messages the bot posts in one channel (edits are not paced). ``pagerduty`` and
    ``webhooks`` send the steps' events outside Slack (None: such an event is refused).
    """

    def __init__(
        self, store: IncidentStore, client: WebClient, zone: tzinfo, default_channel: str,
        clock: Clock, storm_threshold: int, pace: timedelta = timedelta(seconds=1),
        pagerduty: PagerDuty | None = None, webhooks: Webhooks | None = None,
    ) -> None:
        self.store, self.client, self.zone = store, client, zone
        self.pagerduty, self.webhooks = pagerduty, webhooks
        self.clock, self.storm_threshold = clock, storm_threshold
        self.channels = Channels(client, default_channel, pace)
        # How many effects the last call left for the pace: worth calling again soon.
        self.held_back = 0
        self._lock = threading.Lock()  # one delivery at a time in this process
        # Whose claims on the outbox's rows are this delivery's (other replicas skip them).
        self._owner = uuid.uuid4().hex
        self._storms: dict[str, Storm] = {}
        # What each incident's message shows now and the version it was drawn from, so an
        # edit that changes nothing is skipped. The version tells whether anyone changed the
        # incident since: another replica may have edited the message to another state.
        self._shown: OrderedDict[int, tuple[int, SlackMessage]] = OrderedDict()
        # The DMs of a page sent in this process: the store has them too (``part_done``),
        # this covers a store that failed to record one.
        self._paged: dict[int, set[str]] = {}
        # What Slack took but the store could not record (it was down, or locked beyond its
        # wait): recorded on a later call instead of being sent again. In memory only: a
        # crash before the store is back sends them again (at least once, never lost).
        self._taken: set[int] = set()  # effects carried out, not yet marked sent
        self._placed: dict[int, dict[str, str | None]] = {}  # posts, where they went

    def deliver(self, now: datetime | None = None) -> int:
        """Carry out the pending effects, oldest first; how many were sent."""
        with self._lock:
            at = now or self.clock.now()
            items = self.store.claim(at, CLAIM_HOLD, _PENDING_LIMIT, owner=self._owner)
            self._group_storms(items, at)
            return self._run(items, at)

    def deliver_for(self, incident_id: int, now: datetime | None = None) -> int:
        """Only ``incident_id``'s pending effects: right after a button press, so the person
        sees the message change without waiting for the next tick."""
        with self._lock:
            at = now or self.clock.now()
            return self._run(self.store.claim(at, CLAIM_HOLD, _PENDING_LIMIT,
                                              incident_id=incident_id, owner=self._owner), at)

    # --- one effect ------------------------------------------------------------------------

    def _run(self, items: Sequence[OutboxItem], now: datetime) -> int:
        """Carry out ``items`` (claimed); those left for later are released."""
        undone: list[int] = []
        try:
            return self._run_claimed(items, now, undone)
        finally:
            try:
                self.store.release(undone)
            except StorageError as exc:  # their claims run out by themselves
                log.warning("could not release %d effects: %s", len(undone), exc)

    def _run_claimed(self, items: Sequence[OutboxItem], now: datetime,
                     undone: list[int]) -> int:
        sent = self.held_back = 0
        for item in items:
            if item.id in self._taken:  # Slack took it; only the mark is missing
                self._mark_sent(item, now)
                sent += 1
                continue
            try:
                done = self._carry_out(item, now)
            except StorageError:
                raise  # the store is down: nothing can be recorded, the tick reports it
            except NotAccepted as exc:  # refused for good: asking again changes nothing
                self._refused(item, str(exc), now)
                continue
            except (SlackClientError, OSError, TryLater) as exc:  # said no, or the network
                self._failed(item, _error_of(exc), now)
                continue
            except Exception as exc:  # a bug in one effect must not stop the others
                log.exception("carrying out %s failed", item.key)
                self._failed(item, _error_of(exc), now)
                continue
            if done is _Done.SENT:
                _count(item, "sent")
                self._taken.add(item.id)
                self._mark_sent(item, now)
                sent += 1
            else:
                undone.append(item.id)
                if done is _Done.HELD:
                    self.held_back += 1
        return sent

    def _mark_sent(self, item: OutboxItem, now: datetime) -> None:
        self.store.sent(item.id, now)  # StorageError: still taken, marked on a later call
        self._taken.discard(item.id)
        self._paged.pop(item.id, None)

    def _carry_out(self, item: OutboxItem, now: datetime) -> _Done:
        incident = self.store.get(item.incident_id)
        effect = item.effect
        if incident is None:
            log.warning("dropped %s: INC-%d is not in the store", item.key, item.incident_id)
            return _Done.SENT
        if effect.kind == "post":
            return self._post(incident, now)
        if effect.kind in _OUTBOUND:  # urgent, and nothing to do with the Slack message
            return self._send_out(item, incident)
        if incident.message_ts is None and self._post_pending(incident):
            return _Done.WAITING  # it runs once the message is there
        if effect.kind == "page":
            return self._page(item, incident, effect.notify, now)
        if incident.message_ts is None:
            why = "it is silenced" if incident.silenced else "its message was never posted"
            log.log(logging.INFO if incident.silenced else logging.WARNING,
                    "skipped %s: %s", item.key, why)
            return _Done.SENT
        if effect.kind == "update":
            return self._update(incident, incident.message_ts)
        if effect.kind == "reply":
            return self._reply(incident, effect.text, effect.mention, now)
        return self._chart(incident, now)

    def _post(self, incident: Incident, now: datetime) -> _Done:
        if incident.message_ts is not None:
            return _Done.SENT  # posted before a crash, not marked sent: not twice
        placed = self._placed.get(incident.id)
        if placed is not None:  # posted; where it went could not be stored then
            self._remember(incident.id, **placed)
            del self._placed[incident.id]
            return _Done.SENT
        if not self.channels.may_post(incident.channel, now):
            return _Done.HELD
        message = self._render(incident)
        posted = self.channels.post(incident.channel, message, now,
                                    thread_ts=incident.thread_ts)
        if posted is None:
            return _Done.HELD
        response, channel = posted
        thread = incident.thread_ts if channel == incident.channel else None
        where: dict[str, str | None] = {"message_ts": str(response["ts"]),
                                        "channel": str(response["channel"]),
                                        "thread_ts": thread}
        self._placed[incident.id] = where
        stored = self._remember(incident.id, **where)  # StorageError: kept in _placed
        del self._placed[incident.id]
        if stored is not None:
            self._show(stored, message)
        return _Done.SENT

    def _update(self, incident: Incident, ts: str) -> _Done:
        message = self._render(incident)
        if self._shown.get(incident.id) == (incident.version, message):
            return _Done.SENT  # an earlier edit already shows this state, and nobody changed it
        self.client.chat_update(channel=incident.channel, ts=ts,
                                text=message.text, blocks=list(message.blocks))
        self._show(incident, message)
        return _Done.SENT

    def _reply(self, incident: Incident, text: str, ping: bool, now: datetime) -> _Done:
        if not self.channels.may_post(incident.channel, now):
            return _Done.HELD
        words = reply_text(incident, text, threaded=incident.thread_ts is not None)
        quiet = not ping and _MENTION.search(words) is not None
        response = self.client.chat_postMessage(
            channel=incident.channel, thread_ts=incident.thread_ts or incident.message_ts,
            text=_MENTION.sub("someone", words) if quiet else words)
        self.channels.posted_in(incident.channel, now)
        if quiet:  # a mention added by an edit notifies nobody
            try:
                self.client.chat_update(channel=incident.channel, ts=str(response["ts"]),
                                        text=words)
            except (SlackClientError, OSError) as exc:  # posted: not twice
                log.warning("%s's reply stays without its mentions: %s", incident.name,
                            _error_of(exc))
        return _Done.SENT

    def _chart(self, incident: Incident, now: datetime) -> _Done:
        chart = incident.alert.chart
        if chart is None:
            return _Done.SENT
        if not self.channels.may_post(incident.channel, now):
            return _Done.HELD
        self.client.files_upload_v2(
            channel=incident.channel, thread_ts=incident.thread_ts or incident.message_ts,
            content=alert_chart(chart, self.zone), filename=f"{incident.name}.png",
            title=f"{incident.name}: {chart.label}", alt_txt=f"Chart of {chart.label}")
        self.channels.posted_in(incident.channel, now)
        return _Done.SENT

    def _page(self, item: OutboxItem, incident: Incident, note: Notify | None,
              now: datetime) -> _Done:
        """A DM to each person (the urgent part, not paced: each DM is its own channel),
        then one line in the incident's thread with the group and channel mentions. Each
        DM is recorded once Slack took it, so neither a retry of the page (its line waited
        for the channel's pace, or failed) nor a restart DMs the same person twice."""
        wanted = State.ACKNOWLEDGED if note is not None and note.kind == "reminder" \
            else State.TRIGGERED
        if note is None or incident.state is not wanted:  # someone acted since: no noise
            log.info("not paged for %s: it is %s now", incident.name, incident.state)
            return _Done.SENT
        done = self._paged.setdefault(item.id, set())
        done |= item.done
        todo = [user for user in note.users if user not in done]
        link = self.channels.permalink(incident) if todo else None
        for user in todo:
            opened = self.client.conversations_open(users=user)
            message = page_message(incident, note, link, zone=self.zone)
            self.client.chat_postMessage(channel=str(opened["channel"]["id"]),
                                         text=message.text, blocks=list(message.blocks))
            done.add(user)
            self.store.part_done(item.id, user)
        if not self.channels.may_post(incident.channel, now):
            return _Done.HELD
        thread = incident.thread_ts or incident.message_ts  # None: its post was given up
        extra: dict[str, Any] = {"thread_ts": thread} if thread else {}
        if thread and note.mention:
            extra["reply_broadcast"] = True  # @here in a thread alone reaches few
        self.client.chat_postMessage(
            channel=incident.channel, **extra,
            text=page_line(incident, note, threaded=incident.thread_ts is not None))
        self.channels.posted_in(incident.channel, now)
        return _Done.SENT

    def _send_out(self, item: OutboxItem, incident: Incident) -> _Done:
        """A PagerDuty event or a webhook call. A step's trigger is dropped once someone
        acted (as a page is): an acknowledgement sent on before a trigger that was still
        retrying must not be followed by that trigger."""
        effect = item.effect
        action = effect.action or "trigger"
        if action == "trigger" and incident.state is not State.TRIGGERED:
            log.info("not sent to %s for %s: it is %s now", _OUTBOUND[effect.kind],
                     incident.name, incident.state)
            return _Done.SENT
        link = self.channels.permalink(incident) if action == "trigger" else None
        if effect.kind == "pagerduty":
            if self.pagerduty is None or effect.pagerduty is None:
                raise NotAccepted("PagerDuty is not set up in this process")
            self.pagerduty.send(incident, action, effect.pagerduty, link)
        else:
            target = effect.webhook or (effect.notify.webhook if effect.notify else None)
            if self.webhooks is None or target is None:
                raise NotAccepted("webhooks are not set up in this process")
            step = effect.notify.step if effect.notify is not None else None
            self.webhooks.send(target, webhook_body(incident, action, step, link), item.key,
                               self.clock.now())
        return _Done.SENT

    def _refused(self, item: OutboxItem, reason: str, now: datetime) -> None:
        """Not sent, and never will be: logged, kept on the outbox row, and said on the
        incident's timeline."""
        log.error("%s refused, not retried: %s", item.key, reason)
        _count(item, "failed")
        self.store.failed(item.id, reason, None)
        self._said(item, f"not sent: {reason}", now)

    def _said(self, item: OutboxItem, text: str, now: datetime) -> None:
        """A line on the timeline about an event sent outside Slack."""
        if item.effect.kind not in _OUTBOUND:
            return
        entry = Entry(at=now, kind=item.effect.kind, text=f"{item.effect.action}: {text}")

        def decide(incident: Incident) -> Change:
            return Change(incident=incident.model_copy(update={"version": incident.version + 1}),
                          timeline=[entry])
        self.store.change(item.incident_id, decide)

    # --- storms ----------------------------------------------------------------------------

    def _group_storms(self, items: Sequence[OutboxItem], now: datetime) -> None:
        """Posts not yet placed, by channel: more than the threshold decided within a minute
        get one summary, and each is then posted in its thread; posts of a channel whose
        storm began less than a minute before they were decided join that storm."""
        waiting: dict[str, list[tuple[datetime, Incident]]] = {}
        for item in items:
            incident = self.store.get(item.incident_id) if item.effect.kind == "post" else None
            if incident is not None and incident.message_ts is None and not incident.thread_ts:
                waiting.setdefault(incident.channel, []).append((item.created_at, incident))
        for channel, posts in waiting.items():
            storm = self._storms.get(channel)
            if storm is not None and storm.over(now):
                del self._storms[channel]
                storm = None
            placed = place(posts, storm, self.storm_threshold)
            if storm is not None and placed.join:
                self._join(storm, placed.join)
            if placed.new and placed.started and self.channels.may_post(channel, now):
                self._summarize(channel, placed.new, placed.started, now)

    def _summarize(self, channel: str, incidents: list[Incident], started: datetime,
                   now: datetime) -> None:
        message = storm_message(incidents)
        try:
            posted = self.channels.post(channel, message, now)
        except (SlackClientError, OSError) as exc:
            log.warning("could not post the summary of %d incidents in %s (%s); posting "
                        "them one by one", len(incidents), channel, _error_of(exc))
            return
        if posted is None:
            return  # the default channel's pace: the next call
        response, used = posted
        log.info("alert storm in %s: %d incidents in the thread of one summary", used,
                 len(incidents))
        storm = Storm(channel=str(response["channel"]), ts=str(response["ts"]), started=started)
        self._storms[channel] = storm
        self._join(storm, incidents, announce=False)

    def _join(self, storm: Storm, incidents: list[Incident], *, announce: bool = True) -> None:
        """Place ``incidents`` in the storm's thread (stored, so a restart keeps them there);
        the summary is edited to list the ones that came late."""
        for incident in incidents:
            self._remember(incident.id, channel=storm.channel, thread_ts=storm.ts)
        storm.incidents += incidents
        if announce:
            message = storm_message(storm.incidents)
            try:
                self.client.chat_update(channel=storm.channel, ts=storm.ts, text=message.text,
                                        blocks=list(message.blocks))
            except (SlackClientError, OSError) as exc:
                log.warning("could not add %d incidents to the storm summary in %s: %s",
                            len(incidents), storm.channel, _error_of(exc))

    # --- plumbing --------------------------------------------------------------------------

    def _render(self, incident: Incident) -> SlackMessage:
        paged = ""
        if incident.level and incident.state is State.TRIGGERED:
            paged = next((entry.text for entry in reversed(self.store.timeline(incident.id))
                          if entry.kind == "paged"), "")
        return incident_message(incident, self.zone, paged=paged)

    def _remember(self, incident_id: int, **where: str | None) -> Incident | None:
        """Store where the incident's message is (ts, channel, thread): a change of its own,
        compare-and-set like any other, with no timeline line and no effect."""
        def decide(incident: Incident) -> Change:
            return Change(incident=incident.model_copy(
                update={**where, "version": incident.version + 1}))
        stored = self.store.change(incident_id, decide)
        return stored if isinstance(stored, Incident) else None

    def _show(self, incident: Incident, message: SlackMessage) -> None:
        self._shown[incident.id] = (incident.version, message)
        self._shown.move_to_end(incident.id)
        while len(self._shown) > _SHOWN_LIMIT:
            self._shown.popitem(last=False)

    def _post_pending(self, incident: Incident) -> bool:
        """Whether its post is still to come (waiting for its pace or a retry)."""
        return any(item.effect.kind == "post" and item.sent_at is None
                   for item in self.store.outbox(incident.id))

    def _failed(self, item: OutboxItem, error: str, now: datetime) -> None:
        attempts = item.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            log.error("gave up on %s after %d attempts: %s", item.key, attempts, error)
            _count(item, "failed")
            self.store.failed(item.id, error, None)
            self._paged.pop(item.id, None)
            self._said(item, f"gave up after {attempts} attempts: {error}", now)
            return
        retry = retry_after(item.attempts, now)
        _count(item, "retried")
        log.warning("%s failed (attempt %d of %d), again at %s: %s", item.key, attempts,
                    MAX_ATTEMPTS, retry.isoformat(timespec="seconds"), error)
        self.store.failed(item.id, error, retry)


def _count(item: OutboxItem, result: str) -> None:
    """``perfbot_notifications`` (and ``perfbot_escalation_steps`` for a step sent)."""
    measured = telemetry()
    kind = item.effect.kind
    measured.notifications.labels(kind if kind in _OUTBOUND else "slack", result).inc()
    if result == "sent" and item.effect.notify is not None:
        measured.escalation_steps.inc()


def _error_of(exc: Exception) -> str:
    return str(exc) if isinstance(exc, TryLater) else error_of(exc)
