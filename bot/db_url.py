"""Database URLs (``storage.url``) read without importing SQLAlchemy, and shown with their
password masked.

The settings validate ``storage.url`` at load, and every command loads the settings:
importing SQLAlchemy for that alone cost ``check-config`` and ``ask`` 0.2–0.4 s of start-up
(issue 13, "Fast commands"). The grammar is SQLAlchemy's own (``sqlalchemy.engine.url``,
2.x: the regular expression of ``_parse_url``, then ``int()`` of the port), so a URL is
accepted here exactly when ``sqlalchemy.make_url`` accepts it, with the same parts
(tests/unit/test_db_url.py checks both on generated URLs). The engine itself is still made
by SQLAlchemy (``bot.storage.database``), on first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

# SQLAlchemy's pattern, as it is: a URL must read the same here and there.
_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)
# ``scheme://user:`` then the password, up to the LAST ``@``: a password may hold ``/``, ``:``
# or ``@`` (unencoded), and masking too much beats showing part of it.
_PASSWORD = re.compile(r"(://[^:/@]*:)(.*)@", re.DOTALL)


@dataclass(frozen=True)
class DatabaseUrl:
    """The parts of a database URL, decoded as SQLAlchemy decodes them."""

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: tuple[tuple[str, str], ...]

    @property
    def backend(self) -> str:
        """``postgresql`` of ``postgresql+psycopg``: SQLAlchemy's ``get_backend_name()``."""
        return self.drivername.split("+", 1)[0]

    @property
    def sqlite_file(self) -> str | None:
        """The file of a SQLite URL; None for another database, an in-memory one or a
        ``file:`` URI (whose path SQLite reads itself)."""
        name = self.database
        if self.backend != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
            return None
        return name


def parse_url(url: str) -> DatabaseUrl:
    """``url``'s parts; ValueError (its message without the URL) when SQLAlchemy could not
    read it either."""
    found = _URL.match(url)
    if found is None:
        raise ValueError("not of the form DIALECT[+DRIVER]://[USER[:PASSWORD]@]HOST[:PORT]/DB")
    parts = found.groupdict()
    port = parts["port"]
    number: int | None = None
    if port is not None:  # SQLAlchemy: int() of what is there, even of "" ("host:/db")
        try:
            number = int(port)
        except ValueError:
            raise ValueError("the port is not a number") from None
    query = parts["query"]
    return DatabaseUrl(
        drivername=parts["name"],
        username=None if parts["username"] is None else unquote(parts["username"]),
        password=None if parts["password"] is None else unquote(parts["password"]),
        host=parts["ipv4host"] or parts["ipv6host"],
        port=number,
        database=None if parts["database"] is None else unquote(parts["database"]),
        query=tuple(parse_qsl(query)) if query is not None else (),
    )


def masked(url: str) -> str:
    """``url`` fit to show: its password, if any, as ``***``."""
    if _PASSWORD.search(url):
        return _PASSWORD.sub(r"\1***@", url, count=1)
    found = _URL.match(url)
    if found is None or found.group("password") is None:
        return url
    # A user name with ``@`` in it (``a@b:pw@host``): the pattern's own password part.
    return url[:found.start("password")] + "***" + url[found.end("password"):]


def raw_password(url: str) -> str | None:
    """The password as written in ``url`` (not decoded), to hide it from error texts."""
    found = _PASSWORD.search(url)
    return found.group(2) or None if found else None


def hidden(text: str, url: str) -> str:
    """``text`` (an error about ``url``) with the URL's password, as written, masked."""
    return hide(text, raw_password(url))


def hide(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text
