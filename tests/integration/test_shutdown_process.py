"""SIGTERM while a detection tick is stuck on a metrics server that hangs, with a real
``perfbot run`` process: two replicas on a real PostgreSQL, a real Prometheus behind a
fault proxy that trickles its answers (a cycle that would take minutes), an incident
paging one step a minute (a second at ``--speed 60``).

The stopped replica gives the lead up while its tick still hangs, exits within its bound
(``server.stop_within``) and says it cut the tick; the other replica leads and sends the
rest of the policy, each page once. Before: the stop waited for the tick without a bound
(here: the proxy's ten minutes), so the process did not exit within the test's deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.alerts.alertmanager import SOURCE
from bot.storage.leader import LEADING
from tests.bot_process import (
    BotProcess,
    Tally,
    minutely_policy,
    standin,
    wait_until,
    write_config,
)
from tests.fault_proxy import FaultProxy, Trickle
from tests.integration.test_alertmanager_replicas import port_of
from tests.integration.test_alertmanager_webhook import payload
from tests.integration.test_crash_safety import FOREVER, assert_each_sent_once
from tests.integration.test_observability_process import scrape, total
from tests.postgres_server import PostgresServer
from tests.prometheus_server import PrometheusServer
from tests.slack_standin import SlackStandIn

TOKEN = "am-token-shutdown-0123456789"
STOP_WITHIN = 5  # seconds: server.stop_within, short for the test (default 25 s)
MARGIN = 40  # seconds past the bound for the process to exit (a deadline, not a measurement)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as stand_in:
        yield stand_in


def test_sigterm_with_a_tick_stuck_on_prometheus_exits_within_the_bound_and_loses_nothing(
    tmp_path: Path, slack: SlackStandIn, postgres_server: PostgresServer,
    prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERFBOT_ALERTMANAGER_TOKEN", TOKEN)  # the processes inherit it
    url, policy = postgres_server.create_database(), minutely_policy(repeat=2)
    tally = Tally.of(url, slack, policy)
    tally.read()  # the schema, before the bots open the database
    since = datetime.now(UTC)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with FaultProxy(prometheus_server.url) as proxy:
        # Each call may take ten minutes: a slow server, not one that fails fast.
        metrics = {"backend": "prometheus",
                   "prometheus": {"url": proxy.url, "timeout": "1m", "deadline": "10m"}}
        config = write_config(tmp_path / "perfbot.yaml", url, policy, detection="1m",
                              takeover="10s", extra={
                                  "metrics": metrics,
                                  "server": {"listen": "127.0.0.1:0",
                                             "stop_within": f"{STOP_WITHIN}s"}})
        with BotProcess(tmp_path / "a", slack, config, since=since) as a, \
                BotProcess(tmp_path / "b", slack, config, since=since) as b:
            a.start()
            wait_until("a leads", lambda: LEADING in a.output(), alive=a)
            b.start()
            wait_until("a detected once", lambda: total(
                scrape(a), "perfbot_detection_cycle_seconds_count") >= 1, alive=a)
            # An alert: its post and pages are stored in the outbox, the pages due one a
            # second from now (its mapping reads the catalog: before the metrics hang).
            answer = httpx.post(f"http://127.0.0.1:{port_of(a)}/alertmanager",
                                json=payload(labels={"alertname": "Stuck", "service": "orders"}),
                                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            assert answer.status_code == 200, answer.text
            # From now on the metrics server trickles every answer: a's next cycle hangs.
            proxy.set("/api/v1/", Trickle(every=0.5, limit=600))
            wait_until("a's detection stuck on the metrics server", proxy.trickling.is_set,
                       alive=a)
            assert a.stop(timeout=STOP_WITHIN + MARGIN) == 0, a.output()
            proxy.clear()
            proxy.release()
            left = tally.expected() - set(tally.dms())
            assert left, "a sent the whole policy before its stop: nothing left to take over"
            stopped = a.output()
            assert "perfbot: leadership released" in stopped
            assert "cut the detect tick(s), still reading" in stopped
            # The lead went before the stuck tick was given up on, not after it.
            assert stopped.index("leadership released") < stopped.index("cut the detect")
            assert "perfbot: stopped" in stopped
            wait_until("b leads", lambda: LEADING in b.output(), timeout=60, alive=b)
            wait_until("every step of the policy paged", lambda: tally.complete() and
                       tally.store.pending(FOREVER) == [], alive=b)
            assert b.stop() == 0, b.output()
            assert left <= set(tally.dms())  # what a left, b sent
    assert [i.alert.source for i in tally.read()] == [SOURCE]  # one incident, not two
    assert_each_sent_once(tally)  # none lost, none twice, each when the policy had it due
    tally.close()
