"""The Useful / Noise buttons on detection alerts, end to end: the real Bolt app is sent a
signed ``block_actions`` over HTTP, the answer lands in the real store (SQLite, and the
store on PostgreSQL too), and only then the message in the Slack stand-in says who marked
it. ``perfbot detect --feedback`` reads the noise rates back."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli import main
from bot.incidents.lifecycle import Incident
from bot.metrics.demo import DemoBackend
from bot.render.feedback import FEEDBACK_BLOCK, feedback_action_id
from bot.storage import Database
from bot.storage.feedback import FeedbackStore
from tests.incident_factory import incident as make_incident
from tests.slack_incidents import MEMBER, STRANGER, Served, perfbot_on, standin
from tests.slack_standin import SlackStandIn


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as running:
        yield running


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'perfbot.db'}"


@pytest.fixture
def served(database: str, demo_backend: DemoBackend, slack: SlackStandIn) -> Iterator[Served]:
    with Served(perfbot_on(database, demo_backend), slack) as bot:
        yield bot


def press(served: Served, user: str, verdict: str, incident: Incident,
          name: str | None = None) -> None:
    """``user`` presses Useful or Noise on the incident's message as it stands."""
    name = name or incident.name
    element = {"action_id": feedback_action_id(verdict, name), "block_id": FEEDBACK_BLOCK,
               "type": "button", "value": name, "action_ts": "1700000100.1"}
    body = served.actions_body(user, incident, element)
    assert served.send(body, "application/x-www-form-urlencoded").status_code == 200


def feedback_block(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    (block,) = [b for b in blocks if b.get("block_id") == FEEDBACK_BLOCK]
    return block


def test_noise_is_stored_with_the_alert_then_shown_on_its_message(
    served: Served, slack: SlackStandIn, database: str,
) -> None:
    opened = served.open()
    buttons = feedback_block(served.shown(opened)["blocks"])
    assert [e["text"]["text"] for e in buttons["elements"]] == ["Useful", "Noise"]
    press(served, MEMBER, "noise", opened)
    store = FeedbackStore(served.perfbot.database)
    assert store.answers(opened.id) == {MEMBER: "noise"}
    (rate,) = store.rates("service")
    assert (rate.name, rate.noise, rate.useful) == ("orders", 1, 0)
    (by_signal,) = store.rates("signal")
    assert by_signal.name == "latency"
    shown = feedback_block(served.shown(opened)["blocks"])
    assert shown["elements"][0]["text"] == f"Marked noise by <@{MEMBER}>"
    # A second answer of the same person replaces the first; another person's adds one.
    press(served, MEMBER, "useful", opened)
    press(served, STRANGER, "noise", opened)
    assert store.answers(opened.id) == {MEMBER: "useful", STRANGER: "noise"}
    with served.perfbot.database.reading("read") as connection:
        row = connection.execute(text("select signal, service, endpoint, evidence from "
                                      "feedback where \"user\" = :u"), {"u": STRANGER}).one()
    assert row[0:3] == ("latency", "orders", opened.alert.endpoint)
    assert json.loads(row[3])["cause"] == "a slow query"


def test_an_unknown_incident_records_nothing_and_says_so(
    served: Served, slack: SlackStandIn, database: str,
) -> None:
    opened = served.open()
    before = served.shown(opened)
    press(served, MEMBER, "noise", opened, name="INC-99")
    (told,) = slack.calls("chat.postEphemeral", delivered=True)
    assert "There is no incident `INC-99`: nothing was recorded." in told.args["text"]
    assert FeedbackStore(served.perfbot.database).rates("service") == []
    assert served.shown(opened) == before


def test_an_answer_that_cannot_be_stored_is_not_shown(
    served: Served, slack: SlackStandIn,
) -> None:
    opened = served.open()
    before = served.shown(opened)
    with served.perfbot.database.writing("break the store") as connection:
        connection.execute(text("drop table feedback"))  # every write of an answer fails
    press(served, MEMBER, "noise", opened)
    (told,) = slack.calls("chat.postEphemeral", delivered=True)
    assert "Nothing was recorded: the database is not answering" in told.args["text"]
    assert served.shown(opened) == before  # still the buttons: nothing claims it was marked


@pytest.fixture
def closing() -> Iterator[list[Database]]:
    """Databases closed at the end of the test."""
    opened: list[Database] = []
    yield opened
    for database in opened:
        database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.db'}"
    found: str = request.getfixturevalue("postgres_db")
    return found


def test_the_store_and_the_noise_rates_on_both_databases(
    url: str, tmp_path: Path, closing: list[Database],
) -> None:
    request_close = closing.append
    database = Database(url)
    request_close(database)
    store = FeedbackStore(database)
    one, two = make_incident(1), make_incident(2, service="search")
    at = one.opened_at + timedelta(minutes=5)
    store.record(one, "noise", "U1", at)
    store.record(one, "noise", "U2", at)
    store.record(two, "useful", "U1", at)
    with pytest.raises(ValueError, match="a verdict is useful or noise, got 'maybe'"):
        store.record(two, "maybe", "U2", at)  # type: ignore[arg-type]
    assert [(r.name, r.noise, r.useful) for r in store.rates("service")] == [
        ("orders", 2, 0), ("search", 0, 1)]
    (latency,) = store.rates("signal")
    assert latency.rate == pytest.approx(2 / 3)
    config = tmp_path / "perfbot.yaml"
    config.write_text(f"storage:\n  url: {url}\n")
    out = io.StringIO()
    assert main(["detect", "--feedback", "--config", str(config)], out=out) == 0
    text = out.getvalue()
    assert "Noise rate per signal:\n  latency" in text and "67% noise (2 of 3 answers)" in text
    assert "Noise rate per service:\n  orders" in text and "100% noise (2 of 2 answers)" in text
