"""A Slack that never leaves the machine: the Web API calls the bot makes are answered
in-process and kept, in order. ``perfbot demo`` posts through it to show, in the terminal,
what the real ``Delivery`` and digest poster would have sent to a workspace."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.web.slack_response import SlackResponse


@dataclass(frozen=True)
class Sent:
    """One call that changed something: a post, an edit or a file."""

    method: str  # chat.postMessage, chat.update, files.upload
    channel: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ts: str = ""
    thread_ts: str | None = None
    file: Path | None = None  # an uploaded file, written to the files directory


class RecordingSlack(WebClient):
    """``WebClient`` whose calls are answered here: every post, edit and upload is kept in
    ``sent`` (and handed to ``shown``); a DM channel is ``D`` + the user's id; uploads are
    written to ``files_dir``. Nothing is sent over the network."""

    def __init__(self, files_dir: Path, shown: Callable[[Sent], None] | None = None) -> None:
        # No token is needed and none is read: the base URL is never called.
        super().__init__(token="xoxb-recording", base_url="http://127.0.0.1:9/api/")
        self.files_dir = files_dir
        self.shown = shown
        self.sent: list[Sent] = []
        self._ts = itertools.count(1)

    def api_call(self, api_method: str, *, http_verb: str = "POST",
                 files: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
                 headers: dict[str, Any] | None = None, auth: dict[str, Any] | None = None,
                 ) -> SlackResponse:
        args: dict[str, Any] = {**(params or {}), **(data or {}), **(json or {})}
        answer: dict[str, Any] = {"ok": True}
        if api_method in ("chat.postMessage", "chat.update"):
            ts = str(args.get("ts") or f"{1_700_000_000 + next(self._ts)}.000100")
            self._keep(Sent(method=api_method, channel=str(args["channel"]),
                            text=str(args.get("text") or ""),
                            blocks=list(args.get("blocks") or []), ts=ts,
                            thread_ts=args.get("thread_ts")))
            answer.update(channel=args["channel"], ts=ts)
        elif api_method == "conversations.open":
            answer["channel"] = {"id": "D" + str(args["users"]).split(",")[0]}
        elif api_method == "chat.getPermalink":
            answer["permalink"] = (f"https://slack.example/archives/{args['channel']}/"
                                   f"p{str(args['message_ts']).replace('.', '')}")
        elif api_method == "conversations.history":
            answer["messages"] = []
        return SlackResponse(client=self, http_verb=http_verb, api_url=api_method,
                             req_args=args, data=answer, headers={}, status_code=200)

    def files_upload_v2(self, **kwargs: Any) -> SlackResponse:
        name = Path(str(kwargs.get("filename") or "upload.bin")).name
        path = self.files_dir / name
        content = kwargs.get("content") or b""
        path.write_bytes(content if isinstance(content, bytes) else str(content).encode())
        self._keep(Sent(method="files.upload", channel=str(kwargs.get("channel") or ""),
                        text=str(kwargs.get("title") or name), thread_ts=kwargs.get("thread_ts"),
                        file=path))
        return SlackResponse(client=self, http_verb="POST", api_url="files.upload",
                             req_args={}, data={"ok": True, "files": [{"id": "F1"}]},
                             headers={}, status_code=200)

    def _keep(self, sent: Sent) -> None:
        self.sent.append(sent)
        if self.shown is not None:
            self.shown(sent)
