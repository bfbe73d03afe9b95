"""A stand-in for the Slack Web API on loopback, for tests that run the real Bolt app.

It answers the methods the bot calls like Slack does (``{"ok": true, ...}`` or
``{"ok": false, "error": ...}``), records every call, checks message payloads with
slack_sdk's block models and Slack's size limits, and, on demand, answers ``429`` with
``Retry-After``, a ``5xx``, or an error such as ``not_in_channel``. ``apps.connections.open``
leads to a Socket Mode endpoint on the same port (``tests/socket_mode_standin.py``).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.render.blocks import BlockError, validate_blocks
from tests.loopback_server import LoopbackServer
from tests.socket_mode_standin import SocketModeStandIn

TOKEN = "xoxb-standin-token"
APP_TOKEN = "xapp-1-standin-token"  # app-level: apps.connections.open takes this one alone
BOT_USER = "UBOT"
MAX_TEXT_CHARS = 40_000  # chat.postMessage truncates beyond this; we refuse, to catch it


@dataclass(frozen=True)
class Call:
    """One request the bot made: the Web API method (or ``upload``/``response_url``)."""

    method: str
    args: dict[str, Any]
    status: int = 200
    error: str | None = None


@dataclass
class Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    where: Callable[[dict[str, Any]], bool] | None = None  # None: any call of the method


@dataclass
class _Hold:
    release: threading.Event
    where: Callable[[dict[str, Any]], bool] | None = None  # None: any call of the method

    def catches(self, args: dict[str, Any]) -> bool:
        return self.where is None or self.where(args)


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    holds: dict[str, deque[_Hold]] = field(default_factory=lambda: defaultdict(deque))
    held: list[Call] = field(default_factory=list)  # the calls holds caught, as they came


class SlackStandIn(LoopbackServer):
    """``with SlackStandIn() as slack:`` → ``slack.api_url`` for ``WebClient(base_url=...)``.

    ``channels`` maps channel ids to whether the bot is a member; ids not listed are
    ``channel_not_found``; DM ids (``D…``) always work. ``users`` maps user ids to time zones;
    ``groups`` maps user group ids (``S…``) to their members. ``socket_mode`` is the
    WebSocket side that ``apps.connections.open`` (with ``app_token``) leads to.
    """

    def __init__(
        self,
        channels: dict[str, bool] | None = None,
        users: dict[str, str] | None = None,
        groups: dict[str, list[str]] | None = None,
        app_token: str = APP_TOKEN,
    ) -> None:
        self.channels = channels if channels is not None else {"C1": True}
        self.users = users if users is not None else {"U1": "Europe/Paris"}
        self.groups = groups if groups is not None else {}
        self.app_token = app_token
        self.socket_mode = SocketModeStandIn()
        self.state = _State()
        self._changed = threading.Condition()
        self._ts = itertools.count(1)
        super().__init__()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._changed:
            held = [hold.release for queue in self.state.holds.values() for hold in queue]
        for event in held:
            event.set()
        self.socket_mode.close()
        super().__exit__(kind, exc, tb)

    # --- what tests use -----------------------------------------------------------------

    def fail(self, method: str, error: str, times: int = 1,
             where: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """The next ``times`` calls of ``method`` (whose arguments ``where`` accepts, if
        given) answer ``{"ok": false, "error": error}``."""
        self._queue(method, Fault(error=error, where=where), times)

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        self._queue(method, Fault(status=429, error="ratelimited", retry_after=retry_after), times)

    def server_error(self, method: str, status: int = 503, times: int = 1) -> None:
        self._queue(method, Fault(status=status, error="service_unavailable"), times)

    def hold(self, method: str,
             where: Callable[[dict[str, Any]], bool] | None = None) -> threading.Event:
        """The next call of ``method`` (whose arguments ``where`` accepts, if given) waits,
        unanswered, until the returned event is set (or 30 s pass): Slack being slow, so a
        test can see what happens meanwhile. Once released it is answered and recorded
        like any call, even if the caller is gone by then (Slack did it; the ok was lost)."""
        release = threading.Event()
        with self._changed:
            self.state.holds[method].append(_Hold(release, where))
        return release

    def held(self) -> list[Call]:
        """The calls holds caught so far, in the order they came."""
        with self._changed:
            return list(self.state.held)

    def wait_until_held(self, method: str, timeout: float = 20.0) -> None:
        """Block until every call ``hold`` prepared for ``method`` has arrived and waits."""
        with self._changed:
            if not self._changed.wait_for(lambda: not self.state.holds.get(method), timeout):
                raise AssertionError(f"the held calls of {method} never all came")

    def calls(self, method: str | None = None, *, delivered: bool = False) -> list[Call]:
        """Calls so far, of ``method`` only if given; ``delivered`` keeps the successful ones."""
        with self._changed:
            found = [c for c in self.state.calls if method is None or c.method == method]
        return [c for c in found if not delivered or (c.status == 200 and c.error is None)]

    def wait_for(self, method: str, count: int = 1, timeout: float = 20.0) -> list[Call]:
        """Block until ``count`` calls of ``method`` were made (a deadline, not a measurement)."""
        with self._changed:
            done = self._changed.wait_for(
                lambda: sum(c.method == method for c in self.state.calls) >= count, timeout
            )
        if not done:
            made = [c.method for c in self.calls()]
            raise AssertionError(f"{count} call(s) of {method} never came; calls: {made}")
        return self.calls(method)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._changed:
            return dict(self.state.messages[(channel, ts)])

    # --- the server ---------------------------------------------------------------------

    def _queue(self, method: str, fault: Fault, times: int) -> None:
        with self._changed:
            self.state.faults[method].extend(fault for _ in range(times))

    def _record(self, call: Call) -> None:
        with self._changed:
            self.state.calls.append(call)
            self._changed.notify_all()

    def _next_fault(self, method: str, args: dict[str, Any]) -> Fault | None:
        with self._changed:
            queue = self.state.faults.get(method) or deque()
            fault = next((f for f in queue if f.where is None or f.where(args)), None)
            if fault is not None:
                queue.remove(fault)
            return fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the calls are recorded instead

            def do_GET(self) -> None:
                if urlsplit(self.path).path == "/link/":
                    standin.socket_mode.serve(self)
                    return
                self.do_POST()

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if parts.path.startswith("/upload/"):
                    standin._upload(self, parts.path.rsplit("/", 1)[1], raw)
                    return
                args = dict(parse_qsl(parts.query))
                args.update(_body_args(raw, self.headers.get("Content-Type", "")))
                if parts.path.startswith("/response/"):
                    standin._record(Call("response_url", args))
                    _send(self, 200, "ok", content_type="text/plain")
                    return
                method = parts.path.removeprefix("/api/")
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                standin._api(self, method, args, token)

        return Handler

    def _upload(self, handler: BaseHTTPRequestHandler, file_id: str, raw: bytes) -> None:
        with self._changed:
            self.state.uploads[file_id] = raw
        self._record(Call("upload", {"file_id": file_id, "bytes": len(raw)}))
        _send(handler, 200, "OK - " + str(len(raw)), content_type="text/plain")

    def _api(
        self, handler: BaseHTTPRequestHandler, method: str, args: dict[str, Any], token: str
    ) -> None:
        with self._changed:
            holds = self.state.holds.get(method) or deque()
            held = next((hold for hold in holds if hold.catches(args)), None)
            if held is not None:
                holds.remove(held)
                self.state.held.append(Call(method, args))
            self._changed.notify_all()
        if held is not None:
            held.release.wait(timeout=30)
        fault = self._next_fault(method, args)
        if fault is not None and fault.status != 200:
            self._record(Call(method, args, fault.status, fault.error))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None \
                else {}
            _send(handler, fault.status, {"ok": False, "error": fault.error}, headers)
            return
        if token != (self.app_token if method == "apps.connections.open" else TOKEN):
            reply: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
        elif fault is not None:
            reply = {"ok": False, "error": fault.error}
        else:
            reply = self._answer(method, args)
        self._record(Call(method, args, 200, None if reply["ok"] else reply["error"]))
        _send(handler, 200, reply)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        handlers = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "usergroups.users.list": self._usergroup_users,
            "apps.connections.open": self._connections_open,
        }
        handle = handlers.get(method)
        if handle is None:
            return {"ok": False, "error": "unknown_method"}
        return handle(args)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT_USER, "bot_id": "BBOT", "team_id": "T1",
                "user": "perfbot", "team": "Test", "url": "https://test.slack.com/"}

    def _connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        base = self.url.replace("http://", "ws://", 1) + "/link/"
        return {"ok": True, "url": self.socket_mode.issue_url(base)}

    def _channel_error(self, channel: str | None) -> str | None:
        if not channel:
            return "channel_not_found"
        if channel.startswith("D"):
            return None
        if channel not in self.channels:
            return "channel_not_found"
        return None if self.channels[channel] else "not_in_channel"

    def _payload_error(self, args: dict[str, Any]) -> str | None:
        text, blocks = args.get("text") or "", args.get("blocks") or []
        if not text and not blocks:
            return "no_text"
        if len(text) > MAX_TEXT_CHARS:
            return "msg_too_long"
        try:
            validate_blocks(blocks)
        except BlockError:
            return "invalid_blocks"
        return None

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        error = self._channel_error(channel) or self._payload_error(args)
        if error:
            return {"ok": False, "error": error}
        ts = f"1700000000.{next(self._ts):06d}"
        message = {"text": args.get("text", ""), "blocks": args.get("blocks", []),
                   "thread_ts": args.get("thread_ts"), "ts": ts}
        with self._changed:
            self.state.messages[(str(channel), ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("ts")))
        error = self._payload_error(args)
        with self._changed:
            if key not in self.state.messages:
                error = "message_not_found"
            if error:
                return {"ok": False, "error": error}
            self.state.messages[key].update(text=args.get("text", ""),
                                            blocks=args.get("blocks", []))
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel")), str(args.get("message_ts"))
        with self._changed:
            if (channel, ts) not in self.state.messages:
                return {"ok": False, "error": "message_not_found"}
        link = f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("user") not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        error = self._channel_error(args.get("channel")) or self._payload_error(args)
        if error:
            return {"ok": False, "error": error}
        return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args.get("user")
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {"id": user, "name": str(user).lower(),
                                     "tz": self.users[user]}}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if args.get("user_id") not in self.users:
            return {"ok": False, "error": "user_not_found"}
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        try:
            validate_blocks(view.get("blocks") or [])
        except BlockError:
            return {"ok": False, "error": "invalid_blocks"}
        return {"ok": True, "view": {"id": "V1", **view}}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """A modal opened with a press's trigger_id; its blocks checked as Slack checks."""
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        try:
            validate_blocks(view.get("blocks") or [])
        except BlockError:
            return {"ok": False, "error": "invalid_blocks"}
        return {"ok": True, "view": {"id": "V2", **view}}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.groups[group])}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}

    def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):06d}"
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        with self._changed:
            unknown = [f["id"] for f in files or [] if f["id"] not in self.state.uploads]
        if not files or unknown:
            return {"ok": False, "error": "file_not_found"}
        channel = args.get("channel_id")
        error = self._channel_error(channel) if channel else None
        if error:
            return {"ok": False, "error": error}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}


def _body_args(raw: bytes, content_type: str) -> dict[str, Any]:
    """Form or JSON bodies, with JSON-encoded fields (``blocks``) decoded like Slack does."""
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        loaded: dict[str, Any] = json.loads(raw)
        return loaded
    args: dict[str, Any] = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    if isinstance(args.get("blocks"), str):
        args["blocks"] = json.loads(args["blocks"])
    return args


def _send(
    handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any] | str,
    headers: dict[str, str] | None = None, content_type: str = "application/json",
) -> None:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", f"{content_type}; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the caller is gone (killed while a call was held): it was done all the same
