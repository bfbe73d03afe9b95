"""``bot.db_url`` reads database URLs as SQLAlchemy does, without importing it: the settings
accept exactly the URLs the engine will accept, with the same parts."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from bot.db_url import masked, parse_url

# URLs built from the characters that matter to the grammar (separators, brackets, escapes)
# and a few ordinary ones, so that most are near misses of a valid URL.
PIECES = st.sampled_from(["postgresql+psycopg", "sqlite", "mysql", "bot", "s3cr", "db.example",
                          "5432", "x9", "perfbot", "%40", "%2F", "[::1]", "::1", "a b", "é"])
SEPARATORS = st.sampled_from(["://", ":", "@", "/", "//", "?", "&", "=", "[", "]", "#", "+",
                              "", "\n"])
URLS = st.lists(st.one_of(PIECES, SEPARATORS), max_size=12).map("".join)


@settings(max_examples=1500, deadline=None)
@given(URLS)
@example("postgresql+psycopg://bot:s3cr/etPW@db.example:notaport/perfbot")
@example("postgresql+psycopg://bot:s3cr/et:PW@[::1/perfbot")
@example("postgresql+psycopg://bot:s3cr/et@PW@db.example:99x/perfbot")
@example("postgresql+psycopg://a@b:pw@[::1]:5432/db?options=-c%20x&x=1&x=2")
@example("sqlite:///perfbot.db")
@example("sqlite://")
@example("sqlite:///:memory:")
@example("postgresql://host: 12/db")
@example("nonsense")
@example("postgresql+psycopg://host:/db")
def test_a_url_is_read_as_sqlalchemy_reads_it(url: str) -> None:
    try:
        theirs = make_url(url)
    except (ArgumentError, ValueError):
        with pytest.raises(ValueError):
            parse_url(url)
        return
    ours = parse_url(url)
    assert (ours.drivername, ours.username, ours.password, ours.host, ours.port,
            ours.database) == (theirs.drivername, theirs.username, theirs.password,
                               theirs.host, theirs.port, theirs.database)
    assert ours.backend == theirs.get_backend_name()
    assert {k for k, _ in ours.query} == set(theirs.query)


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://bot:s3cr/et@PW@db.example/perfbot",
     "postgresql+psycopg://bot:***@db.example/perfbot"),
    # A user name with "@" in it: the password is still the part after the last ":".
    ("postgresql+psycopg://a@b:s3cret@db.example/perfbot",
     "postgresql+psycopg://a@b:***@db.example/perfbot"),
    ("sqlite:///perfbot.db", "sqlite:///perfbot.db"),
])
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert masked(url) == shown
    assert "s3cr" not in masked(url)


@pytest.mark.parametrize(("url", "file"), [
    ("sqlite:///perfbot.db", "perfbot.db"),
    ("sqlite+pysqlite:////var/lib/perfbot/p.db", "/var/lib/perfbot/p.db"),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("sqlite:///file:p.db?mode=ro&uri=true", None),
    ("postgresql+psycopg://bot@db/perfbot", None),
])
def test_the_sqlite_file_of_a_url(url: str, file: str | None) -> None:
    assert parse_url(url).sqlite_file == file
