"""The Slack transport: a thin Bolt app that turns Slack requests into calls on the core.

Every listener acknowledges at once; slow work (queries, charts) runs after the ack, behind
a short "looking…" message that the answer then replaces. Replies are built by
``bot.render.blocks`` (checked against slack_sdk's block models); errors and help go
ephemerally to the asker. The Web API client retries rate limits (``429`` + Retry-After),
Slack's server errors (5xx, with backoff) and connection errors.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt import Ack, App, BoltRequest, BoltResponse, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (
    BackoffRetryIntervalCalculator,
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    Jitter,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)

from bot.app import Perfbot
from bot.ask.answer import Answer, Sources, ask
from bot.audit import AuditStore
from bot.authz import OnCall, Rules, nobody_on_call
from bot.render.blocks import (
    SlackMessage,
    answer_message,
    clip,
    escape,
    section,
    text_message,
    validate_blocks,
)
from bot.slack.actions import COMMAND_ACTS, AlertBook, GroupMembers, register_alert_actions

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
LOOKING = ":hourglass_flowing_sand: Looking into it…"
RESTARTED = (":arrows_counterclockwise: perfbot restarted before this question was answered; "
             "please ask it again in a minute.")
NOT_CONFIGURED = {
    "incidents": "incidents",
    "oncall": "the on-call rotation",
    "digest": "digests",
}
INVITE = ("I can't post in this channel: I'm not a member. Invite me with `/invite @perfbot` "
          "(or ask me in a DM) and try again.")
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_WSGI_PATH = "/slack/events"


SERVER_ERRORS = frozenset({500, 502, 503, 504})


class _ProportionalJitter(Jitter):
    """Up to half the interval on top: slack_sdk's own jitter adds up to a whole second."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random() / 2)


class ServerErrorRetryHandler(RetryHandler):
    """Retries Slack's 5xx answers with exponential backoff. slack_sdk 3.47 has one in
    ``builtin_handlers`` but does not export it, and it skips 502 and 504."""

    def __init__(self, max_retry_count: int = 2, backoff: float = 0.5) -> None:
        super().__init__(max_retry_count, BackoffRetryIntervalCalculator(
            backoff_factor=backoff, jitter=_ProportionalJitter()))

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest,
        response: HttpResponse | None = None, error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in SERVER_ERRORS


def slack_retry_handlers(server_backoff: float = 0.5) -> list[RetryHandler]:
    """slack_sdk retries connection errors by default, not 429s nor 5xx: add both.
    ``server_backoff`` is the first wait after a 5xx (seconds; doubled each time)."""
    return [ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2, backoff=server_backoff)]


def make_web_client(
    token: str, *, base_url: str | None = None, server_backoff: float = 0.5
) -> WebClient:
    """A Web API client with the retry handlers; ``base_url`` points tests at a stand-in."""
    handlers = slack_retry_handlers(server_backoff)
    if base_url is None:
        return WebClient(token=token, retry_handlers=handlers)
    return WebClient(token=token, base_url=base_url, retry_handlers=handlers)


class RecentIds:
    """Ids seen within ``ttl``: Slack retries a delivery (``X-Slack-Retry-Num``) it thinks
    went unanswered, and a replayed request carries the same signature."""

    def __init__(self, clock: Callable[[], datetime], ttl: timedelta = timedelta(minutes=10)):
        self._clock = clock
        self._ttl = ttl
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self._ttl}
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


class UserZones:
    """Each user's time zone from their Slack profile; the bot's zone when unknown. Kept for
    ``ttl`` (people travel, and Slack moves their zone with them); a failed lookup only for
    ``retry``, so one Slack hiccup does not leave someone in the wrong zone for hours."""

    def __init__(
        self, client: WebClient, default: ZoneInfo, clock: Callable[[], datetime], *,
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
        self._stopping = False
        self._changed = threading.Condition()

    def finish(self, timeout: float) -> int:
        """Stop taking questions, give the ones in progress ``timeout`` seconds, and turn the
        "looking…" of those still unanswered into a note to ask again. How many were cut."""
        with self._changed:
            self._stopping = True
            self._changed.wait_for(lambda: not self._pending, timeout)
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
        return ask(text, self.sources_for(user), self.perfbot.now(), chart=True)

    def reply(
        self, question: str, *, channel: str, user: str | None, thread_ts: str | None,
        tell: Callable[[SlackMessage], None],
    ) -> None:
        """Answer ``question`` in ``channel`` (in ``thread_ts`` when given); ``tell`` reaches
        the asker alone, for errors."""
        problem = question_problem(question)
        if problem is not None:
            tell(text_message(problem))
            return
        if self._stopping:
            tell(text_message(RESTARTED))
            return
        with self.in_flight.admit(user) as admitted:
            if not admitted:
                tell(text_message(
                    f"You already have {self.in_flight.limit} questions being answered; "
                    "ask this one again when one of them is done."))
                return
            self._reply(question, channel=channel, user=user, thread_ts=thread_ts, tell=tell)

    def _reply(
        self, question: str, *, channel: str, user: str | None, thread_ts: str | None,
        tell: Callable[[SlackMessage], None],
    ) -> None:
        try:
            looking = self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=LOOKING)
        except SlackApiError as exc:
            tell(text_message(_api_problem(exc)))
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
                return  # too late: ``finish`` already told the asker to ask again
            self._changed.notify_all()
        try:
            self.client.chat_update(channel=channel, ts=ts, text=message.text,
                                    blocks=list(message.blocks))
        except SlackApiError as exc:
            log.warning("could not post the answer in %s: %s", channel, exc)
            tell(text_message(f"I could not post the answer. {_api_problem(exc)}"))
            return
        log.info("answered %s in %s after %.0f ms: %s", user, channel,
                 (time.monotonic() - started) * 1000, clip(question, 200))
        if reply is not None and reply.chart is not None:
            try:
                self.client.files_upload_v2(
                    channel=channel, thread_ts=thread_ts or ts, content=reply.chart.png,
                    filename="chart.png", title=reply.chart.title, alt_txt=reply.chart.alt,
                )
            except SlackApiError as exc:
                tell(text_message(f"The chart could not be posted. {_api_problem(exc)}"))


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


def question_problem(text: str) -> str | None:
    """Why a question cannot be asked as typed, or None."""
    if len(text) > MAX_QUESTION_CHARS:
        return (f"That question is {len(text):,} characters long; ask in at most "
                f"{MAX_QUESTION_CHARS:,}, e.g. `/perf p95 of checkout last 24h`.")
    return None


SLASH_COMMANDS = (
    ("/perf <question>", "an answer from the metrics, as in the examples above", None),
    ("/perf ack ID", "acknowledge an alert, as its button does", None),
    ("/perf snooze ID [15m|1h|4h|1d]", "snooze an alert (an hour if no duration)", None),
    ("/perf resolve ID", "resolve an alert", None),
    ("/perf incidents", "the open incidents", "incidents"),
    ("/perf oncall", "who is on call now", "oncall"),
    ("/perf digest preview", "the daily digest, now", "digest"),
)


def commands_section() -> dict[str, Any]:
    """What ``/perf`` does besides questions; the parts not built yet are marked."""
    lines = [f"• `{usage}`: {what}" + (" _(not configured yet)_" if word in NOT_CONFIGURED
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
    client: WebClient | None = None,
    process_before_response: bool = False,
    signing_secret: str | None = None,
    audit: AuditStore | None = None,
    alerts: AlertBook | None = None,
    oncall: OnCall = nobody_on_call,
    replier: Replier | None = None,
) -> App:
    """The Bolt app. Without ``client`` the bot token comes from the settings; without
    ``signing_secret`` the settings' one (HTTP mode), or none at all (Socket Mode).
    Alert buttons are recorded in ``audit`` (default: the storage database's), "Show chart"
    reads ``alerts``, and ``oncall`` says who is on call now (nobody until rotations exist).
    ``replier`` answers the questions; ``perfbot run`` keeps it to ``finish`` at shutdown."""
    settings = perfbot.settings
    if client is None:
        token = settings.slack_bot_token
        if token is None:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        client = make_web_client(token.get_secret_value())
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
    replier = replier if replier is not None else Replier(perfbot, client)
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

    acts = register_alert_actions(
        app,
        rules=Rules.from_settings(settings.slack, oncall),
        members=GroupMembers(client, perfbot.now, settings.slack.group_cache),
        audit=audit if audit is not None else perfbot.audit,
        alerts=alerts if alerts is not None else AlertBook(),
        clock=perfbot.now,
        zone=settings.zone,
    )

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
            tell(help_message(replier.answer("help", user)))
        elif word in COMMAND_ACTS:
            # Already mrkdwn (mentions in refusals), user input escaped: not text_message.
            acts.command(client, word, "".join(rest), user=user,
                         tell=lambda said: tell(SlackMessage(text=said, blocks=(section(said),))))
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
                                    tell=_ephemeral(client, channel, user, thread_ts)))

    @app.event("message")
    def direct_message(event: dict[str, Any], client: WebClient) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # only people's own messages in a DM; channel messages need a mention
        channel, user = str(event["channel"]), event.get("user")
        thread_ts = event.get("thread_ts")
        question = strip_mentions(str(event.get("text", ""))) or "help"
        later(lambda: replier.reply(question, channel=channel, user=user,
                                    thread_ts=str(thread_ts) if thread_ts else None,
                                    tell=_ephemeral(client, channel, user, thread_ts)))

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        help_reply = replier.answer("help", event.get("user"))
        view = home_view(help_reply, list(oncall()))
        try:
            client.views_publish(user_id=str(event["user"]), view=view)
        except SlackApiError as exc:
            log.warning("could not publish the App Home of %s: %s", event["user"], exc)

    return app


NO_ONCALL = "No on-call rotation configured yet."
NO_INCIDENTS = "Incidents arrive with the incidents feature — none yet."
NO_SUBSCRIPTIONS = ("None yet. Daily and weekly digests come with the digests feature: "
                    "you will subscribe from here or with `/perf digest`, and "
                    "`/perf digest preview` will show one before you do.")


def home_view(help_reply: Answer, on_call: Sequence[str]) -> dict[str, Any]:
    """The App Home tab: who is on call, open incidents, example questions, the user's
    subscriptions; the parts not built yet say so and what they will be."""
    who = ", ".join(f"<@{user}>" for user in on_call) or NO_ONCALL
    examples = "\n".join(f"• {escape(example)}" for example in help_reply.examples)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "perfbot"}},
        section(f"*On call now*\n{who}"),
        section(f"*Open incidents*\n{NO_INCIDENTS}"),
        {"type": "divider"},
        section("*Ask me*, with `/perf <question>`, by mentioning @perfbot in a channel, "
                f"or in the Messages tab. For example:\n{examples}"),
        {"type": "divider"},
        commands_section(),
        {"type": "divider"},
        section(f"*Your subscriptions*\n{NO_SUBSCRIPTIONS}"),
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


def _ephemeral(
    client: WebClient, channel: str, user: str | None, thread_ts: str | None
) -> Callable[[SlackMessage], None]:
    def tell(message: SlackMessage) -> None:
        if user is None:
            return
        try:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts,
                                      text=message.text, blocks=list(message.blocks))
        except SlackApiError as exc:
            log.warning("could not tell %s in %s: %s", user, channel, exc)

    return tell


def _api_problem(exc: SlackApiError) -> str:
    """What Slack's error means for the asker."""
    error = exc.response.get("error", "") if exc.response is not None else ""
    if error in ("not_in_channel", "channel_not_found"):
        return INVITE
    status = exc.response.status_code if exc.response is not None else 200
    if status >= 500:
        return (f"Slack is having trouble (HTTP {status}, still failing after retries); "
                "please try again in a minute.")
    return f"Slack refused the message ({error or 'no reason given'})."


def wsgi_app(app: App, path: str = _WSGI_PATH) -> Callable[..., Iterable[bytes]]:
    """Bolt behind WSGI, refusing a missing or non-numeric timestamp with 401 (Bolt's
    verifier would raise on it and answer 500)."""
    handler = SlackRequestHandler(app, path=path)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        if environ.get("REQUEST_METHOD") == "POST" and not (stamp.isascii() and stamp.isdigit()):
            body = b'{"error": "invalid request"}'
            start_response("401 Unauthorized", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body)))])
            return [body]
        return handler(environ, start_response)

    return application


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a burst of commands beyond it has its connections
    # dropped and retried by the client a second later, a second off Slack's three.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def make_http_server(app: App, host: str, port: int) -> WSGIServer:
    """HTTP mode: Slack's requests on ``POST /slack/events``; ``port`` 0 picks a free one."""
    return make_server(host, port, wsgi_app(app), server_class=_ThreadingWSGIServer,
                       handler_class=_QuietHandler)
