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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.acts import COMMAND_WORDS
from bot.app import Perfbot
from bot.clock import Now
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
from bot.slack.incident_commands import IncidentCommands
from bot.slack.replier import Replier
from bot.slack.web import ephemeral

log = logging.getLogger(__name__)

NOT_CONFIGURED: dict[str, str] = {}


_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


class RecentIds:
    """Ids seen within ``ttl``: Slack retries a delivery (``X-Slack-Retry-Num``) it thinks
    went unanswered, and a replayed request carries the same signature."""

    def __init__(self, clock: Now, ttl: timedelta = timedelta(minutes=10)):
        self._clock = clock
        self._ttl = ttl
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            # Insertion order is time order: the expired ones are at the front.
            while self._seen:
                oldest, seen = next(iter(self._seen.items()))
                if now - seen < self._ttl:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


Work = Callable[[], None]


def _now(work: Work) -> None:
    work()


def after_ack(process_before_response: bool) -> Callable[[Work], None]:
    """Where the work after an ack runs. Bolt runs a slash command's listener, ``ack()``
    included, on its listener pool (5 threads) and answers 404 when no ack came within
    3 s, so answers running there made later commands' acks queue behind them. Each
    answer gets a thread of its own instead (not a pool: nothing idles on after the bot
    stops); the ``Replier`` caps how many compute at once. Inline when the response waits
    for the listeners."""
    if process_before_response:
        return _now
    numbers = itertools.count(1)

    def logged(work: Work) -> None:
        try:
            work()
        except Exception:  # nobody joins this thread: say it here
            log.exception("work after an ack failed")

    def start(work: Work) -> None:
        threading.Thread(target=logged, args=(work,), name=f"perfbot-answer-{next(numbers)}",
                         daemon=True).start()

    return start


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
    signing_secret: str | None = None,
) -> App:
    """The Bolt app, on the parts the composition root built (``perfbot``: authorization
    rules, audit store, alerts, on-call) and ``client`` (usually ``perfbot.slack_client``).
    Without ``signing_secret`` the settings' one (HTTP mode), or none at all (Socket Mode).
    ``replier`` answers the questions; ``perfbot run`` keeps it to ``finish`` at shutdown."""
    settings = perfbot.settings
    if signing_secret is None and settings.slack_signing_secret is not None:
        signing_secret = settings.slack_signing_secret.get_secret_value()
    app = App(
        client=client,
        signing_secret=signing_secret or "",
        request_verification_enabled=signing_secret is not None,
        process_before_response=process_before_response,
        token_verification_enabled=False,  # ``perfbot run`` calls auth.test and reports it
        logger=log,
    )
    recent = RecentIds(perfbot.now)
    later = after_ack(process_before_response)

    @app.middleware
    def once(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> Any:
        # Runs after Bolt's signature check, so forged requests cannot fill the cache.
        key = delivery_key(req.body, req.headers)
        if key is not None and not recent.first_time(key):
            log.info("ignoring a repeated delivery: %s", key)
            return BoltResponse(status=200, body="")
        return next()

    acts = register_alert_actions(app, perfbot, client, later)
    incident_commands = IncidentCommands(perfbot, client)
    digest_commands = DigestCommands(perfbot)

    @app.command("/perf")
    def perf(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        later(lambda: answer_command(command, respond, client))

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
        elif word in ("incidents", "incident", "postmortem", "oncall", "silence"):
            args = "".join(rest)
            if word == "incidents":
                incident_commands.incidents(args, tell)
            elif word == "incident":
                incident_commands.incident(args, tell)
            elif word == "postmortem":
                incident_commands.postmortem(args, tell)
            elif word == "oncall":
                incident_commands.oncall(args, user, tell)
            else:
                incident_commands.silence(args, user, tell)
        elif word == "digest":
            digest_commands.command("".join(rest), channel, user, tell)
        elif word in NOT_CONFIGURED:
            tell(text_message(not_configured(word)))
        else:
            replier.reply(text, channel=channel, user=user, thread_ts=None, tell=tell)

    @app.event("app_mention")
    def mention(event: dict[str, Any], client: WebClient) -> None:
        channel, user = str(event["channel"]), event.get("user")
        thread_ts = str(event.get("thread_ts") or event["ts"])
        question = strip_mentions(str(event.get("text", ""))) or "help"
        later(lambda: replier.reply(question, channel=channel, user=user, thread_ts=thread_ts,
                                    tell=ephemeral(client, channel, user, thread_ts)))

    @app.event("message")
    def direct_message(event: dict[str, Any], client: WebClient) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # only people's own messages in a DM; channel messages need a mention
        channel, user = str(event["channel"]), event.get("user")
        thread_ts = event.get("thread_ts")
        question = strip_mentions(str(event.get("text", ""))) or "help"
        later(lambda: replier.reply(question, channel=channel, user=user,
                                    thread_ts=str(thread_ts) if thread_ts else None,
                                    tell=ephemeral(client, channel, user, thread_ts)))

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
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

        later(publish)

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
