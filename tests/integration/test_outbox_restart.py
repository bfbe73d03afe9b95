"""The outbox across a restart and a database outage, on the Slack stand-in: what Slack
already took is not sent again. A new ``Delivery`` on the same store is a restarted bot
(SIGKILLed: nothing of the old one's memory is left)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, insert

from bot.notify.outbox import Delivery
from bot.storage import Database, StorageError
from bot.storage.database import MIGRATIONS
from bot.storage.incidents import IncidentStore
from bot.storage.schema import outbox
from tests.integration.test_outbox_slack import DEFAULT, OWN, Setup, setup_for
from tests.slack_standin import SlackStandIn


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(channels={OWN: True, DEFAULT: True},
                      users={"U1": "Europe/Paris", "U2": "UTC"}) as standin:
        yield standin


@pytest.fixture
def bot(tmp_path: Path, slack: SlackStandIn) -> Iterator[Setup]:
    setup = setup_for(tmp_path, slack)
    yield setup
    setup.store.database.close()


def restarted(bot: Setup) -> Delivery:
    return Delivery(bot.store, bot.delivery.client, UTC, DEFAULT, bot.clock,
                    storm_threshold=5)


def dms(slack: SlackStandIn) -> list[str]:
    return sorted(c.args["channel"] for c in slack.calls("chat.postMessage", delivered=True)
                  if c.args["channel"].startswith("D"))


def test_a_page_whose_thread_line_waits_for_the_pace_dms_nobody_twice_after_a_restart(
    bot: Setup, slack: SlackStandIn,
) -> None:
    bot.fire(with_chart=False)
    bot.incidents.sweep(bot.clock.now())  # the first step pages U1 and U2 at once
    bot.deliver()  # the post, then both DMs; the page's thread line waits for the pace
    assert dms(slack) == ["DU1", "DU2"]
    (page,) = [item for item in bot.store.pending(bot.clock.now()) if item.effect.kind == "page"]
    assert page.sent_at is None  # not all of it is done: the thread line is to come
    # Killed here. The restarted bot posts the line and DMs nobody again.
    bot.delivery = restarted(bot)
    bot.drain()
    assert dms(slack) == ["DU1", "DU2"]
    assert [c.args["text"] for c in bot.posts(top=False)] == [
        ":rotating_light: Paged <@U1>, <@U2> (step 1, pass 1)"]


def test_a_page_half_sent_when_slack_failed_dms_only_the_rest_after_a_restart(
    bot: Setup, slack: SlackStandIn,
) -> None:
    bot.fire(with_chart=False)
    bot.deliver()  # the post first: the page's line then waits for no pace
    bot.incidents.sweep(bot.clock.advance(timedelta(seconds=5)))
    slack.fail("chat.postMessage", "fatal_error", where=lambda args: args["channel"] == "DU2")
    bot.deliver()
    assert dms(slack) == ["DU1"]  # U1's DM went out, U2's did not: the page waits to retry
    (page,) = [item for item in bot.store.outbox() if item.effect.kind == "page"]
    assert page.sent_at is None and page.attempts == 1
    # Killed before the retry. The restarted bot DMs U2 alone.
    bot.delivery = restarted(bot)
    bot.deliver(10)  # the retry's time
    bot.drain()
    assert dms(slack) == ["DU1", "DU2"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_of_the_last_version_keeps_its_outbox_and_gains_the_parts(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:

    url = (f"sqlite:///{tmp_path / 'old.db'}" if kind == "sqlite"
           else request.getfixturevalue("postgres_db"))
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:  # as the bot before this change left it
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.exec_driver_sql(
            "INSERT INTO outbox (key, incident_id, kind, payload, created_at, not_before, "
            "attempts, last_error) VALUES ('INC-1:0:0', 1, 'page', "
            "'{\"key\": \"INC-1:0:0\", \"kind\": \"page\"}', '2026-11-23 12:00:00', "
            "'2026-11-23 12:00:00', 0, '')")
    engine.dispose()
    store = IncidentStore(Database(url))
    (item,) = store.outbox()  # migrated on first use
    assert item.key == "INC-1:0:0" and item.done == frozenset()
    store.part_done(item.id, "U1")
    store.part_done(item.id, "U2")
    assert store.outbox()[0].done == {"U1", "U2"}
    with store.database.engine().begin() as connection:  # a new row gets its default
        connection.execute(insert(outbox).values(
            key="INC-1:0:1", incident_id=1, kind="page", payload=item.effect.model_dump_json(),
            created_at=item.created_at, not_before=item.created_at, attempts=0,
            last_error=""))
    assert store.outbox()[1].done == frozenset()
    store.database.close()


def fail_once(monkeypatch: pytest.MonkeyPatch, store: IncidentStore, method: str) -> None:
    """The store's ``method`` raises StorageError at its next call (the database went
    down, or another writer held its lock too long), then works again."""
    real = getattr(store, method)
    calls = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) == 1:
            raise StorageError("cannot write: OperationalError: database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, method, flaky)


def test_an_effect_slack_took_whose_mark_failed_is_marked_not_sent_again(
    bot: Setup, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot.fire(with_chart=False)
    bot.deliver()
    bot.incidents.sweep(bot.clock.advance(timedelta(seconds=5)))
    fail_once(monkeypatch, bot.store, "sent")
    with pytest.raises(StorageError):
        bot.deliver()  # the DMs and the line went out; marking the page sent failed
    assert dms(slack) == ["DU1", "DU2"] and len(bot.posts(top=False)) == 1
    bot.drain()
    assert dms(slack) == ["DU1", "DU2"] and len(bot.posts(top=False)) == 1
    assert bot.store.pending(bot.clock.now()) == []


def test_a_post_slack_took_whose_ts_could_not_be_stored_is_not_posted_again(
    bot: Setup, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = bot.fire(with_chart=False)
    fail_once(monkeypatch, bot.store, "change")
    with pytest.raises(StorageError):
        bot.deliver()  # posted; storing where (its ts) failed
    assert len(bot.posts(top=True)) == 1
    bot.drain()
    assert len(bot.posts(top=True)) == 1
    stored = bot.store.get(opened.id)  # where it is, stored once the store took it
    assert stored is not None and stored.message_ts is not None
    assert slack.message(OWN, stored.message_ts)["text"] == bot.posts(top=True)[0].args["text"]
