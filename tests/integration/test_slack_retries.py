"""Which Slack calls the Web API client retries when the connection is cut after the request
was sent (Slack may have carried it out): edits and reads are retried, posts are not, so a
cut connection cannot post a message twice. A real TCP server that reads each request whole,
counts it, and hangs up without answering."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackClientError

from bot.notify.slack import make_web_client
from tests.slack_standin import TOKEN


class HangUp:
    """Reads each HTTP request, counts it by path, and closes the connection unanswered."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                path = head.split(b" ", 2)[1].decode() if head else ""
                with self._lock:
                    self.seen[path.rsplit("/", 1)[-1]] += 1

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def hang_up() -> Iterator[HangUp]:
    server = HangUp()
    yield server
    server.close()


def test_a_post_cut_off_after_it_was_sent_is_not_sent_again(hang_up: HangUp) -> None:
    client = make_web_client(TOKEN, base_url=f"http://127.0.0.1:{hang_up.port}/api/")
    with pytest.raises((SlackClientError, OSError)):
        client.chat_postMessage(channel="C1", text="once")
    assert hang_up.seen["chat.postMessage"] == 1


def test_an_edit_cut_off_is_retried(hang_up: HangUp) -> None:
    client = make_web_client(TOKEN, base_url=f"http://127.0.0.1:{hang_up.port}/api/")
    with pytest.raises((SlackClientError, OSError)):
        client.chat_update(channel="C1", ts="1.2", text="same result however often")
    assert hang_up.seen["chat.update"] == 3  # the first try and two retries
