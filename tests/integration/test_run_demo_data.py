"""``perfbot run --demo-data``: the real Slack bot on the embedded demo workload, whatever
``metrics.backend`` says, to try it in a workspace before Prometheus is connected. A real
process on the Slack stand-in, configured for a Prometheus that is not there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.bot_process import (
    AT,
    LOOP_ON,
    REPO,
    SECRET,
    minutely_policy,
    standin,
    wait_until,
    write_config,
)
from tests.slack_standin import TOKEN


def test_run_with_demo_data_detects_and_posts_from_the_demo_workload(tmp_path: Path) -> None:
    config = write_config(tmp_path / "perfbot.yaml", f"sqlite:///{tmp_path / 'perfbot.db'}",
                          minutely_policy(), detection="1h")
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    # Prometheus configured, at an address where nothing listens.
    settings["metrics"].update(backend="prometheus",
                               prometheus={"url": "http://127.0.0.1:9", "retries": 0})
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH"))
                                         if p)}
    log = tmp_path / "run.log"
    with standin() as slack, log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--demo-data", "--config", str(config),
             "--http", "0", "--host", "127.0.0.1", "--slack-api-url", slack.api_url,
             "--at", AT], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        try:
            def output() -> str:
                return log.read_text(encoding="utf-8", errors="replace")

            def running_or_said_why() -> bool:
                assert process.poll() is None, output()
                return LOOP_ON in output()
            wait_until("the loop on", running_or_said_why)

            def posted_in_orders() -> bool:
                return any(call.args["channel"] == "#orders" and "GET /api/orders/history"
                           in str(call.args.get("blocks"))
                           for call in slack.calls("chat.postMessage", delivered=True))
            wait_until("the missing index posted in #orders", posted_in_orders)
            time.sleep(0.5)  # a last tick's log lines
            assert "127.0.0.1:9" not in output()  # the configured Prometheus was never asked
        finally:
            process.send_signal(signal.SIGTERM)  # as docker stop: the bot exits 0
            code = process.wait(timeout=60)
    assert code == 0, output()
