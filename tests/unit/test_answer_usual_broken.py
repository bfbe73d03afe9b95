"""New questions answered instead of help: "slower than usual" (against the detector's seasonal
baseline), "is anything broken right now" (SLOs missed, incidents open from a real SQLite
incident store), and a reading that changed the subject said in the headline."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.ask.answer import Sources, ask
from bot.incidents.lifecycle import recover
from bot.metrics.base import Window
from bot.metrics.demo import DemoBackend, DemoWorkload
from bot.render.message import AnswerKind
from bot.storage import Database
from bot.storage.incidents import IncidentStore
from tests.answer_support import seconds_in, sources_for
from tests.conftest import DEMO_END
from tests.incident_store_contract import opened

# Eight days of the demo ending three days after the order-history slowdown (the demo's
# incidents are placed relative to its end): the seasonal baseline still has four days before.
END = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
HISTORY = "GET /api/orders/history"


@pytest.fixture(scope="module")
def week() -> DemoBackend:
    return DemoBackend(DemoWorkload.generate(end=END, days=8, seed=7))


def _hourly_p95(backend: DemoBackend, end: datetime) -> float:
    """The hour's average 5-minute p95 of order history, read straight from the backend."""
    window = Window(start=end - timedelta(hours=1), end=end, step=timedelta(minutes=5),
                    rate_window=timedelta(minutes=5))
    frame = backend.latency(window, 0.95)
    column = next(c for c in frame.columns if c.endswith(HISTORY))
    values = frame[column].to_numpy(dtype=float)[1:]  # the steps after the hour's start
    return float(np.nanmean(values))


@pytest.mark.parametrize("text", [
    "is order history slower than usual?",
    "is GET /api/orders/history slower than normal",
    "is order history latency unusual",
    "order history p95 vs usual",
])
def test_slower_than_usual_is_measured_against_the_seasonal_baseline(
    text: str, week: DemoBackend
) -> None:
    reply = ask(text, sources_for(week), END)
    assert reply.kind is AnswerKind.ANSWER, (reply.headline, reply.notes)
    assert reply.headline.startswith(f"p95 of {HISTORY}, last 1h: "), reply.headline
    assert "above its usual" in reply.headline
    said = seconds_in(reply.headline.split(": ", 1)[1])
    assert said == pytest.approx(_hourly_p95(week, END), rel=0.05)
    # The usual level is what the same hour looked like before the slowdown (days before it).
    usual = seconds_in(reply.headline.split("usual level ", 1)[1])
    before = [_hourly_p95(week, END - timedelta(days=d)) for d in (4, 5, 6, 7)]
    assert min(before) * 0.8 <= usual <= max(before) * 1.2
    assert said > 2 * usual
    assert any("same time" in note for note in reply.notes)


def test_an_endpoint_at_its_usual_level_is_within_its_band(week: DemoBackend) -> None:
    reply = ask("is checkout slower than usual", sources_for(week), END)
    assert reply.kind is AnswerKind.ANSWER
    assert "within its usual" in reply.headline, reply.headline


def test_a_service_shows_each_endpoint_against_its_usual(week: DemoBackend) -> None:
    reply = ask("is the orders service slower than usual", sources_for(week), END)
    assert reply.table is not None
    assert reply.table.rows[0][0] == HISTORY and reply.table.rows[0][-1] == "above usual"
    assert {row[0] for row in reply.table.rows} == {
        "POST /api/orders", HISTORY, "GET /api/orders/{order_id}"}


def test_no_usual_level_without_earlier_days() -> None:
    backend = DemoBackend(DemoWorkload.generate(end=END, days=1, seed=7))
    reply = ask("is checkout slower than usual", sources_for(backend), END)
    assert reply.headline.startswith("No usual level yet for POST /api/checkout"), (
        reply.headline)


# --- is anything broken ---------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IncidentStore]:
    found = IncidentStore(Database(f"sqlite:///{tmp_path / 'perfbot.db'}"))
    yield found
    found.database.close()


@pytest.mark.parametrize("text", ["is anything broken right now", "is anything broken?",
                                  "what's broken", "any open incidents?"])
def test_anything_broken_lists_missed_slos_and_open_incidents(
    text: str, demo_backend: DemoBackend, store: IncidentStore
) -> None:
    open_one = opened(store, endpoint="GET /api/orders/history", now=DEMO_END - timedelta(hours=2))
    closed = opened(store, endpoint="POST /api/checkout", now=DEMO_END - timedelta(hours=5))
    store.change(closed.id, lambda i: recover(i, DEMO_END - timedelta(hours=4), "back"))
    base = sources_for(demo_backend)
    sources = Sources(backend=base.backend, catalog=base.catalog, tz=base.tz,
                      open_incidents=store.listed)
    reply = ask(text, sources, DEMO_END)
    assert reply.kind is AnswerKind.ANSWER, reply.headline
    assert f"1 incident open: #{open_one.id} {open_one.alert.title}" in reply.headline
    assert f"#{closed.id} " not in reply.headline  # resolved: not listed
    assert "missing an SLO" in reply.headline and HISTORY in reply.headline, reply.headline
    assert reply.table is not None
    assert (f"#{open_one.id}", "triggered") == reply.table.rows[-1][:2]


def test_anything_broken_says_when_it_could_not_look_at_incidents(
    demo_backend: DemoBackend
) -> None:
    reply = ask("is anything broken right now", sources_for(demo_backend), DEMO_END)
    assert "missing an SLO" in reply.headline
    assert any("none were checked" in note for note in reply.notes)


def test_nothing_broken_says_so(demo_backend: DemoBackend, store: IncidentStore) -> None:
    base = sources_for(demo_backend)
    sources = Sources(backend=base.backend, catalog=base.catalog.__class__(
        [e for e in base.catalog.entries if e.key == "GET /api/search"]), tz=base.tz,
        open_incidents=store.listed)
    reply = ask("is anything broken right now", sources, DEMO_END)
    assert reply.headline.startswith("Nothing broken that I can see — all 1 endpoints"), (
        reply.headline)
    assert "no incident open" in reply.headline


# --- a reading that changes the subject is in the headline ----------------------------------


def test_a_corrected_name_is_said_in_the_headline(demo_backend: DemoBackend) -> None:
    reply = ask("p95 of chekout yesterday", sources_for(demo_backend), DEMO_END)
    assert reply.headline.startswith("p95 of POST /api/checkout, yesterday: ")
    assert reply.headline.endswith("(read 'chekout' as POST /api/checkout)"), reply.headline
    plain = ask("p95 of checkout yesterday", sources_for(demo_backend), DEMO_END)
    assert "read '" not in plain.headline
    assert math.isfinite(seconds_in(plain.headline.split(": ", 1)[1]))
