"""The Bolt app: listeners for ``/perf``, mentions, DMs and App Home that turn Slack requests
into calls on the core.

Every listener acknowledges at once; the answer runs after the ack (``replier``), behind a
short "looking…" message that it then replaces. Replies are built by ``bot.render.blocks``
(checked against slack_sdk's block models); errors and help go ephemerally to the asker.
Alert buttons and ``/perf ack|resolve|snooze`` are in ``actions``, the Web API client and its
retries in ``web``, HTTP mode's server in ``http``.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltRequest, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.acts import COMMAND_WORDS
from bot.app import Perfbot
from bot.incidents.lifecycle import Incident
from bot.render.blocks import (
    SlackMessage,
    answer_message,
    section,
    text_message,
    validate_blocks,
)
from bot.render.incident import state_word
from bot.render.message import Answer
from bot.render.mrkdwn import clip, escape, inert, slack_time
from bot.render.mrkdwn import mention as mention_of
from bot.slack.actions import register_alert_actions
from bot.slack.digest_commands import DigestCommands, subscription_lines
from bot.slack.feedback import register_feedback_actions
from bot.slack.incident_commands import IncidentCommands
from bot.slack.replier import Replier
from bot.slack.silence_buttons import register_silence_buttons
from bot.slack.web import ephemeral
from bot.storage import StorageError
from bot.storage.deliveries import wall_now

log = logging.getLogger(__name__)

NOT_CONFIGURED: dict[str, str] = {}


_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


Work = Callable[[], None]
Busy = Callable[[], object]  # tells the asker; what it returns is not used

BUSY = (":hourglass: perfbot is busy answering others (or restarting); please ask again "
        "in a minute.")
# How long a delivery's key is kept: a signature until Slack's five minutes pass (then its
# check refuses the replay anyway); an event id longer, as Slack retries an event it thinks
# went unanswered after a minute and again after five, each retry signed anew.
SIGNATURE_WINDOW = timedelta(minutes=5)
EVENT_WINDOW = timedelta(minutes=10)
DELIVERY = "perfbot_delivery"  # the request context's (key, kept until) for ``only_once``


class AfterAck:
    """Where the work after an ack runs: at most ``workers`` threads taking it from a queue
    of at most ``queue`` (Bolt runs listeners, ``ack()`` included, on 5 threads of its own
    and answers 404 when no ack came within 3 s, so no answer may run there). When the
    queue is full the work is not taken: its ``busy`` runs instead (tell the asker to ask
    again), and no thread is spawned. Threads start with work and end when there is none
    left, so none idles on after the bot stops (and none running means all work is done).
    The ``Replier`` caps how many answers compute at once."""

    def __init__(self, workers: int = 16, queue: int = 256) -> None:
        self.workers, self.queue = workers, queue
        self._waiting: deque[tuple[Work, Busy | None]] = deque()
        self._running = 0
        self._lock = threading.Lock()
        self._closed = False
        self._names = itertools.count(1)

    def __call__(self, work: Work, busy: Busy | None = None) -> bool:
        """Queue ``work``; False (and ``busy`` called, here) when there is no room."""
        with self._lock:
            taken = not self._closed and len(self._waiting) < self.queue
            if taken:
                self._waiting.append((work, busy))
                if self._running < self.workers:
                    self._running += 1
                    threading.Thread(target=self._work, name=f"perfbot-answer-{next(self._names)}",
                                     daemon=True).start()
        if not taken:
            log.warning("busy: %d answers already waiting, %s", self.queue,
                        "telling the asker" if busy else "dropping a button press")
            _run(busy)
        return taken

    def close(self) -> int:
        """Take no more work; tell the askers of the work not started yet (``busy``). The
        work in progress goes on (``Replier.finish`` waits for it). How many were told."""
        with self._lock:
            self._closed = True
            dropped, self._waiting = list(self._waiting), deque()
        for _, busy in dropped:
            _run(busy)
        return len(dropped)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._running -= 1
                    return
                work, _ = self._waiting.popleft()
            _run(work)


def _run(work: Busy | None) -> None:
    if work is None:
        return
    try:
        work()
    except Exception:  # nobody waits for this work: say it here
        log.exception("work after an ack failed")


class Inline:
    """The work right away, before the HTTP answer (``process_before_response``)."""

    def __call__(self, work: Work, busy: Busy | None = None) -> bool:
        work()
        return True

    def close(self) -> int:
        return 0


SLASH_COMMANDS = (
    ("/perf <question>", "an answer from the metrics, as in the examples above", None),
    ("/perf ack INC-42", "acknowledge an incident, as its button does", None),
    ("/perf snooze INC-42 [15m|1h|4h|1d]", "snooze an incident (an hour if no duration)",
     None),
    ("/perf resolve INC-42", "resolve an incident", None),
    ("/perf escalate INC-42", "page the next step of its escalation policy now", None),
    ("/perf incidents", "the open incidents, newest first", None),
    ("/perf incident INC-42", "one incident and its timeline", None),
    ("/perf postmortem INC-42", "its markdown postmortem, in its thread", None),
    ("/perf silence checkout 2h deploy in progress",
     "store and list matching incidents without posting them, for a while", None),
    ("/perf silence INC-42 2h reason",
     "silence an incident from Alertmanager there (its alert's matchers)", None),
    ("/perf unsilence INC-42", "delete that silence in Alertmanager", None),
    ("/perf oncall", "who is on call now and next, per schedule", None),
    ("/perf oncall override @ana 2026-12-24 09:00 to 2026-12-27 09:00",
     "someone covers a schedule for a while", None),
    ("/perf digest subscribe daily 09:00 [team T | service S]",
     "post a digest in this channel every day (or `weekly mon 09:00`)", None),
    ("/perf digest unsubscribe [daily|weekly]", "stop this channel's digests", None),
    ("/perf digest list", "this channel's and the configured digests", None),
    ("/perf digest preview [daily|weekly]", "a digest, now, only to you", None),
)


def commands_section() -> dict[str, Any]:
    """What ``/perf`` does besides questions; the parts not built yet are marked."""
    lines = [f"• `{escape(usage)}`: {what}" + (" _(not configured yet)_" if word in NOT_CONFIGURED
                                         else "")
             for usage, what, word in SLASH_COMMANDS]
    return section("*Commands*\n" + "\n".join(lines))


def help_message(help_reply: Answer) -> SlackMessage:
    """``/perf help``: the ask pipeline's help (examples), then the commands."""
    message = answer_message(help_reply)
    blocks = [*message.blocks, {"type": "divider"}, commands_section()]
    validate_blocks(blocks)
    return SlackMessage(text=message.text, blocks=tuple(blocks))


def not_configured(command: str) -> str:
    return (f"`/perf {command}` is not configured yet: {NOT_CONFIGURED[command]} will work "
            "here once that part of perfbot is set up. Try `/perf help` for what works now.")


def strip_mentions(text: str) -> str:
    return _MENTION.sub("", text).strip()


def build_slack_app(
    perfbot: Perfbot,
    *,
    client: WebClient,
    replier: Replier,
    process_before_response: bool = False,
    after: AfterAck | None = None,
) -> App:
    """The Bolt app, on the parts the composition root built (``perfbot``: authorization
    rules, audit store, alerts, on-call, the deliveries seen) and ``client`` (usually
    ``perfbot.slack_client``). ``replier`` answers the questions; ``after`` runs the work
    after acks (default: a pool of its own); ``perfbot run`` keeps both to close and
    ``finish`` at shutdown.

    Bolt's own signature check is off: HTTP mode serves the app through
    ``bot.slack.http``, which checks every request's signature on its raw bytes before
    anything parses it (Socket Mode's requests come over the authenticated WebSocket)."""
    app = App(
        client=client,
        signing_secret="",
        request_verification_enabled=False,
        process_before_response=process_before_response,
        token_verification_enabled=False,  # ``perfbot run`` calls auth.test and reports it
        logger=log,
    )
    later: AfterAck | Inline = (Inline() if process_before_response
                                else after if after is not None else AfterAck())

    @app.middleware
    def once(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> Any:
        # Runs on verified requests only (bot.slack.http), so forged ones store nothing.
        key = delivery_key(req.body, req.headers)
        if key is None:
            return next()
        delivery = (key, kept_until(key, req.headers))
        if "command" in req.body or req.body.get("type") == "event_callback":
            # Decided after the ack, by the work (``only_once``): a burst of commands must
            # not wait for the database's writes before their acks.
            req.context[DELIVERY] = delivery
            return next()
        if not first_time(*delivery):  # buttons: few, and their listeners are not ours
            return BoltResponse(status=200, body="")
        return next()

    def first_time(key: str, until: datetime) -> bool:
        try:
            new = perfbot.delivery_store.first_time(key, until)
        except StorageError as exc:  # answering twice beats answering never
            log.warning("could not check for a repeated delivery: %s", exc)
            return True
        if not new:
            log.info("ignoring a repeated delivery: %s", key)
        return new

    def only_once(context: BoltContext, work: Work) -> Work:
        """``work``, done only if its delivery is seen for the first time."""
        delivery = context.get(DELIVERY)
        if delivery is None:
            return work

        def checked() -> None:
            if first_time(*delivery):
                work()

        return checked

    def press_later(work: Work) -> None:  # a button press: no busy message to send
        later(work)

    acts = register_alert_actions(app, perfbot, client, press_later)
    register_feedback_actions(app, perfbot, press_later)
    incident_commands = IncidentCommands(perfbot, client)
    register_silence_buttons(app, perfbot, incident_commands, press_later)
    digest_commands = DigestCommands(perfbot)

    @app.command("/perf")
    def perf(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient,
             context: BoltContext) -> None:
        ack()
        later(only_once(context, lambda: answer_command(command, respond, client)),
              busy=lambda: respond(text=BUSY, response_type="ephemeral",
                                   replace_original=False))

    def answer_command(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        text = str(command.get("text", "")).strip()
        channel, user = str(command["channel_id"]), str(command["user_id"])

        def tell(message: SlackMessage) -> None:
            respond(text=message.text, blocks=list(message.blocks),
                    response_type="ephemeral", replace_original=False)

        word, *rest = text.split(maxsplit=1) or ["help"]
        word = word.lower()
        if word == "help":
            tell(help_message(replier.help(user)))
        elif word in COMMAND_WORDS:
            # Already mrkdwn (mentions in refusals), user input escaped: not text_message.
            acts.command(word, "".join(rest), user=user,
                         tell=lambda said: tell(SlackMessage(text=said, blocks=(section(said),))))
        elif word in ("incidents", "incident", "postmortem", "oncall", "silence", "unsilence"):
            args = "".join(rest)
            if word == "incidents":
                incident_commands.incidents(args, tell)
            elif word == "incident":
                incident_commands.incident(args, tell)
            elif word == "postmortem":
                incident_commands.postmortem(args, tell)
            elif word == "oncall":
                incident_commands.oncall(args, user, tell)
            elif word == "unsilence":
                incident_commands.unsilence(args, user, tell)
            else:
                incident_commands.silence(args, user, tell)
        elif word == "digest":
            digest_commands.command("".join(rest), channel, user, tell)
        elif word in NOT_CONFIGURED:
            tell(text_message(not_configured(word)))
        else:
            replier.reply(text, channel=channel, user=user, thread_ts=None, tell=tell)

    @app.event("app_mention")
    def mention(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        channel, user = str(event["channel"]), event.get("user")
        thread_ts = str(event.get("thread_ts") or event["ts"])
        question = strip_mentions(str(event.get("text", ""))) or "help"
        tell = ephemeral(client, channel, user, thread_ts)
        later(only_once(context, lambda: replier.reply(
            question, channel=channel, user=user, thread_ts=thread_ts, tell=tell)),
              busy=lambda: tell(text_message(BUSY)))

    @app.event("message")
    def direct_message(event: dict[str, Any], client: WebClient,
                       context: BoltContext) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # only people's own messages in a DM; channel messages need a mention
        channel, user = str(event["channel"]), event.get("user")
        thread_ts = event.get("thread_ts")
        question = strip_mentions(str(event.get("text", ""))) or "help"
        tell = ephemeral(client, channel, user, thread_ts)
        later(only_once(context, lambda: replier.reply(
            question, channel=channel, user=user,
            thread_ts=str(thread_ts) if thread_ts else None, tell=tell)),
              busy=lambda: tell(text_message(BUSY)))

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event["user"])

        def publish() -> None:
            schedules = incident_commands.on_call_lines()
            view = home_view(replier.help(user),
                             [] if schedules else perfbot.on_call_now(),
                             perfbot.incident_store.listed(open_only=True, limit=10),
                             perfbot.settings.zone, schedules=schedules,
                             subscriptions=subscription_lines(perfbot))
            try:
                client.views_publish(user_id=user, view=view)
            except SlackApiError as exc:
                log.warning("could not publish the App Home of %s: %s", user, exc)

        later(only_once(context, publish))

    return app


NO_ONCALL = "Nobody: no on-call schedule is configured (`oncall.schedules` in perfbot.yaml)."
NO_INCIDENTS = ":white_check_mark: No open incidents."
NO_SUBSCRIPTIONS = ("None yet: `/perf digest subscribe daily 09:00` in a channel posts its "
                    "digest there every day; `/perf digest preview` shows one now.")


def home_view(
    help_reply: Answer, on_call: Sequence[str], incidents: Sequence[Incident] = (),
    zone: tzinfo = UTC, *, schedules: Sequence[str] = (), subscriptions: Sequence[str] = (),
) -> dict[str, Any]:
    """The App Home tab: who is on call, open incidents, example questions, the user's
    subscriptions; the parts not built yet say so and what they will be. ``schedules``:
    who is on call now and next per configured schedule (``/perf oncall``'s lines), shown
    instead of ``on_call`` (the on-call hook's people) when there are any."""
    who = ("\n".join(schedules) or ", ".join(mention_of(user) for user in on_call)
           or NO_ONCALL)
    open_ones = "\n".join(
        f"• *{i.name}* {state_word(i)}: {inert(clip(i.alert.title, 120))} "
        f"(since {slack_time(i.opened_at, zone, day=True)})" for i in incidents) or NO_INCIDENTS
    examples = "\n".join(f"• {inert(example)}" for example in help_reply.examples)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "perfbot"}},
        section(f"*On call now*\n{who}"),
        section(f"*Open incidents*\n{open_ones}"),
        {"type": "divider"},
        section("*Ask me*, with `/perf &lt;question&gt;`, by mentioning @perfbot in a channel, "
                f"or in the Messages tab. For example:\n{examples}"),
        {"type": "divider"},
        commands_section(),
        {"type": "divider"},
        section("*Your subscriptions*\n" + ("\n".join(subscriptions) or NO_SUBSCRIPTIONS)),
    ]
    validate_blocks(blocks)
    return {"type": "home", "blocks": blocks}


def delivery_key(body: dict[str, Any], headers: Mapping[str, Sequence[str]]) -> str | None:
    """What makes a delivery a repeat: the event id for events (Slack's retries re-sign the
    same event), else the request's signature (a replayed request)."""
    event_id = body.get("event_id")
    if event_id:
        return f"event:{event_id}"
    signature = next(iter(headers.get("x-slack-signature", ())), None)
    return f"signature:{signature}" if signature else None


def kept_until(key: str, headers: Mapping[str, Sequence[str]],
               now: Callable[[], datetime] = wall_now) -> datetime:
    """Until when ``key`` must be remembered, in wall time: a signature until its
    timestamp is five minutes old (its check refuses it after), an event id for
    ``EVENT_WINDOW`` from now (Slack's retries are signed anew)."""
    if key.startswith("signature:"):
        stamp = next(iter(headers.get("x-slack-request-timestamp", ())), "")
        if stamp.isascii() and stamp.isdigit() and len(stamp) <= 12:
            return datetime.fromtimestamp(int(stamp), UTC) + SIGNATURE_WINDOW
        return now() + SIGNATURE_WINDOW
    return now() + EVENT_WINDOW
