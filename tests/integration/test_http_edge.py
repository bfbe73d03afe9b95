"""HTTP mode's door, against a real ``perfbot run --http`` process on the Slack stand-in:
what anyone on the network can send it (huge, malformed, slow or replayed requests) is
refused before it costs memory, threads, log lines or a second answer."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.metrics.demo import DemoBackend
from bot.slack.app import BUSY, AfterAck
from tests.bot_process import (
    BotProcess,
    minutely_policy,
    wait_until,
    write_config,
)
from tests.integration.test_slack_app import perfbot_for
from tests.signed_http import command, now, signed, standin
from tests.slack_bot import Bot
from tests.slack_standin import SlackStandIn

MARK = "secret-response-url-0123456789"  # in every refused body: the log must not have it
FORGED = "v0=" + "0" * 64
FORM = "application/x-www-form-urlencoded"
ROOMS = tuple(f"C{n}" for n in range(1, 6))  # the channels the tests post in
_PORT = re.compile(r"HTTP mode on 127\.0\.0\.1:(\d+)/slack/events")


@contextmanager
def running(workdir: Path, slack: SlackStandIn) -> Iterator[BotProcess]:
    """``perfbot run --http 0`` on the demo, its store a SQLite file in ``workdir``."""
    config = write_config(workdir / "perfbot.yaml", f"sqlite:///{workdir / 'perfbot.db'}",
                          minutely_policy())
    with BotProcess(workdir, slack, config, speed=1) as process:
        process.start()
        yield process


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, SlackStandIn]]:
    """One bot for the tests that do not restart it (each starts in seconds, not none)."""
    with standin(*ROOMS) as slack, running(tmp_path_factory.mktemp("edge"), slack) as process:
        yield process, slack


@pytest.fixture
def bot(shared: tuple[BotProcess, SlackStandIn]) -> BotProcess:
    assert shared[0].running, shared[0].output()
    return shared[0]


@pytest.fixture
def slack(shared: tuple[BotProcess, SlackStandIn]) -> SlackStandIn:
    return shared[1]


def port_of(bot: BotProcess) -> int:
    found = _PORT.search(bot.output())
    assert found, bot.output()
    return int(found.group(1))


def log_since(bot: BotProcess, start: int) -> str:
    """What the bot logged from character ``start`` on (``len(bot.output())`` earlier)."""
    return bot.output()[start:]


def status_of(bot: BotProcess, pid_field: str) -> int:
    """A number from /proc/<pid>/status: ``VmRSS`` (kB) or ``Threads``."""
    assert bot.process is not None
    text = Path(f"/proc/{bot.process.pid}/status").read_text()
    found = re.search(rf"^{pid_field}:\s+(\d+)", text, re.MULTILINE)
    assert found, text
    return int(found.group(1))


def head(length: str | None, *, stamp: str | None = "now", signature: str | None = FORGED,
         content_type: str = FORM) -> bytes:
    lines = ["POST /slack/events HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if stamp is not None:
        lines.append(f"X-Slack-Request-Timestamp: {now() if stamp == 'now' else stamp}")
    if signature is not None:
        lines.append(f"X-Slack-Signature: {signature}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(port: int, request: bytes, timeout: float = 30) -> bytes:
    """Send ``request`` and read until the server closes (or resets) the connection."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:200]
    return int(answer.split(b" ", 2)[1])


def send_signed(port: int, body: bytes, stamp: str | None = None,
                signature: str | None = None) -> int:
    stamp = stamp or now()
    signature = signature or signed(body, stamp)
    return status(exchange(port, head(str(len(body)), stamp=stamp, signature=signature)
                           + body))


def posts_in(slack: SlackStandIn, channel: str) -> int:
    return len([c for c in slack.calls("chat.postMessage") if c.args.get("channel") == channel])


def test_a_200_mb_unsigned_body_is_refused_before_it_is_read(bot: BotProcess) -> None:
    port = port_of(bot)
    size = 200 * 1024 * 1024
    before, start = status_of(bot, "VmRSS"), len(bot.output())
    first = f"response_url=http://attacker.example/{MARK}&text=".encode()
    answer: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        def send_all() -> None:  # as a client would: the whole body, as fast as it can
            try:
                sock.sendall(head(str(size)) + first)
                chunk, sent = b"a" * (1 << 20), len(first)
                while sent < size:
                    sock.sendall(chunk[:size - sent])
                    sent += len(chunk)
            except OSError:
                pass  # the server closed the connection: it read no further

        sender = threading.Thread(target=send_all)
        sender.start()
        try:
            answer.append(sock.recv(65536))
        except ConnectionResetError:
            answer.append(b"")
        sender.join(timeout=60)
    assert status(answer[0]) == 413
    assert not sender.is_alive()
    grown_mb = (status_of(bot, "VmRSS") - before) / 1024
    assert grown_mb < 20, f"the bot grew by {grown_mb:.0f} MB"
    log = log_since(bot, start)
    assert MARK not in log and "Traceback" not in log
    assert "413" in log  # the refusal is logged, as one line without the body


def test_a_missing_length_or_an_unexpected_type_is_refused_before_reading(
    bot: BotProcess,
) -> None:
    port, start = port_of(bot), len(bot.output())
    body = f"response_url=http://attacker.example/{MARK}".encode()
    assert status(exchange(port, head(None) + body)) == 411
    chunked = head(None).replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert status(exchange(port, chunked + b"5\r\nhello\r\n0\r\n\r\n")) == 411
    assert status(exchange(port, head(str(len(body)), content_type="text/plain") + body)) == 415
    assert status(exchange(port, head("2", content_type="multipart/form-data") + b"{}")) == 415
    assert MARK not in log_since(bot, start)


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(("name", "body", "headers", "expected"), [
    ("invalid JSON", b'{"type": "event_callback", ', {"content_type": "application/json"},
     {401}),
    ("invalid UTF-8", b"text=\xff\xfe" + MARK.encode(), {}, {400, 401}),
    ("deep nesting", DEEP, {"content_type": "application/json"}, {401}),
    ("JSON array", b"[1, 2]", {"content_type": "application/json"}, {401}),
    ("JSON null", b"null", {"content_type": "application/json"}, {401}),
    ("negative length", b"text=" + MARK.encode(), {"length": "-5"}, {400}),
    ("5,000-digit timestamp", b"text=" + MARK.encode(), {"stamp": "9" * 5000}, {401}),
    ("no signature", b"text=" + MARK.encode(), {"signature": None}, {401}),
    ("no timestamp", b"text=" + MARK.encode(), {"stamp": None}, {401}),
])
def test_unsigned_malformed_bodies_get_a_400_or_401_without_a_traceback(
    bot: BotProcess, name: str, body: bytes, headers: dict[str, str | None],
    expected: set[int],
) -> None:
    length, start = headers.pop("length", str(len(body))), len(bot.output())
    answer = exchange(port_of(bot), head(length, **headers) + body)  # type: ignore[arg-type]
    assert status(answer) in expected, name
    log = log_since(bot, start)
    assert "Traceback" not in log and MARK not in log


@pytest.mark.parametrize(("name", "body", "content_type"), [
    ("invalid JSON", b'{"type": "event_callback", ', "application/json"),
    ("JSON null", b"null", "application/json"),
    ("JSON array", b"[1, 2]", "application/json"),
    ("deep nesting", DEEP, "application/json"),
    ("deep nesting in an object", b'{"a": ' + DEEP + b"}", "application/json"),
    ("invalid UTF-8", b"text=\xff\xfe", FORM),
    ("form payload null", b"payload=null", FORM),
    ("form payload not JSON", b"payload=%7Bnope", FORM),
    ("event not an object", b'{"type": "event_callback", "event": "x"}', "application/json"),
    ("event type not text", b'{"type": "event_callback", "event": {"type": 5}}',
     "application/json"),
    ("authorizations not a list", b'{"type": "event_callback", "authorizations": "x"}',
     "application/json"),
])
def test_signed_malformed_bodies_get_a_400_without_a_traceback(
    bot: BotProcess, slack: SlackStandIn, name: str, body: bytes, content_type: str,
) -> None:
    stamp = now()
    request = head(str(len(body)), stamp=stamp, signature=signed(body, stamp),
                   content_type=content_type) + body
    told, start = len(slack.calls()), len(bot.output())
    assert status(exchange(port_of(bot), request)) == 400, name
    assert "Traceback" not in log_since(bot, start)
    assert len(slack.calls()) == told  # nothing was done


def test_slow_clients_are_cut_off_and_hold_no_thread_each(
    bot: BotProcess, slack: SlackStandIn,
) -> None:
    port = port_of(bot)
    assert send_signed(port, command("help", slack, "C1")) == 200  # the answer pool is up
    slack.wait_for("response_url")
    threads, start = status_of(bot, "Threads"), len(bot.output())
    slow = []
    for _ in range(200):  # headers and half a body, then nothing
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.sendall(head("2000") + b"text=" + b"a" * 995)
        slow.append(sock)
    most = threads
    closed = 0
    try:
        for sock in slow:  # each is answered (408, 503) or closed, at its deadline
            try:
                while sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            closed += 1
            most = max(most, status_of(bot, "Threads"))
    finally:
        for sock in slow:
            sock.close()
    assert closed == len(slow)
    assert most <= threads + 2, f"threads went from {threads} to {most}"
    assert "Traceback" not in log_since(bot, start)
    # It still answers.
    assert send_signed(port, command("help", slack, "C2")) == 200


def test_a_replay_after_a_restart_is_not_answered_again(tmp_path: Path) -> None:
    with standin(*ROOMS) as slack, running(tmp_path, slack) as bot:
        replayed_after_restart(bot, slack)


def replayed_after_restart(bot: BotProcess, slack: SlackStandIn) -> None:
    body = command("p95 of orders last 24h", slack, "C1")
    stamp = now()
    signature = signed(body, stamp)
    assert send_signed(port_of(bot), body, stamp, signature) == 200
    wait_until("the answer's looking message", lambda: posts_in(slack, "C1") == 1)
    bot.kill()  # as a crash: nothing of its memory is left (and no wait for its loop's tick)
    bot.start()  # the same SQLite file
    port = port_of(bot)
    assert send_signed(port, body, stamp, signature) == 200  # Slack would see an ack
    wait_until("the replay noticed", lambda: "ignoring a repeated delivery" in bot.output(),
               alive=bot)
    # Outside the window the signature check refuses it, whatever the store holds.
    old = str(int(time.time()) - 6 * 60)
    assert send_signed(port, command("p95 of orders last 24h", slack, "C3"), old) == 401
    assert send_signed(port, command("p95 of orders last 24h", slack, "C2")) == 200
    wait_until("a new command's answer", lambda: posts_in(slack, "C2") == 1)
    assert posts_in(slack, "C1") == 1 and posts_in(slack, "C3") == 0
    assert "Traceback" not in bot.output()


def test_when_the_answer_queue_is_full_the_asker_is_told_to_ask_again(
    demo_backend: DemoBackend, tmp_path: Path,
) -> None:
    """In process (the pool's size is the test's): one worker, one place in the queue."""
    with standin(*ROOMS) as slack:
        stuck = slack.hold("chat.postMessage")  # the first answer holds the one worker
        after = AfterAck(workers=1, queue=1)
        perfbot = perfbot_for(demo_backend, tmp_path / "perfbot.db")
        with Bot(perfbot, slack, inline=False, after=after) as served:
            question = "p95 of orders last 24h"
            assert served.command(question, channel="C1", user="U1").status_code == 200
            slack.wait_until_held("chat.postMessage")
            assert served.command(question, channel="C2", user="U2").status_code == 200
            assert served.command(question, channel="C3", user="U3").status_code == 200
            (told,) = slack.wait_for("response_url")  # no room for the third: told so
            assert told.args["text"] == BUSY
            answering = [t for t in threading.enumerate() if t.name.startswith("perfbot-answer")]
            assert len(answering) == 1
            # Stopping: the queued one (never started) is told to ask again too.
            assert after.close() == 1
            assert [c.args["text"] for c in slack.wait_for("response_url", 2)] == [BUSY, BUSY]
            stuck.set()
            served.replier.wait_for_replies(1)
        assert len(slack.calls("chat.update", delivered=True)) == 1
