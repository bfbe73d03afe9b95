"""Two ``perfbot run`` processes on one real PostgreSQL, the Slack stand-in, the demo data
and a one-step-a-minute policy on a clock 60 times faster than real time. Both answer;
exactly one leads (detects, escalates, posts). The leader is SIGKILLed between two steps
of an escalation; the other takes over and carries the escalation on: every step of every
pass is DMed exactly once, none lost, none twice (counted at the stand-in), each at the
time the policy gave it.

And SQLite is for one process: a second ``perfbot run`` on the same file refuses to start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from threading import Thread

import pytest

from bot.storage.leader import LEADING, STANDING_BY, TAKING_OVER
from tests.bot_process import (
    BotProcess,
    Tally,
    minutely_policy,
    standin,
    wait_until,
    write_config,
)
from tests.integration.test_crash_safety import FOREVER, assert_each_sent_once, run_to_the_end
from tests.postgres_server import PostgresServer
from tests.slack_standin import SlackStandIn

TAKEOVER = "10s"  # the least allowed: tries every 3.3 s, leads 3.3 s after taking it
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as stand_in:
        yield stand_in


def said(bot: BotProcess, run: int = 1) -> list[str]:
    """The leadership lines of one run, in order: LEADING, TAKING_OVER or STANDING_BY."""
    return [line for line in (
        next((w for w in (LEADING, TAKING_OVER, STANDING_BY) if w in text), "")
        for text in bot.output(run).splitlines()) if line]


def when(bot: BotProcess, what: str) -> datetime:
    """The time of the first log line saying ``what`` (the process's clock, UTC)."""
    for line in bot.output().splitlines():
        found = _STAMP.match(line)
        if what in line and found:
            return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(
                tzinfo=UTC)
    raise AssertionError(f"no line saying {what!r}:\n{bot.output()}")


def test_the_leader_killed_mid_escalation_the_other_carries_it_on_each_step_once(
    tmp_path: Path, slack: SlackStandIn, postgres_server: PostgresServer,
) -> None:
    url, policy = postgres_server.create_database(), minutely_policy(repeat=3)
    config = write_config(tmp_path / "perfbot.yaml", url, policy, takeover=TAKEOVER)
    tally = Tally.of(url, slack, policy)
    tally.read()  # the schema, before the bots open the database
    since = datetime.now(UTC)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with BotProcess(tmp_path / "a", slack, config, since=since) as a, \
            BotProcess(tmp_path / "b", slack, config, since=since) as b:
        starting = [Thread(target=bot.start) for bot in (a, b)]  # at once, as a rollout
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        wait_until("one replica leads", lambda: LEADING in a.output() + b.output())
        # Exactly one: it took the lock, waited out any earlier leader's lease, leads.
        assert sorted([said(a), said(b)]) == [[STANDING_BY], [TAKING_OVER, LEADING]]
        first, second = (a, b) if LEADING in said(a) else (b, a)

        def quiet() -> bool:
            """Some steps paged and marked, more to come, the next a while away: the
            middle of an escalation, nothing in flight."""
            now = first.now()
            due, upcoming = tally.due(now)
            return bool(due) and upcoming is not None and tally.sent_pages() == due and \
                not tally.unmarked_pages() and first.real_seconds(upcoming - now) > 0.2

        wait_until("a wait between two steps, nothing in flight", quiet, alive=first)
        sent_before = tally.sent_pages()
        assert sent_before < tally.due(FOREVER)[0]  # mid-escalation: more to come
        first.kill()
        killed = datetime.now(UTC)
        wait_until("the other replica leads", lambda: LEADING in second.output(),
                   alive=second)
        print(f"takeover: {(when(second, LEADING) - killed).total_seconds():.2f}s after "
              f"the kill (leader.takeover {TAKEOVER})")
        run_to_the_end(second, tally)
    assert said(second) == [STANDING_BY, TAKING_OVER, LEADING]
    assert tally.sent_pages() > sent_before  # the survivor sent the rest…
    assert_each_sent_once(tally)  # …and nobody sent any step twice, none is missing
    tally.close()


def test_a_second_perfbot_run_on_one_sqlite_file_refuses_to_start(
    tmp_path: Path, slack: SlackStandIn,
) -> None:
    url, policy = f"sqlite:///{tmp_path / 'perfbot.db'}", minutely_policy()
    config = write_config(tmp_path / "perfbot.yaml", url, policy)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with BotProcess(tmp_path / "a", slack, config) as first:
        first.start()
        second = BotProcess(tmp_path / "b", slack, config)
        assert second.exit_code() == 1
        assert "perfbot: another perfbot run is using the SQLite database" in \
            second.output()
        assert "SQLite is for one process" in second.output()
        assert "Traceback" not in second.output()
        assert first.running  # the first goes on as before
        assert first.stop() == 0
    # Once the first is gone, a new one starts on the same file.
    with BotProcess(tmp_path / "b", slack, config) as again:
        again.start()
        assert again.stop() == 0
